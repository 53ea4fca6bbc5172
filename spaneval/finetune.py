"""The fine-tuning loop shared by every task: plain PyTorch, readable top to bottom.

AdamW with linear warmup and decay, gradient clipping and accumulation, bf16 autocast on GPU
(float32 on CPU), DistributedDataParallel under torchrun, atomic checkpoints and exact resume.
The order of training examples is a pure function of (seed, step): step k uses positions
[k*B, (k+1)*B) of the concatenated per-epoch permutations, so a resumed run needs only the step.
The optimizer, schedule, precision rule and DDP wrapping are shared with pretraining
(spaneval/training_core.py).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from spaneval.config import check_ranges, option
from spaneval.distributed import DistInfo, barrier
from spaneval.errors import ConfigError, SpanevalError
from spaneval.progress import progress_bar
from spaneval.safe_state import load_state, save_state
from spaneval.training_core import (
    autocast,
    autocast_dtype,
    linear_warmup_decay,
    log,
    make_optimizer,
    read_checkpoint,
    rng_states,
    set_rng_states,
    wrap_for_training,
)

CHECKPOINT_FILE = "checkpoint.safetensors"  # weights, optimizer, scheduler, step, RNG states
BEST_MODEL_FILE = "best_model.safetensors"  # weights of the best evaluation so far
LEGACY_CHECKPOINT_FILE = "checkpoint.pt"  # pickles of older versions: refused, never loaded


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning hyperparameters shared by all tasks."""

    learning_rate: float = option(3e-5, "peak AdamW learning rate of the encoder", above=0, max=1)
    batch_size: int = option(
        32, "examples per optimizer step, over all processes and accumulation steps", min=1
    )
    epochs: float = option(2.0, "passes over the training examples (fractions allowed)", above=0)
    max_steps: int = option(0, "stop after this many optimizer steps (0: `epochs` decides)", min=0)
    warmup_ratio: float = option(0.1, "fraction of steps with linear learning-rate warmup", min=0, max=1)
    weight_decay: float = option(
        0.01, "AdamW weight decay (not applied to biases and LayerNorm)", min=0, max=1
    )
    adam_beta1: float = option(0.9, "AdamW beta1", min=0, below=1)
    adam_beta2: float = option(0.999, "AdamW beta2", min=0, below=1)
    adam_eps: float = option(1e-8, "AdamW epsilon", above=0, max=1)
    max_grad_norm: float = option(1.0, "gradient clipping norm (0: off)", min=0)
    grad_accum_steps: int = option(1, "micro-batches per optimizer step", min=1)
    cpu_micro_batch_tokens: int = option(
        2048,
        "on CPU, split micro-batches into forward/backward passes of at most this many padded tokens "
        "(0: never). Same mean-loss gradient, bounded memory: on CPU, attention with dropout keeps "
        "every layer's L x L scores for the backward pass (8 GB at 32 x 384 tokens for a 22M model)",
        min=0,
    )
    eval_batch_size: int = option(64, "examples per forward pass at prediction time", min=1)
    eval_every_steps: int = option(
        0, "evaluate every N steps and keep the best weights (0: only at the end)", min=0
    )
    checkpoint_every_steps: int = option(
        200, "resumable checkpoint every N steps (0: only at the end)", min=0
    )
    log_every_steps: int = option(10, "print a progress line every N steps", min=1)
    precision: Literal["auto", "fp32", "bf16"] = option("auto", "auto: bf16 autocast on GPU, float32 on CPU")
    compile: bool = option(False, "torch.compile the model (GPU)")
    group_by_length: bool = option(True, "batch examples of similar length (less padding; see batch_indices)")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class TrainSummary:
    steps: int
    examples_seen: int
    train_wall_s: float
    final_loss: float
    best_step: int | None = None
    best_metric: float | None = None
    losses: list[float] = field(default_factory=list)
    earlier_sessions_wall_s: float = 0.0  # wall time of interrupted sessions, up to their last checkpoint
    resumed_at_steps: list[int] = field(default_factory=list)


def total_steps(cfg: TrainConfig, n_examples: int) -> int:
    if cfg.max_steps > 0:
        return cfg.max_steps
    return math.ceil(cfg.epochs * n_examples / cfg.batch_size)


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, n_examples: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n_examples)


