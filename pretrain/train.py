"""The pretraining loop: plain PyTorch, readable top to bottom.

    python -m spaneval pretrain --objective spanbert --preset tiny --corpus DIR --output OUT [key=value ...]
    torchrun --nproc_per_node=8 -m spaneval pretrain --objective spanbert --preset base ...

One process or many (DDP under torchrun: gloo on CPU, nccl on GPU), bf16 autocast + SDPA + fused
AdamW (+ optional torch.compile) on GPU, float32 on CPU, gradient accumulation up to the global
batch. OUT gets `checkpoint/` (model, optimizer, scheduler, step, every rank's data position and
RNG states; written atomically), `metrics.jsonl` (one row per step), `tensorboard/`, and at the
end `model/` (a save_pretrained directory) and `train_summary.json` (per-rank data digests and
weight hashes: ranks must have seen different data and must end with identical weights).
What each config field builds (data, masking, model, optimizer, schedule, accumulation):
pretrain/components.py; the optimizer, schedule, precision and DDP pieces it shares with fine-tuning:
spaneval/training_core.py; data and batches: pretrain/loader.py; checkpoint/trainer.safetensors and
train_summary.json: pretrain/checkpoint.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spaneval.atomic import output_lock
from spaneval.config import parse_overrides, to_dict
from spaneval.distributed import DistInfo, barrier, init_distributed, shutdown_distributed
from spaneval.errors import ConfigError, SpanevalError
from spaneval.models import ResolvedModel, resolve_model
from spaneval.pretrain import components
from spaneval.pretrain.checkpoint import (
    RunState,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_summary,
)
from spaneval.pretrain.corpus import BUNDLED_CORPUS
from spaneval.pretrain.loader import BatchLoader, build_shards_once, load_pretraining_tokenizer
from spaneval.pretrain.model import save_pretrained
from spaneval.pretrain.objectives import Objective, get_objective
from spaneval.pretrain.presets import PretrainConfig, resolve_config, weight_decay_value
from spaneval.pretrain.step_stats import LOSS_NAMES, StepRecord, StepStats
from spaneval.progress import progress_bar
from spaneval.training_core import autocast, autocast_dtype, log, wrap_for_training

LOG_TAG = "spaneval pretrain"  # tells these lines from fine-tuning's in one log (the quickstart runs both)


class TrainingDivergedError(SpanevalError):
    """The loss or the gradient became NaN or infinite (found at the next log point or checkpoint);
    the last good checkpoint is kept."""


def pretrain(
    objective: str,
    preset: str,
    corpus: str | None,
    output: str,
    overrides: dict[str, str],
    init: str | None = None,
    resume: bool = False,
) -> Path:
    """Pretrain `objective` with `preset` (+ overrides) on `corpus`; returns OUTPUT/model.

    corpus: text files, a directory of them, or a `datasets` text data set (None: the bundled
    sample). init: continue from a save_pretrained directory or a registered model name.
    resume: continue the checkpoint in OUTPUT exactly where it stopped.
    """
    corpus = corpus or str(BUNDLED_CORPUS)
    obj = get_objective(objective)
    cfg = resolve_config(preset, overrides)
    dist = init_distributed()
    threads = torch.get_num_threads()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    # One pretraining per output directory: a second one would interleave metrics.jsonl and checkpoints.
    lock = output_lock(output, "pretrain") if dist.is_main else contextlib.nullcontext()
    try:
        with lock:
            model_dir = _pretrain(obj, preset, cfg, corpus, Path(output), init, resume, dist)
    except BaseException:
        # No barrier here: another rank may already be gone. Ranks fail together on divergence
        # because every rank checks the same all-reduced loss.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    finally:
        torch.set_num_threads(threads)
    shutdown_distributed()
    return model_dir


@dataclass
class Trainer:
    """What one optimizer step works with (built by `_build_trainer`)."""

    model: torch.nn.Module  # the bare model: its state dict is what checkpoints and clipping see
    train_model: torch.nn.Module  # what the forward pass calls: `model` wrapped in DDP under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loader: BatchLoader
    accum: int  # micro-batches per optimizer step
    amp_dtype: torch.dtype | None  # bf16 autocast, or None for float32


def _pretrain(
    obj: Objective,
    preset: str,
    cfg: PretrainConfig,
    corpus: str,
    out: Path,
    init: str | None,
    resume: bool,
    dist: DistInfo,
) -> Path:
    started = time.perf_counter()
    ckpt_dir = out / "checkpoint"
    if has_checkpoint(ckpt_dir) and not resume:
        raise ConfigError(
            f"{out} already holds a checkpoint: pass --resume to continue it, or a new --output"
        )

    # Data: tokenise once into shards (rank 0 first; the others reuse them), then this rank's blocks.
    init_model = resolve_init(init)
    init_dir = init_model.path if init_model else None
    tokenizer = load_pretraining_tokenizer(init_model)
    shards = build_shards_once(corpus, tokenizer, components.shard_cache_dir(cfg), dist)
    loader = components.build_loader(shards, tokenizer, obj, cfg, dist)

    # Model, optimizer, schedule, restored from the checkpoint when resuming.
    trainer, state = _build_trainer(obj, cfg, tokenizer, init_dir, loader, ckpt_dir, resume, dist)
    metrics = MetricsLog(out, dist, keep_until_step=state.step, tensorboard=cfg.tensorboard)
    log(
        dist,
        f"{obj.name}: {n_params(trainer.model) / 1e6:.1f}M parameters, "
        f"{trainer.accum} micro-batches/step, {dist.device}",
        LOG_TAG,
    )

    # The loop: one optimizer step per iteration.
    _train_loop(trainer, state, metrics, obj, cfg, ckpt_dir, dist, started)

    # Output: a Hugging Face directory with tokenizer and model card, and the per-rank summary.
    info = _card_info(obj, preset, cfg, corpus, shards, state, init, dist)
    model_dir = out / "model"
    write_summary(out, trainer.model, state, dist)
    if dist.is_main:
        save_pretrained(trainer.model, tokenizer, model_dir, info)
        log(dist, f"saved {model_dir} ({state.step} steps, {state.tokens_seen:,} tokens)", LOG_TAG)
    barrier()
    return model_dir


def _build_trainer(
    obj: Objective,
    cfg: PretrainConfig,
    tokenizer: Any,
    init_dir: Path | None,
    loader: BatchLoader,
    ckpt_dir: Path,
    resume: bool,
    dist: DistInfo,
) -> tuple[Trainer, RunState]:
    """Model, optimizer and schedule, and the run state: fresh, or restored from `ckpt_dir`."""
    device = dist.device
    # Same seed on every rank: identical initial weights.
    torch.manual_seed(cfg.seed)
    model, heads = components.initial_model(cfg, obj, tokenizer, init_dir)
    if heads is not None:
        found = f"heads loaded {heads['loaded']}, new {heads['new']}"
        log(dist, f"continued pretraining from {init_dir}: {found}", LOG_TAG)
    model.to(device)
    optimizer = components.build_optimizer(model, cfg)
    scheduler = components.build_schedule(optimizer, cfg)
    torch.manual_seed(cfg.seed + 7919 * (dist.rank + 1))  # dropout differs between ranks
    state = RunState()
    if resume and has_checkpoint(ckpt_dir):
        state = load_checkpoint(ckpt_dir, model, optimizer, scheduler, loader, obj, cfg, dist)
        log(dist, f"resumed from {ckpt_dir} at step {state.step}", LOG_TAG)
    elif resume:
        log(dist, f"--resume: no checkpoint in {ckpt_dir} yet, starting at step 0", LOG_TAG)
    if cfg.compile and device.type == "cuda":
        # The whole model, heads and losses included, as one graph (fixed target slots keep its
        # shapes static); in place, so state-dict keys stay unchanged.
        model.compile()
    train_model = wrap_for_training(model, dist)
    accum = components.grad_accum_steps(cfg, dist.world_size)
    amp_dtype = autocast_dtype(cfg.precision, device)
    return Trainer(model, train_model, optimizer, scheduler, loader, accum, amp_dtype), state


def _train_loop(
    trainer: Trainer,
    state: RunState,
    metrics: MetricsLog,
    obj: Objective,
    cfg: PretrainConfig,
    ckpt_dir: Path,
    dist: DistInfo,
    started: float,
) -> None:
    """Optimizer steps up to cfg.max_steps, read back and logged every log_every_steps and
    checkpointed every checkpoint_every_steps; the wall time since `started` goes into state.wall_s.

    No step waits for the host: losses stay on the device until the next log point or checkpoint,
    where the whole window is read in one copy and checked for divergence.
    """
    progress = progress_bar(cfg.max_steps, state.step, desc="pretraining", enabled=dist.is_main)
    losses = tuple(name for name in LOSS_NAMES if _has_loss(obj, name))
    window = StepStats(losses, trainer.accum * dist.world_size)
    window_start = time.perf_counter()
    while state.step < cfg.max_steps:
        row = _optimizer_step(trainer, state, cfg, dist)
        state.step += 1
        window.add(state.step, trainer.scheduler.get_last_lr()[0], row)
        progress.update(1)
        log_now = state.step % cfg.log_every_steps == 0 or state.step == cfg.max_steps
        checkpoint_now = state.step % cfg.checkpoint_every_steps == 0 or state.step == cfg.max_steps
        if not (log_now or checkpoint_now):
            continue
        records = _read_back(window, state, metrics, cfg, ckpt_dir)
        if log_now:
            tokens_per_s = sum(r.tokens for r in records) / max(time.perf_counter() - window_start, 1e-9)
            metrics.scalars(state.step, records[-1].losses, records[-1].lr, tokens_per_s)
            loss = records[-1].losses["loss"]
            progress.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
            window_start = time.perf_counter()
        if checkpoint_now:
            state.wall_s += time.perf_counter() - started
            started = time.perf_counter()
            save_checkpoint(
                ckpt_dir,
                trainer.model,
                trainer.optimizer,
                trainer.scheduler,
                trainer.loader,
                state,
                obj,
                cfg,
                dist,
            )
    progress.close()
    metrics.close()
    state.wall_s += time.perf_counter() - started


def _read_back(
    window: StepStats, state: RunState, metrics: MetricsLog, cfg: PretrainConfig, ckpt_dir: Path
) -> list[StepRecord]:
    """Read the pending steps from the device, raise on the first diverged one, else log them."""
    records = window.read()
    for record in records:
        problem = record.problem()
        if problem:
            raise _diverged(record.step, problem, state.step, cfg.log_every_steps, ckpt_dir)
        metrics.step_row(
            record.step, record.losses, record.lr, record.grad_norm, state.tokens_seen + record.tokens
        )
        state.tokens_seen += record.tokens
        state.last_losses = record.losses
    return records


def _optimizer_step(trainer: Trainer, state: RunState, cfg: PretrainConfig, dist: DistInfo) -> torch.Tensor:
    """One optimizer step over all processes' micro-batches, without waiting for the device.

    Returns the step's statistics row [ROW_WIDTH] on the device: summed losses, tokens, gradient
    norm. A non-finite loss or gradient is found when the row is read back (`_read_back`).
    """
    local = _accumulate_gradients(trainer, state, dist)
    grad_norm = _clip(trainer.model, cfg.max_grad_norm)  # the DDP gradients are already averaged
    row = torch.cat([_all_reduce_sum(local, dist), grad_norm.reshape(1).float()])
    trainer.optimizer.step()
    trainer.scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    return row


def _accumulate_gradients(trainer: Trainer, state: RunState, dist: DistInfo) -> torch.Tensor:
    """Forward and backward over `trainer.accum` micro-batches; returns this rank's summed losses
    and tokens, [len(LOSS_NAMES) + 1], on the device. Each batch extends the data digest."""
    # The loader masks the next micro-batch on the CPU (and starts its copy) while the device
    # works on this one.
    accum, train_model = trainer.accum, trainer.train_model
    local = torch.zeros(len(LOSS_NAMES) + 1, dtype=torch.float32, device=dist.device)  # losses, tokens
    for micro in range(accum):
        batch = trainer.loader.take()
        state.data_digest = hashlib.sha256(state.data_digest.encode() + batch.digest).hexdigest()
        sync = train_model.no_sync() if dist.world_size > 1 and micro < accum - 1 else _null()
        with sync, autocast(dist.device, trainer.amp_dtype):
            losses = train_model(**batch.inputs)
        (losses["loss"] / accum).backward()
        trainer.loader.refill()
        local += _loss_row(losses, batch.tokens)
    return local


# ----------------------------------------------------------------------------- model and step


def resolve_init(init: str | None) -> ResolvedModel | None:
    """`--init`: a save_pretrained directory or a registered model name (spaneval.models), or None."""
    return None if init is None else resolve_model(init)


def _loss_row(losses: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """[len(LOSS_NAMES) + 1]: the micro-batch's losses (0 where the objective has none) and tokens,
    all already on the device (no host-to-device copy per micro-batch)."""
    zero = tokens.new_zeros(())
    values = [losses[name].detach().float() if name in losses else zero for name in LOSS_NAMES]
    return torch.stack([*values, tokens])


def _all_reduce_sum(local: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    if dist.world_size > 1:
        torch.distributed.all_reduce(local)
    return local


def _has_loss(obj: Objective, name: str) -> bool:
    return {"loss": True, "mlm_loss": True, "sbo_loss": obj.sbo, "nsp_loss": obj.nsp}[name]


def _clip(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Total gradient norm (a device tensor), clipping to `max_norm` when it is > 0."""
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else math.inf)


