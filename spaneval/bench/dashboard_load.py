"""Benchmark `dashboard-load`: load 500 run records and build the leaderboard tables.

`python -m spaneval bench dashboard-load [--runs 500]` writes synthetic runs to a temporary
directory, then times what the dashboard does on start: `results_tables.load_runs`, the tidy metrics
table, the seed summary and the leaderboard. Prints one JSON line. The goal (issue 6) is under 3 s
for 500 records.

The synthetic runs are built by the record schema (spaneval.record_schema.build_record, as the
runner's records are) and also serve the tests of the loader, statistics, report and dashboard.
Scores are random but consistent: each task makes its rows and scores them with its own scorer
(PredictionRows.sample in tasks/*_rows.py), so resampling code sees real data.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spaneval.atomic import write_json, write_jsonl
from spaneval.metrics.qa_analysis import BOUNDARY_CATEGORIES
from spaneval.record_schema import RunRecord, build_record
from spaneval.run_writer import cpu_name
from tasks.registry import TASKS

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


def load_leaderboard(root: Path) -> pd.DataFrame:
    """What the dashboard computes on start (without Streamlit)."""
    from dashboards.data import dashboard_data

    return dashboard_data(root)["leaderboard"]


def app_render_s(root: Path) -> float:
    """Seconds for the Streamlit app's first full render of the leaderboard (AppTest, no browser)."""
    import os

    from streamlit.testing.v1 import AppTest

    from spaneval.dashboard_server import APP

    previous = os.environ.get("SPANEVAL_RESULTS")
    os.environ["SPANEVAL_RESULTS"] = str(root)
    try:
        start = time.perf_counter()
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        elapsed = time.perf_counter() - start
    finally:
        os.environ.pop("SPANEVAL_RESULTS") if previous is None else os.environ.update(
            SPANEVAL_RESULTS=previous
        )
    if at.exception:
        raise RuntimeError(f"dashboard failed: {at.exception[0].value}")
    return elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="spaneval bench dashboard-load")
    parser.add_argument("--runs", type=int, default=500, help="number of run records")
    parser.add_argument("--repeats", type=int, default=3, help="timed loads; the best is reported")
    parser.add_argument("--no-app", action="store_true", help="skip timing the Streamlit app's first render")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write_results(Path(tmp), args.runs)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            board = load_leaderboard(Path(tmp))
            times.append(time.perf_counter() - start)
        app_s = None if args.no_app else round(app_render_s(Path(tmp)), 3)
    result = {
        "bench": "dashboard-load",
        "runs": args.runs,
        "load_s": round(min(times), 3),
        "load_s_all": [round(t, 3) for t in times],
        "app_first_render_s": app_s,
        "leaderboard_rows": len(board),
        "goal_s": 3.0,
        "machine": cpu_name(),
    }
    print(json.dumps(result))
    return result
