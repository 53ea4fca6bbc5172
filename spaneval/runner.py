"""One fine-tuning run from names to a result record:

load data -> tokenizer -> encode -> build model -> fine-tune -> predict -> decode -> score -> record.

Every rank of a torchrun job executes the same code; rank 0 alone predicts, scores and writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from spaneval.atomic import check_writable, output_lock, write_dir, write_json
from spaneval.config import apply_overrides, to_dict
from spaneval.distributed import DistInfo, init_distributed, shutdown_distributed
from spaneval.errors import DataError, SpanevalError
from spaneval.finetune import TrainConfig, finetune, per_rank_batch_size, predict, total_steps
from spaneval.models import load_encoder, load_tokenizer, model_fingerprint, resolve_model, tokenizer_settings
from spaneval.registry import lookup
from spaneval.rng import seed_everything
from spaneval.run_writer import command_line, environment, new_run_dir, utc_now, write_record
from spaneval.saved_model import save_task_model, start_head_from
from spaneval.training_core import log
from spaneval.userfiles import read_json

RUN_ARGS_FILE = "run_args.json"
# Below this many optimizer steps a fine-tuned model has barely left its initialisation: scores then
# move by several points between seeds, so differences between models are mostly noise.
FEW_STEPS = 100
MAX_PRINTED_WARNINGS = 20  # the record counts them all


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What the user asked for; saved in the run directory so `--resume DIR` can continue it."""

    task: str
    model: str
    data: str | None = None
    eval_data: str | None = None
    seed: int = 1
    results_dir: str = "results"
    preset: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    revision: str | None = None
    keep_checkpoint: bool = False
    save_model: bool = False
    new_head: bool = False  # a new task head even if --model holds one (start_head_from)
    lowercase: bool = False  # reproduce the hub SpanBERT tokenizer's lowercasing (default: cased, as trained)
    command: str = ""  # the command line as typed (recorded with the result)
    name: str | None = None  # a readable label for the leaderboard (`--name`); recorded as "name"


def build_configs(task: Any, preset: str | None, overrides: dict[str, str]) -> dict[str, Any]:
    """Task and train configs: defaults, the task's "default" preset, the named preset, then overrides."""
    configs = {"task": task.config_cls(), "train": TrainConfig()}
    if "default" in task.presets:
        configs = apply_overrides(configs, task.presets["default"])
    if preset is not None:
        configs = apply_overrides(configs, lookup(task.presets, preset, f"{task.info.name} preset"))
    return apply_overrides(configs, overrides)


def run_task(req: RunRequest, resume_dir: Path | None = None) -> Path | None:
    """Run one seed; returns the run directory on rank 0 (None on other ranks)."""
    from spaneval.tasks.registry import TASKS

    task = lookup(TASKS, req.task, "task")
    cfgs = build_configs(task, req.preset, dict(req.overrides))
    task_cfg, train_cfg = cfgs["task"], cfgs["train"]
    dist = init_distributed()
    try:
        with contextlib.ExitStack() as held:
            return _run(req, task, task_cfg, train_cfg, dist, resume_dir, held)
    finally:
        shutdown_distributed()


def _print_data_warnings(dist: DistInfo, splits) -> None:
    """Each data warning once: train and eval often read the same file (`run mrqa --data F`)."""
    unique = list(dict.fromkeys(w for split in splits for w in split.warnings))
    for warning in unique[:MAX_PRINTED_WARNINGS]:
        log(dist, f"warning: {warning}")
    if len(unique) > MAX_PRINTED_WARNINGS:
        log(dist, f"... and {len(unique) - MAX_PRINTED_WARNINGS} more data warnings")