def random_batch(step: int, n_examples: int, batch_size: int, seed: int) -> np.ndarray:
    """Example indices of global batch `step`: positions [step*B, (step+1)*B) of the epoch permutations."""
    start = step * batch_size
    out, pos = [], start
    while pos < start + batch_size:
        epoch, offset = divmod(pos, n_examples)
        take = min(n_examples - offset, start + batch_size - pos)
        out.append(_epoch_permutation(seed, epoch, n_examples)[offset : offset + take])
        pos += take
    return np.concatenate(out)


LENGTH_GROUP_BATCHES = 50


def batch_indices(
    step: int, n_examples: int, batch_size: int, seed: int, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Global batch `step`. With `lengths`, batches are length-grouped: the examples of 50 consecutive
    random batches are sorted by length and re-cut, and the 50 new batches taken in random order.

    Each example is still seen once per epoch; the batch holds examples of similar length, so dynamic
    padding trims most of the padding (SQuAD at 384: mean padded length 363 -> 186 tokens).
    """
    if lengths is None:
        return random_batch(step, n_examples, batch_size, seed)
    group, position = divmod(step, LENGTH_GROUP_BATCHES)
    first = group * LENGTH_GROUP_BATCHES
    pool = np.concatenate(
        [random_batch(s, n_examples, batch_size, seed) for s in range(first, first + LENGTH_GROUP_BATCHES)]
    )
    by_length = pool[np.argsort(-lengths[pool], kind="stable")].reshape(LENGTH_GROUP_BATCHES, batch_size)
    order = np.random.default_rng([seed, 1, group]).permutation(LENGTH_GROUP_BATCHES)
    return by_length[order[position]]


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def finetune(
    model: torch.nn.Module,
    features: Sequence[dict],
    collate: Callable[[Sequence[dict]], dict],
    param_groups: list[dict],
    cfg: TrainConfig,
    *,
    dist: DistInfo,
    seed: int,
    checkpoint_dir: Path,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    resume: bool = False,
    lengths: np.ndarray | None = None,
    identity: dict[str, Any] | None = None,
    session_start: float | None = None,
) -> TrainSummary:
    """Train `model` in place on `features`; returns what happened. Best weights are loaded at the end.

    `identity` (run arguments, data and model fingerprints) is saved with each checkpoint; resuming
    with a different one is an error. `session_start` (time.perf_counter()) starts this session's
    wall clock; the checkpoint carries the total of earlier sessions, so wall times add up."""
    per_rank = per_rank_batch_size(cfg, dist.world_size)
    if not features:
        raise SpanevalError("no training features: the training data is empty")
    train_model = wrap_for_training(model, dist, cfg.compile)
    optimizer = make_optimizer(param_groups, (cfg.adam_beta1, cfg.adam_beta2), cfg.adam_eps)
    steps = total_steps(cfg, len(features))
    scheduler = linear_warmup_decay(optimizer, int(cfg.warmup_ratio * steps), steps)
    amp = autocast_dtype(cfg.precision, dist.device)

    state = {"step": 0, "best_metric": None, "best_step": None, "losses": [], "resumed_at_steps": []}
    state |= {"wall_s": 0.0, "train_wall_s": 0.0}  # totals of earlier sessions, up to their checkpoint
    ckpt = checkpoint_dir / CHECKPOINT_FILE
    if resume and (ckpt.is_file() or (checkpoint_dir / LEGACY_CHECKPOINT_FILE).is_file()):
        state = load_checkpoint(ckpt, model, optimizer, scheduler, identity)
        state["resumed_at_steps"].append(state["step"])
        log(dist, f"resumed from {ckpt} at step {state['step']}/{steps}")

    model.train()
    t0, loss_value, first_step = time.perf_counter(), float("nan"), state["step"]
    earlier = {"wall_s": state["wall_s"], "train_wall_s": state["train_wall_s"]}
    started = {"wall_s": t0 if session_start is None else session_start, "train_wall_s": t0}
    progress = progress_bar(steps, first_step, desc="fine-tuning", enabled=dist.is_main)
    while state["step"] < steps:
        step = state["step"]
        idx = batch_indices(
            step, len(features), cfg.batch_size, seed, lengths if cfg.group_by_length else None
        )
        mine = idx[
            dist.rank * per_rank * cfg.grad_accum_steps : (dist.rank + 1) * per_rank * cfg.grad_accum_steps
        ]
        micro_batches = _micro_batches(mine, per_rank, cfg, dist, lengths)
        loss_value = forward_backward(
            train_model, [[features[i] for i in mb] for mb in micro_batches], collate, dist, amp
        ).item()  # one host sync per step, not per micro-step
        if not math.isfinite(loss_value):
            raise SpanevalError(
                f"loss became {loss_value} at step {step}; the last good checkpoint is {ckpt} "
                "(lower learning_rate or check the data)"
            )
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] = step + 1
        state["losses"].append(_mean_over_ranks(loss_value, dist))
        if state["step"] % cfg.log_every_steps == 0 or state["step"] == steps:
            rate = (state["step"] - first_step) * cfg.batch_size / max(1e-9, time.perf_counter() - t0)
            loss_lr = {"loss": f"{state['losses'][-1]:.4f}", "lr": f"{scheduler.get_last_lr()[0]:.2e}"}
            progress.set_postfix(**loss_lr, ex_s=f"{rate:.1f}")
        progress.update(1)
        if evaluate is not None and cfg.eval_every_steps and state["step"] % cfg.eval_every_steps == 0:
            _evaluate_and_keep_best(model, evaluate, state, checkpoint_dir, dist)
        if state["step"] == steps or (
            cfg.checkpoint_every_steps and state["step"] % cfg.checkpoint_every_steps == 0
        ):
            state |= {k: earlier[k] + time.perf_counter() - started[k] for k in earlier}
            save_checkpoint(ckpt, model, optimizer, scheduler, state, dist, identity)
    progress.close()

    if state["best_step"] is not None and (checkpoint_dir / BEST_MODEL_FILE).is_file():
        model.load_state_dict(load_state(checkpoint_dir / BEST_MODEL_FILE))
        log(dist, f"loaded the best weights (step {state['best_step']}, metric {state['best_metric']:.3f})")
    return TrainSummary(
        steps=state["step"],
        examples_seen=state["step"] * cfg.batch_size,
        train_wall_s=earlier["train_wall_s"] + time.perf_counter() - t0,
        final_loss=state["losses"][-1] if state["losses"] else loss_value,
        best_step=state["best_step"],
        best_metric=state["best_metric"],
        losses=list(state["losses"]),
        earlier_sessions_wall_s=earlier["wall_s"],
        resumed_at_steps=list(state["resumed_at_steps"]),
    )


def per_rank_batch_size(cfg: TrainConfig, world_size: int) -> int:
    """Examples per micro-batch on one process; ConfigError unless batch_size splits evenly."""
    per_rank = cfg.batch_size // (world_size * cfg.grad_accum_steps)
    if per_rank * world_size * cfg.grad_accum_steps != cfg.batch_size or per_rank == 0:
        raise ConfigError(
            f"batch_size={cfg.batch_size} must be a multiple of processes ({world_size}) x "
            f"grad_accum_steps ({cfg.grad_accum_steps})"
        )
    return per_rank


def _micro_batches(mine: np.ndarray, per_rank: int, cfg: TrainConfig, dist: DistInfo, lengths) -> list:
    """This rank's examples of one step as micro-batches: `grad_accum_steps` of them, each split
    into `token_chunks` on CPU."""
    micro_batches = [mine[m * per_rank : (m + 1) * per_rank] for m in range(cfg.grad_accum_steps)]
    if dist.device.type != "cpu" or cfg.cpu_micro_batch_tokens <= 0 or lengths is None:
        return micro_batches
    return [piece for mb in micro_batches for piece in token_chunks(mb, lengths, cfg.cpu_micro_batch_tokens)]


def token_chunks(indices: np.ndarray, lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Consecutive pieces of `indices` whose padded size (examples x longest length, as dynamic
    padding pads them) is at most `max_tokens`; a piece holds one example at least."""
    pieces, start, longest = [], 0, 0
    for i, index in enumerate(indices):
        grown = max(longest, int(lengths[index]))
        if i > start and (i - start + 1) * grown > max_tokens:
            pieces.append(indices[start:i])
            start, grown = i, int(lengths[index])
        longest = grown
    pieces.append(indices[start:])
    return pieces


def forward_backward(
    train_model, micro_batches: list[list[dict]], collate, dist: DistInfo, amp
) -> torch.Tensor:
    """Accumulate gradients over the micro-batches (DDP syncs on the last only); the mean loss, still
    on the device (one host sync per optimizer step, not per micro-step).

    Each micro-batch's mean loss is weighted by its share of the examples, so unequal pieces (see
    `token_chunks`) give the gradient of the whole batch's mean loss."""
    total, n_examples = torch.zeros((), device=dist.device), sum(len(chunk) for chunk in micro_batches)
    for micro, chunk in enumerate(micro_batches):
        batch = to_device(collate(chunk), dist.device)
        last = micro == len(micro_batches) - 1
        sync = train_model.no_sync() if (dist.world_size > 1 and not last) else contextlib.nullcontext()
        with sync, autocast(dist.device, amp):
            loss = train_model(**batch)["loss"] * (len(chunk) / n_examples)
            loss.backward()
        total += loss.detach().float()
    return total


def _mean_over_ranks(value: float, dist: DistInfo) -> float:
    if dist.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=dist.device)
    torch.distributed.all_reduce(t)
    return float(t.item()) / dist.world_size


