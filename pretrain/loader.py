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
from spaneval.pretrain.heads import sbo_targets
from spaneval.pretrain.model import IGNORE

# The BlockStream batch keys the model takes as keyword arguments.
MODEL_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "mlm_labels",
    "sbo_left",
    "sbo_right",
    "sbo_pos",
    "nsp_labels",
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

    inputs: dict[str, torch.Tensor | None]  # model keyword arguments, on the device
    n_tokens: int  # non-padding tokens
    digest: bytes  # sha256 of the (masked) input ids, for the per-rank data digest


def prepare_batch(raw: dict[str, Any], device: torch.device, sbo_max_targets: int) -> DeviceBatch:
    """Move a BlockStream batch to `device`, with its MLM / SBO target indices found on the CPU."""
    batch: dict[str, torch.Tensor | None] = {
        k: torch.as_tensor(raw[k]).long() for k in MODEL_INPUTS if k in raw
    }
    mask = batch["attention_mask"]
    n_tokens = int(mask.sum())
    digest = hashlib.sha256(batch["input_ids"].numpy().tobytes()).digest()
    if bool(mask.all()):
        batch["attention_mask"] = None  # full blocks: SDPA's unmasked (fastest) kernels
    # Target indices found here, on the CPU: the forward pass never waits on the GPU for a nonzero().
    batch["mlm_index"] = (batch["mlm_labels"].reshape(-1) != IGNORE).nonzero().squeeze(1)
    if "sbo_pos" in batch:
        batch["sbo_index"] = sbo_targets(batch["sbo_pos"], sbo_max_targets)
    pin = device.type == "cuda"
    inputs = {
        k: None if v is None else (v.pin_memory() if pin else v).to(device, non_blocking=True)
        for k, v in batch.items()
    }
    return DeviceBatch(inputs, n_tokens, digest)


class BatchLoader:
    """Micro-batches on the device, the next one prepared while the device runs the current one.

    `state_dict()` is the position of the first batch not yet taken, so a checkpoint never skips
    the batch that was prepared ahead.
    """

    def __init__(self, stream: Any, device: torch.device, sbo_max_targets: int):
        self.stream, self.device, self.sbo_max_targets = stream, device, sbo_max_targets
        self._pending: DeviceBatch | None = None
        self._pending_position: dict[str, Any] | None = None

    def refill(self) -> None:
        if self._pending is None:
            self._pending_position = self.stream.state_dict()
            self._pending = prepare_batch(next(self.stream), self.device, self.sbo_max_targets)

    def take(self) -> DeviceBatch:
        self.refill()
        batch, self._pending = self._pending, None
        return batch

    def state_dict(self) -> dict[str, Any]:
        return self._pending_position if self._pending is not None else self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = None
        self.stream.load_state_dict(state)