def _run(
    req,
    task,
    task_cfg,
    train_cfg: TrainConfig,
    dist: DistInfo,
    resume_dir: Path | None,
    held: contextlib.ExitStack,
) -> Path | None:
    started, t0 = utc_now(), time.perf_counter()
    # Before anything is loaded or written: settings that cannot run, an output that cannot be written,
    # and (resume) a run directory that another process is still writing.
    per_rank_batch_size(train_cfg, dist.world_size)
    if dist.is_main:
        check_writable(resume_dir or req.results_dir)
        if resume_dir is not None:
            held.enter_context(output_lock(resume_dir, "run"))
    seed_everything(req.seed)
    model_ref = resolve_model(req.model, req.revision)
    train_split = task.load(req.data, "train", task_cfg)
    eval_split = task.load(req.eval_data or req.data, "eval", task_cfg)
    _print_data_warnings(dist, (train_split, eval_split))
    if train_split.path and train_split.path == eval_split.path:
        log(dist, f"WARNING: training and evaluating on the same file {train_split.path}")
    tokenizer = task.prepare_tokenizer(load_tokenizer(model_ref, req.lowercase), task_cfg)
    train_features = task.encode(train_split.examples, tokenizer, task_cfg, True)
    eval_features = task.encode(eval_split.examples, tokenizer, task_cfg, False)
    model = task.build_model(load_encoder(model_ref), tokenizer, task_cfg)
    head_class = None if req.new_head else start_head_from(model, model_ref.path)
    head = f"{head_class} in the model folder" if head_class else "new"
    run_dir = resume_dir or _shared_run_dir(req, dist)
    if dist.is_main and resume_dir is None:
        held.enter_context(output_lock(run_dir, "run"))  # a `--resume` of it must wait for this run
        write_json(run_dir / RUN_ARGS_FILE, dataclasses.asdict(req))
        # the tokenizer (with any task tokens, e.g. entity masks) travels with the checkpoint
        write_dir(run_dir / "checkpoint" / "tokenizer", tokenizer.save_pretrained)
    log(
        dist,
        f"{req.task}: {len(train_split.examples)} train examples ({len(train_features)} features), "
        f"{len(eval_split.examples)} eval examples; run directory {run_dir}",
    )
    if head_class:
        log(
            dist,
            f"the task head starts from the {head_class} weights in {model_ref.path} (--new-head: a new one)",
        )

    warn_if_few_steps(total_steps(train_cfg, len(train_features)), dist)

    def evaluate(m) -> float:
        scores, _ = _predict_and_score(task, m, eval_split, eval_features, task_cfg, train_cfg, dist)
        return scores.metrics[task.info.main_metric]

    summary = finetune(
        model,
        train_features,
        task.collate,
        task.param_groups(model, train_cfg),
        train_cfg,
        dist=dist,
        seed=req.seed,
        checkpoint_dir=run_dir / "checkpoint",
        evaluate=evaluate,
        resume=resume_dir is not None,
        lengths=feature_lengths(train_features),
        identity=_run_identity(req, train_split, eval_split, model_ref),
        session_start=t0,
    )
    if not dist.is_main:
        return None
    eval_t0 = time.perf_counter()
    scores, predictions = _predict_and_score(
        task, model, eval_split, eval_features, task_cfg, train_cfg, dist
    )
    eval_wall_s = time.perf_counter() - eval_t0
    task.write_predictions(run_dir, eval_split.examples, predictions, scores)
    if req.save_model:  # before the record: a record marks a finished run
        write_dir(run_dir / "model", lambda d: save_task_model(d, model, tokenizer, task, task_cfg, run_dir))
    record = {
        "run_id": run_dir.name,
        "name": req.name,
        **_task_fields(task.info),
        "data": {
            "source": req.data or task.info.default_data,
            "train": _split_info(train_split),
            "eval": _split_info(eval_split),
        },
        "model": {**model_ref.describe(), "tokenizer": tokenizer_settings(tokenizer), "head": head},
        "config": {"preset": req.preset, "task": to_dict(task_cfg), "train": to_dict(train_cfg)},
        "seed": req.seed,
        "metrics": scores.metrics,
        "breakdowns": scores.breakdowns,
        "breakdown_order": {table: list(order) for table, order in scores.bucket_order.items()},
        "training": _training_fields(summary, len(train_features)),
        "eval_wall_s": round(eval_wall_s, 3),  # prediction, decoding and scoring of the eval split
        **_provenance(req, dist, started, t0 - summary.earlier_sessions_wall_s),
    }
    write_record(run_dir, record, scores.per_example)
    if not req.keep_checkpoint:
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
    main_value = scores.metrics[task.info.main_metric]
    log(
        dist,
        f"{task.info.main_metric} = {main_value:.2f} ({task.info.metric_scale}); "
        f"record {run_dir / 'record.json'}",
    )
    return run_dir