def _diverged(step: int, what: str, found_at: int, log_every: int, ckpt_dir: Path) -> TrainingDivergedError:
    kept = (
        f"the last good checkpoint is kept in {ckpt_dir}"
        if has_checkpoint(ckpt_dir)
        else "no checkpoint had been written yet"
    )
    # Losses are read from the device only at log points and before checkpoints (no host sync
    # per step), so the run stops there; a checkpoint is never written after a diverged step.
    return TrainingDivergedError(
        f"training diverged at step {step}: {what} (found at step {found_at}: losses are read every "
        f"log_every_steps={log_every} steps and before each checkpoint). Nothing after the last "
        f"checkpoint was saved: {kept}. "
        "Lower learning_rate, raise warmup_steps, or use precision=fp32, then resume with --resume."
    )


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextlib.contextmanager
def _null():
    yield


# ----------------------------------------------------------------------------- logging


class MetricsLog:
    """metrics.jsonl (every step, rank 0) and TensorBoard scalars (every log step), resume-aware."""

    def __init__(self, out: Path, dist: DistInfo, keep_until_step: int, tensorboard: bool):
        self.active = dist.is_main
        self.path = out / "metrics.jsonl"
        self.writer = None
        if not self.active:
            return
        out.mkdir(parents=True, exist_ok=True)
        kept = [row for row in _read_jsonl(self.path) if row["step"] <= keep_until_step]
        self.path.write_text("".join(json.dumps(row) + "\n" for row in kept))
        self.file = self.path.open("a")
        if tensorboard:
            with contextlib.suppress(ImportError):
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=keep_until_step + 1)

    def step_row(self, step: int, losses: dict[str, float], lr: float, grad_norm: float, tokens: int) -> None:
        if self.active:
            row = {"step": step, **losses, "lr": lr, "grad_norm": grad_norm, "tokens_seen": tokens}
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()

    def scalars(self, step: int, losses: dict[str, float], lr: float, tokens_per_s: float) -> None:
        if self.writer is not None:
            for name, value in {**losses, "lr": lr, "tokens_per_s": tokens_per_s}.items():
                self.writer.add_scalar(f"pretrain/{name}", value, step)

    def close(self) -> None:
        if self.active:
            self.file.close()
            if self.writer is not None:
                self.writer.close()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics log; a last line cut short by a killed run is dropped."""
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise
    return rows


def _card_info(obj, preset, cfg, corpus, shards, state: RunState, init, dist: DistInfo) -> dict[str, Any]:
    return {
        "objective": obj.name,
        "objective_description": obj.description,
        "nsp": obj.nsp,
        "sbo": obj.sbo,
        "preset": preset,
        "corpus": str(corpus),
        "corpus_fingerprint": shards.corpus_fingerprint,
        "shards_fingerprint": shards.fingerprint,
        "corpus_tokens": int(shards.n_tokens),
        "corpus_documents": int(shards.n_documents),
        "steps": state.step,
        "tokens_seen": state.tokens_seen,
        "final_loss": state.last_losses.get("loss", float("nan")),
        "final_losses": state.last_losses,
        "init": init,
        "world_size": dist.world_size,
        "wall_s": state.wall_s,
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": to_dict(cfg),
        "weight_decay_value": weight_decay_value(cfg.weight_decay),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m spaneval.pretrain.train ...`: the same arguments as `spaneval pretrain` (for torchrun)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spaneval.pretrain.train")
    parser.add_argument("--objective", required=True)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--init", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value")
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
        pretrain(args.objective, args.preset, args.corpus, args.output, overrides, args.init, args.resume)
    except SpanevalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
