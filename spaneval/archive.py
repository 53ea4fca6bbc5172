"""`python -m spaneval archive RUN_DIR...`: shrink finished runs for keeping in a repository.

A SQuAD run's predictions.jsonl holds every question's context and 20-best list (tens of MB). An
archived run keeps every row and every per-example score the reports and significance tests use,
with the n-best lists cut to their first `nbest` entries, gzip-compressed. The record is rewritten
last and atomically to name the new file, so an interrupted archive leaves a readable run.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from spaneval.atomic import write_bytes, write_json
from spaneval.errors import SpanevalError

ARCHIVED_FILE = "predictions.jsonl.gz"


def archive_run(run_dir: Path, nbest: int = 5) -> Path:
    """Rewrite `run_dir`'s predictions as ARCHIVED_FILE (n-best cut to `nbest`); returns the new file."""
    from spaneval.results_tables import load_predictions, read_record

    record = read_record(run_dir / "record.json")
    if record.get("predictions_file") == ARCHIVED_FILE:
        return run_dir / ARCHIVED_FILE
    rows = [_cut(row, nbest) for row in load_predictions(record)]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_bytes(run_dir / ARCHIVED_FILE, gzip.compress(text.encode("utf-8"), mtime=0))
    old = run_dir / record.get("predictions_file", "predictions.jsonl")
    stored = {k: v for k, v in record.items() if not k.startswith("_")}  # drop what the reader adds
    write_json(run_dir / "record.json", {**stored, "predictions_file": ARCHIVED_FILE}, indent=1)
    old.unlink(missing_ok=True)
    return run_dir / ARCHIVED_FILE


def _cut(row: dict, nbest: int) -> dict:
    if isinstance(row.get("nbest"), list):
        return {**row, "nbest": row["nbest"][:nbest]}
    return row


def archive(run_dirs: list[str], nbest: int = 5) -> int:
    """CLI entry: archive every finished run directory given (or found below a folder)."""
    if nbest < 1:
        raise SpanevalError(f"--nbest {nbest}: keep at least 1 entry")
    found = [p.parent for d in run_dirs for p in sorted(Path(d).glob("**/record.json"))]
    if not found:
        raise SpanevalError(f"no finished run (record.json) under {', '.join(run_dirs)}")
    for run_dir in found:
        out = archive_run(run_dir, nbest)
        print(f"{run_dir}: {out.name} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
