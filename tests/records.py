"""A results directory for tests: three tasks x spanbert/bert x seeds 1-3, plus bad files.

Records are built by spaneval.record_schema.build_record (through spaneval.synthetic_runs, which
the dashboard-load benchmark uses too). Bad files: one corrupt record.json, one unknown
schema_version, one unfinished run (no record.json, to be ignored silently).
"""

from __future__ import annotations

import json
from pathlib import Path

from spaneval.synthetic_runs import write_run

TASKS = ("squad", "coref", "tacred")
MODELS = ("spanbert", "bert")
SEEDS = (1, 2, 3)


def build_results(root: Path, tasks=TASKS, models=MODELS, seeds=SEEDS, bad_files: bool = True) -> Path:
    """Write the runs under `root` and return it."""
    for task in tasks:
        for model in models:
            for seed in seeds:
                write_run(root, task, model, seed)
    if bad_files:
        corrupt = root / "squad" / "bert" / "20261126T000000-s9-corrupt"
        corrupt.mkdir(parents=True)
        (corrupt / "record.json").write_text('{"schema_version": 1, "run_id": ', encoding="utf-8")
        future = root / "squad" / "bert" / "20261126T000000-s8-future"
        future.mkdir(parents=True)
        (future / "record.json").write_text(json.dumps({"schema_version": 99, "run_id": "future"}))
        (root / "squad" / "bert" / "20261126T000000-s7-unfinished").mkdir(parents=True)
    return root
