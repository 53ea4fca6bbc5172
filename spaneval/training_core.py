"""What the fine-tuning loop (spaneval/finetune.py) and the pretraining loop (pretrain/train.py) share.

Building blocks with plain arguments, never a config object (torchtune's rule), so each loop reads
its own config and says what it passes: AdamW parameter groups and the optimizer, the linear
warmup/decay schedule, the precision rule, DDP wrapping, the log line, and what exact resume needs
(every RNG state, and reading a checkpoint file safely).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spaneval.distributed import DistInfo
from spaneval.errors import SpanevalError
from spaneval.safe_state import CorruptCheckpointError, load_state

# Devices with fused AdamW kernels from torch 2.4 (pyproject's floor) on.
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def default_param_groups(model: Any, learning_rate: float, weight_decay: float) -> list[dict]:
    """AdamW groups as BERT does: no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm_or_bias = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        (no_decay if is_norm_or_bias else decay).append(param)
    return [
        {"params": decay, "lr": learning_rate, "weight_decay": weight_decay},
        {"params": no_decay, "lr": learning_rate, "weight_decay": 0.0},
    ]


def make_optimizer(param_groups: list[dict], betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    """AdamW over `param_groups` (each with its lr and weight decay), fused where the device allows:
    one kernel per step instead of a Python loop over parameters."""
    devices = {p.device.type for group in param_groups for p in group["params"]}
    fused = devices <= set(FUSED_ADAMW_DEVICES)
    # None, not False, elsewhere: torch then picks its multi-tensor (foreach) implementation.
    return torch.optim.AdamW(param_groups, betas=betas, eps=eps, fused=fused or None)


def linear_warmup_decay(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup and decay: the peak rate times (step + 1) / warmup_steps while warming up, then
    linearly down to 0 at total_steps.

    The first step already learns (rate peak / warmup_steps). BERT's TF code and transformers'
    `get_linear_schedule_with_warmup` use step / warmup_steps, so their first step has rate 0, and
    the Trainer rounds warmup_ratio * steps up where `finetune` rounds it down: the same curve one
    step earlier (`bench qa-parity` lists it among the two recipes' differences)."""

    # A plain function, not a callable object: LambdaLR then keeps none of it in its state dict,
    # so checkpoints hold only the step and the rates.
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast when asked for, or on GPU under "auto"; None means float32."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to `dtype` on `device`; switched off (float32) for None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def wrap_for_training(model: torch.nn.Module, dist: DistInfo, compile_model: bool = False) -> torch.nn.Module:
    """The module the forward pass calls: `model` on the run's device, DDP-wrapped under torchrun,
    compiled if asked. The bare `model` stays what checkpoints and gradient clipping see."""
    model.to(dist.device)
    train_model = model
    if dist.world_size > 1:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(train_model) if compile_model else train_model


def log(dist: DistInfo, message: str, tag: str = "spaneval") -> None:
    """A line from the main process only. Progress and diagnostics go to stderr, so stdout holds
    only results (tables, JSON)."""
    if dist.is_main:
        print(f"[{tag}] {message}", file=sys.stderr, flush=True)


def rng_states() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def read_checkpoint(path: Path, legacy_name: str) -> dict:
    """The payload of a checkpoint file, or one clear error: a pickle from an older spaneval is
    refused unread (unpickling runs code), a damaged file names the way out."""
    legacy = path.with_name(legacy_name)
    if not path.is_file() and legacy.is_file():
        raise SpanevalError(
            f"checkpoint {legacy} is a pickle (from an older spaneval, or planted); it is not "
            "loaded because unpickling can run code; delete it to restart from step 0"
        )
    corrupt = f"checkpoint {path} is corrupt; delete it to restart from step 0"
    try:
        payload = load_state(path)
    except CorruptCheckpointError as err:
        raise SpanevalError(f"{corrupt} ({err})") from None
    if not isinstance(payload, dict) or not {"model", "optimizer", "scheduler"} <= payload.keys():
        raise SpanevalError(f"{corrupt} (fields missing)")
    return payload
