"""The positions the MLM and SBO heads predict, as flat index vectors of a fixed length.

The loader finds them on the CPU (the device never waits for a nonzero()) and pads them to a
fixed number of slots per micro-batch: the number of masked tokens changes from batch to batch,
and with it every shape after the encoder, so torch.compile would otherwise recompile (or fall
back to dynamic shapes) at every new count. Padding slots point at flat position 0 (a [CLS]
token, never a target) and carry the label IGNORE, so they add nothing to the losses.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spaneval.pretrain.heads import sbo_targets
from spaneval.pretrain.vocab_loss import IGNORE

# Masking keeps each row within one span of its budget (pretrain/masking.py, step 3), so a batch's
# target count stays close to mask_ratio x tokens; 10% headroom covers it at base size (a batch of
# 32 x 512 tokens has ~2,450 targets with a spread of a few dozen).
_HEADROOM = 1.10
_SLOT_MULTIPLE = 64  # matrix-friendly sizes


def target_slots(micro_batch_size: int, seq_len: int, mask_ratio: float) -> int:
    """Slots for the MLM (and SBO) targets of one micro-batch: mask_ratio x tokens, with headroom."""
    return _round_up(math.ceil(mask_ratio * micro_batch_size * seq_len * _HEADROOM), _SLOT_MULTIPLE)


def gather_targets(
    mlm_labels: Tensor,
    sbo_left: Tensor | None,
    sbo_right: Tensor | None,
    sbo_pos: Tensor | None,
    sbo_max_targets: int,
    slots: int | None = None,
) -> dict[str, Tensor]:
    """Flat target indices and labels, padded to `slots` (None: exactly as many as there are).

    mlm_labels, sbo_*: [B, L]. Returns mlm_index, mlm_label [M] and, with sbo_pos, sbo_left,
    sbo_right (flat indices of the boundary tokens x_{s-1}, x_{e+1}), sbo_rel (position in the
    span) and sbo_label [N]. A batch with more targets than `slots` gets the next multiple of
    64 (one more compiled shape, rare by construction of `target_slots`).
    """
    seq_len = mlm_labels.shape[1]
    flat_labels = mlm_labels.reshape(-1)
    mlm_index = (flat_labels != IGNORE).nonzero().squeeze(1)
    out = {"mlm_index": mlm_index, "mlm_label": flat_labels[mlm_index]}
    if sbo_pos is not None and sbo_left is not None and sbo_right is not None:
        index = sbo_targets(sbo_pos, sbo_max_targets)
        row_start = (index // seq_len) * seq_len  # [N] flat index of each target's row start
        out["sbo_left"] = row_start + sbo_left.reshape(-1)[index]
        out["sbo_right"] = row_start + sbo_right.reshape(-1)[index]
        out["sbo_rel"] = sbo_pos.reshape(-1)[index]
        out["sbo_label"] = flat_labels[index]
    if slots is None:
        return out
    size = max(slots, _round_up(len(mlm_index), _SLOT_MULTIPLE))  # SBO targets are a subset of MLM's
    return {key: _pad(value, size, IGNORE if key.endswith("label") else 0) for key, value in out.items()}


def _pad(values: Tensor, size: int, fill: int) -> Tensor:
    padded = torch.full((size,), fill, dtype=values.dtype)
    padded[: len(values)] = values
    return padded


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple
