"""Versioned run records: everything needed to reproduce a number, written atomically.

Layout: RESULTS/<task>/<model-slug>/<run_id>/{record.json, predictions.jsonl, ...}. `record.json` is
written last, so a directory without it is an unfinished (or crashed) run that loaders ignore.
The run id holds a timestamp, the seed and random hex, so runs started at once never share a directory.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from spaneval.atomic import write_json, write_jsonl
from spaneval.errors import SpanevalError
from spaneval.record_schema import build_record, finite_or_null

RECORD_FILE = "record.json"
PREDICTIONS_FILE = "predictions.jsonl"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def model_slug(name: str) -> str:
    """A directory-safe name for a model name or path."""
    parts = Path(name).parts
    base = "-".join(parts[-2:]) if os.sep in name else name  # a path: its last two parts
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "model"


def new_run_dir(results_dir: Path, task: str, model: str, seed: int) -> Path:
    """Create and return a fresh run directory (exclusive: never reuses an existing one)."""
    stamp = utc_now().strftime("%Y%m%dT%H%M%S")
    parent = Path(results_dir) / task / model_slug(model)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = parent / f"{stamp}-s{seed}-{secrets.token_hex(3)}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


def git_commit() -> str | None:
    """The spaneval source tree's commit (with '-dirty' when modified), or None outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    """The CPU model name as `lscpu` shows it (from /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: Any, world_size: int) -> dict[str, Any]:
    import numpy
    import tokenizers
    import torch
    import transformers

    from spaneval import __version__

    device_name = (
        torch.cuda.get_device_name(device) if getattr(device, "type", "cpu") == "cuda" else cpu_name()
    )
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "spaneval": __version__,
        "git_commit": git_commit(),
        "device": getattr(device, "type", str(device)),
        "device_name": device_name,
        "num_processes": world_size,
        "cpu_count": os.cpu_count(),
    }


def command_line() -> str:
    argv = sys.argv[:]
    if argv and argv[0].endswith(("__main__.py", "spaneval")):
        argv = ["python", "-m", "spaneval", *argv[1:]]
    return " ".join(argv)


def write_record(run_dir: Path, fields: dict[str, Any], predictions: list[dict[str, Any]]) -> Path:
    """Write predictions, then the record (atomically, last). Returns the record path.

    The record is built by spaneval.record_schema (version stamp, NaN as null, types checked); one
    that would mean nothing (no training step, no main score) is refused: a record marks a finished run.
    """
    record = build_record(**fields, predictions_file=PREDICTIONS_FILE)
    steps = (record.get("training") or {}).get("steps")
    main = record["metrics"].get(record["main_metric"])
    if (steps is not None and steps < 1) or main is None:
        raise SpanevalError(
            f"{run_dir}: not writing a run record with {steps} training steps and main metric "
            f"{record['main_metric']}={main}; the run did not produce a result"
        )
    write_jsonl(run_dir / PREDICTIONS_FILE, finite_or_null(predictions))
    write_json(run_dir / RECORD_FILE, record)
    return run_dir / RECORD_FILE
