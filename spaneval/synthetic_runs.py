"""Synthetic finished runs (record.json + predictions.jsonl), for the dashboard-load benchmark and
the tests.

Each task makes its rows and scores them with its own scorer (PredictionRows.sample in
tasks/*_rows.py), so resampling code sees real data; records are built by
spaneval.record_schema.build_record, as the runner's are."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np

from spaneval.atomic import write_json, write_jsonl
from spaneval.metrics.qa_analysis import BOUNDARY_CATEGORIES
from spaneval.record_schema import RunRecord, build_record
from spaneval.tasks.registry import TASKS

SYNTHETIC_TASKS = ("squad", "squad_v2", "coref", "tacred", "semeval2010")
MODEL_HUB_IDS = {"spanbert": "SpanBERT/spanbert-base-cased", "bert": "bert-base-cased"}
# A model's skill in [0, 1]; spanbert is made a little better so filters and tests have differences.
MODEL_SKILL = {"spanbert": 0.8, "bert": 0.65}


def write_run(root: Path, task: str, model: str, seed: int, n_examples: int = 20) -> Path:
    """Write one finished run (predictions.jsonl, then record.json) and return its directory."""
    rng = np.random.default_rng([seed, sum(map(ord, task + model))])
    skill = MODEL_SKILL.get(model, 0.5)
    info, sample = TASKS[task].info, TASKS[task].rows.sample(rng, skill, n_examples)
    rows, metrics, breakdowns, main = sample.rows, sample.metrics, sample.breakdowns, info.main_metric
    run_id = f"20261126T{100000 + seed:06d}-s{seed}-{rng.bytes(3).hex()}"
    run_dir = Path(root) / task / model / run_id
    write_jsonl(run_dir / "predictions.jsonl", rows)
    write_json(run_dir / "record.json", _record(run_id, task, model, seed, metrics, breakdowns, main))
    return run_dir


def _record(run_id, task, model, seed, metrics, breakdowns, main) -> RunRecord:
    fingerprint = "sha256:" + hashlib.sha256(task.encode()).hexdigest()
    fields = {
        "run_id": run_id,
        "task": task,
        "task_version": "1.0",
        "main_metric": main,
        "higher_is_better": True,
        "data": {
            "source": "bundled",
            "train": {
                "path": f"/data/{task}/train",
                "fingerprint": fingerprint,
                "revision": None,
                "n_examples": 90,
            },
            "eval": {
                "path": f"/data/{task}/dev",
                "fingerprint": fingerprint,
                "revision": None,
                "n_examples": 100,
            },
        },
        "model": {
            "name": model,
            "hub_id": MODEL_HUB_IDS.get(model, model),
            "revision": "0" * 40,
            "path": None,
            "tokenizer": {"class": "BertTokenizerFast", "do_lower_case": False, "vocab_size": 28996},
        },
        "config": {
            "preset": "paper",
            "task": {"max_seq_len_tokens": 384},
            "train": {"learning_rate": 2e-5, "batch_size": 32, "epochs": 4},
        },
        "seed": seed,
        "metrics": metrics,
        "breakdowns": breakdowns,
        "breakdown_order": {"boundary_errors": list(BOUNDARY_CATEGORIES)},
        "training": {
            "steps": 40,
            "losses": [round(3.0 / (1 + 0.2 * s) + 0.05 * (s % 3), 4) for s in range(40)],
        },
        "predictions_file": "predictions.jsonl",
        "environment": {
            "python": "3.11.7",
            "torch": "2.13.0",
            "transformers": "5.24.0",
            "spaneval": "0.1.0",
            "git_commit": "abc1234",
            "device": "cpu",
            "device_name": "AMD EPYC",
            "num_processes": 1,
        },
        "command": f"python -m spaneval run {task} --model {model} --seed {seed}",
        "started_at": "2026-11-26T10:00:00Z",
        "wall_s": 60.0 + seed,
        "gpu_hours": 0.0,
    }
    return build_record(**fields)


def write_results(root: Path, n_runs: int, n_examples: int = 20) -> None:
    """`n_runs` runs spread over all tasks, spanbert/bert and increasing seeds."""
    combos = itertools.product(SYNTHETIC_TASKS, MODEL_SKILL)
    for i, (task, model) in enumerate(itertools.islice(itertools.cycle(combos), n_runs)):
        write_run(root, task, model, seed=1 + i // 10, n_examples=n_examples)