def _evaluate_and_keep_best(model, evaluate, state: dict, checkpoint_dir: Path, dist: DistInfo) -> None:
    """Rank 0 evaluates; a better score writes best_model.pt atomically. Other ranks wait."""
    if dist.is_main:
        model.eval()
        metric = float(evaluate(model))
        model.train()
        log(dist, f"eval at step {state['step']}: {metric:.3f}")
        if state["best_metric"] is None or metric > state["best_metric"]:
            state["best_metric"], state["best_step"] = metric, state["step"]
            save_state(checkpoint_dir / BEST_MODEL_FILE, model.state_dict())
    if dist.world_size > 1:
        shared = [state["best_metric"], state["best_step"]]
        torch.distributed.broadcast_object_list(shared, src=0)
        state["best_metric"], state["best_step"] = shared
    barrier()


def save_checkpoint(
    path: Path, model, optimizer, scheduler, state: dict, dist: DistInfo, identity: dict | None = None
) -> None:
    """Everything needed to continue exactly: weights, optimizer, scheduler, step, every RNG state,
    as tensors plus JSON (spaneval.safe_state: loading it runs no code)."""
    if dist.is_main:
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": state,
            "rng": rng_states(),
            "identity": identity,
        }
        save_state(path, payload)
    barrier()


def load_checkpoint(path: Path, model, optimizer, scheduler, identity: dict | None = None) -> dict:
    payload = read_checkpoint(path, LEGACY_CHECKPOINT_FILE)
    if identity is not None:
        check_same_identity(path, payload.get("identity") or {}, identity)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    set_rng_states(payload["rng"])
    return payload["state"]


def check_same_identity(path: Path, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """A resumed run must continue with the arguments, data and model it started with; otherwise its
    record would claim settings the first steps were not trained with."""
    changed = sorted(k for k in now.keys() | saved.keys() if saved.get(k) != now.get(k))
    if changed:
        details = "; ".join(f"{k}: saved {saved.get(k)!r}, now {now.get(k)!r}" for k in changed)
        raise ConfigError(
            f"checkpoint {path} was written for other inputs ({details}); restore them to resume, "
            "or start a new run"
        )


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    features: Sequence[dict],
    collate: Callable,
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Forward passes over `features` in order; every tensor output moved to numpy (float32)."""
    model.eval()
    amp = autocast_dtype(precision, device)
    outputs = []
    n_batches = math.ceil(len(features) / batch_size)
    progress = progress_bar(n_batches, desc="predicting", unit="batch", enabled=show_progress)
    for b, start in enumerate(range(0, len(features), batch_size)):
        chunk = [features[i] for i in range(start, min(start + batch_size, len(features)))]
        batch = to_device(collate(chunk), device)
        with autocast(device, amp):
            out = model(**batch)
        outputs.append({k: _to_numpy(v) for k, v in out.items() if k != "loss"})
        if (b + 1) % max(1, n_batches // 10) == 0 or b + 1 == n_batches:  # about ten lines in a log file
            progress.set_postfix(features=min(start + batch_size, len(features)))
        progress.update(1)
    progress.close()
    return outputs


def _to_numpy(value: Any) -> Any:
    if torch.is_tensor(value):
        value = value.detach()
        return (value.float() if value.is_floating_point() else value).cpu().numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return value
