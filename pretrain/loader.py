"""Pretraining data: the tokenizer, the token shards and this rank's masked micro-batches on the device.

The shards are built once (rank 0 first, the others reuse them); each rank then reads its own
disjoint part of them through a BlockStream, and a BatchLoader prepares the next micro-batch on
the CPU while the device runs the current one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spaneval.distributed import DistInfo, barrier
from spaneval.models import ResolvedModel, bundled_tokenizer, load_tokenizer
from spaneval.pretrain.corpus import build_shards
from spaneval.pretrain.targets import gather_targets

# The BlockStream batch keys the encoder takes as keyword arguments (packed rows add the last two).
ENCODER_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "nsp_labels",
    "position_ids",
    "segment_ids",
)


def load_pretraining_tokenizer(init: ResolvedModel | None) -> Any:
    """The init model's own tokenizer (cased models kept cased), else the bundled BERT cased vocabulary."""
    tokenizer_files = ("vocab.txt", "tokenizer.json")
    if init is None or not any((init.path / name).is_file() for name in tokenizer_files):
        return bundled_tokenizer()
    return load_tokenizer(init)


def build_shards_once(corpus: str, tokenizer: Any, cache_dir: Path, dist: DistInfo) -> Any:
    """Token shards of `corpus` in `cache_dir`, built by rank 0 while the others wait, then opened by all."""
    if dist.is_main:
        shards = build_shards(corpus, tokenizer, cache_dir)
    barrier()
    if not dist.is_main:
        shards = build_shards(corpus, tokenizer, cache_dir)
    return shards


@dataclass
class DeviceBatch:
    """One micro-batch ready for the model."""

    inputs: dict[str, Any]  # model keyword arguments, on the device (targets: a dict of tensors)
    n_tokens: int  # non-padding tokens
    tokens: torch.Tensor  # the same count, as a 0-d tensor on the device (summed there, read at log points)
    digest: bytes  # sha256 of the (masked) input ids, for the per-rank data digest


def prepare_batch(
    raw: dict[str, Any], device: torch.device, sbo_max_targets: int | None, slots: int | None
) -> DeviceBatch:
    """Move a BlockStream batch to `device`, with its MLM / SBO targets found on the CPU.

    sbo_max_targets: None when the model has no SBO head. slots: pad the targets to this fixed
    count (pretrain/targets.py), for compiled models.
    """
    cpu = {k: torch.as_tensor(v).long() for k, v in raw.items()}
    mask = cpu["attention_mask"]
    n_tokens = int(mask.sum())
    digest = hashlib.sha256(cpu["input_ids"].numpy().tobytes()).digest()
    inputs: dict[str, Any] = {k: cpu[k] for k in ENCODER_INPUTS if k in cpu}
    full = bool(mask.all())
    if full and "segment_ids" in cpu and not cpu["segment_ids"].any():
        # Packed, but every row one full block: the default positions and no mask at all.
        del inputs["segment_ids"], inputs["position_ids"]
    if "segment_ids" in inputs or full:
        # Packed rows: the model builds their block-diagonal mask. Full blocks: SDPA's unmasked
        # (fastest) kernels, and no check of the mask on the device by transformers.
        del inputs["attention_mask"]
    sbo = {k: cpu[k] for k in ("sbo_left", "sbo_right", "sbo_pos")} if sbo_max_targets else {}
    targets = gather_targets(
        cpu["mlm_labels"], sbo.get("sbo_left"), sbo.get("sbo_right"), sbo.get("sbo_pos"),
        sbo_max_targets or 0, slots,
    )  # fmt: skip
    tokens = torch.tensor(n_tokens, dtype=torch.float32)
    inputs = {k: _to_device(v, device) for k, v in inputs.items()}
    inputs["targets"] = {k: _to_device(v, device) for k, v in targets.items()}
    return DeviceBatch(inputs, n_tokens, _to_device(tokens, device), digest)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Pinned and non-blocking on a GPU: the copy overlaps the step that is still running."""
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


class BatchLoader:
    """Micro-batches on the device, the next one prepared while the device runs the current one.

    `state_dict()` is the position of the first batch not yet taken, so a checkpoint never skips
    the batch that was prepared ahead.
    """

    def __init__(
        self, stream: Any, device: torch.device, sbo_max_targets: int | None, slots: int | None = None
    ):
        self.stream, self.device = stream, device
        self.sbo_max_targets, self.slots = sbo_max_targets, slots
        self._pending: DeviceBatch | None = None
        self._pending_position: dict[str, Any] | None = None

    def refill(self) -> None:
        if self._pending is None:
            self._pending_position = self.stream.state_dict()
            raw = next(self.stream)
            self._pending = prepare_batch(raw, self.device, self.sbo_max_targets, self.slots)

    def take(self) -> DeviceBatch:
        self.refill()
        batch, self._pending = self._pending, None
        return batch

    def state_dict(self) -> dict[str, Any]:
        return self._pending_position if self._pending is not None else self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = None
        self.stream.load_state_dict(state)