def warn_if_few_steps(steps: int, dist: DistInfo) -> None:
    if steps < FEW_STEPS:
        log(
            dist,
            f"WARNING: only {steps} optimizer steps (fewer than {FEW_STEPS}): the scores of this run will "
            "be mostly noise; train longer (epochs, data) and compare several seeds",
        )


def _task_fields(info) -> dict[str, Any]:
    return {
        "task": info.name,
        "task_version": info.version,
        "main_metric": info.main_metric,
        "higher_is_better": info.higher_is_better,
    }


def _training_fields(summary, n_features: int) -> dict[str, Any]:
    return {
        "train_features": n_features,
        "steps": summary.steps,
        "examples_seen": summary.examples_seen,
        "train_wall_s": round(summary.train_wall_s, 3),
        "final_loss": summary.final_loss,
        "best_step": summary.best_step,
        "losses": summary.losses,
        "resumed_at_steps": summary.resumed_at_steps,
    }


def _run_identity(req: RunRequest, train_split, eval_split, model_ref) -> dict[str, Any]:
    """What a resumed run must share with its start: arguments, data and model fingerprints."""
    return {
        "run_args": json.loads(json.dumps(dataclasses.asdict(req))),
        "train_data": train_split.fingerprint,
        "eval_data": eval_split.fingerprint,
        "model": model_fingerprint(model_ref.path),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _provenance(req: RunRequest, dist: DistInfo, started, t0: float) -> dict[str, Any]:
    """Environment, command line and timing (GPU hours = wall time x processes on GPU). `t0` is moved
    back by the wall time of earlier sessions, so a resumed run records its total."""
    wall_s = round(time.perf_counter() - t0, 3)
    return {
        "environment": environment(dist.device, dist.world_size),
        "command": req.command or command_line(),
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": wall_s,
        "gpu_hours": round(wall_s * dist.world_size / 3600, 6) if dist.device.type == "cuda" else 0.0,
        "peak_rss_mb": peak_rss_mb(),
    }


def feature_lengths(features) -> np.ndarray | None:
    """Tokens per feature (from attention masks) for length-grouped batching; None if unknown."""
    mask = getattr(features, "attention_mask", None)
    if mask is not None:
        return np.asarray(mask).sum(axis=1)
    if len(features) and "attention_mask" in features[0]:
        return np.array([int(np.asarray(f["attention_mask"]).sum()) for f in features])
    return None


def _predict_and_score(task, model, split, features, task_cfg, train_cfg, dist):
    outputs = predict(
        model, features, task.collate, train_cfg.eval_batch_size, dist.device, train_cfg.precision
    )
    predictions = task.decode(split.examples, features, outputs, task_cfg)
    return task.score(split.examples, predictions, task_cfg), predictions


def _split_info(split) -> dict[str, Any]:
    return {
        "path": split.path,
        "fingerprint": split.fingerprint,
        "revision": split.revision,
        "n_examples": len(split.examples),
        "warnings": len(split.warnings),
    }


def _shared_run_dir(req: RunRequest, dist: DistInfo) -> Path:
    """Rank 0 creates the run directory; the others learn its name."""
    import torch

    name = [str(new_run_dir(Path(req.results_dir), req.task, req.model, req.seed)) if dist.is_main else None]
    if dist.world_size > 1:
        torch.distributed.broadcast_object_list(name, src=0)
    return Path(name[0])


def resume_run(run_dir: Path) -> Path | None:
    """Continue an interrupted run from its last checkpoint, with the arguments it was started with."""
    args_file = Path(run_dir) / RUN_ARGS_FILE
    if not args_file.is_file():
        raise SpanevalError(f"{run_dir} is not a spaneval run directory (no {RUN_ARGS_FILE})")
    if (Path(run_dir) / "record.json").is_file():
        raise SpanevalError(f"{run_dir} already finished (record.json exists); nothing to resume")
    raw = read_json(args_file)
    try:
        raw["overrides"] = tuple(tuple(kv) for kv in raw.get("overrides", ()))
        req = RunRequest(**raw)
    except (AttributeError, TypeError) as err:
        raise DataError(args_file, None, f"not the arguments of a spaneval run ({err})") from None
    return run_task(req, resume_dir=Path(run_dir))
