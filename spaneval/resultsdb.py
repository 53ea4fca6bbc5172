"""The one way to read results: run records under a results directory -> tidy pandas tables.

Layout (docs/architecture.md): `RESULTS/<task>/<model-slug>/<run_id>/record.json`, written last and
atomically; a run directory without `record.json` is unfinished and ignored. The dashboard and the
reports read results only through this module.

A record with an unknown `schema_version` is rejected, and a corrupt file (bad JSON, or contents
that do not fit spaneval.record_schema: a missing field, `breakdowns` a list, `model` a string) is
skipped; both are reported as `LoadProblem`s and as a warning naming the file and the field, so one
bad file never hides the other runs. `load_runs(..., strict=True)` raises instead. Files a record
names (`predictions_file`) are read only from inside its run directory.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from spaneval.errors import DataError
from spaneval.record_schema import READABLE_VERSIONS, record_problems

RECORD_FILE = "record.json"
# Config keys that differ between the seeds of one experiment, left out of the group key.
_PER_RUN_CONFIG_KEYS = frozenset({"seed", "seeds", "output", "output_dir", "resume"})
METRIC_COLUMNS = (
    "run_id",
    "task",
    "task_version",
    "model",
    "model_revision",
    "data_source",
    "data_fingerprint",
    "config_key",
    "preset",
    "seed",
    "metric",
    "value",
    "is_main",
    "higher_is_better",
)


class ResultsWarning(UserWarning):
    """A results file that was skipped (corrupt) or rejected (unknown schema_version)."""


@dataclass(frozen=True)
class LoadProblem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class Runs:
    """Everything loaded from one results directory."""

    root: Path
    records: list[dict[str, Any]] = field(default_factory=list)  # each with "_dir": run directory
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.records


def load_runs(results_dir: str | Path, strict: bool = False) -> Runs:
    """Read every finished run record under `results_dir` (a missing directory gives no runs)."""
    root = Path(results_dir)
    runs = Runs(root=root)
    for path in sorted(root.glob(f"**/{RECORD_FILE}")) if root.is_dir() else []:
        try:
            record = read_record(path)
        except DataError as err:
            if strict:
                raise
            runs.problems.append(LoadProblem(err.path, err.problem))
            warnings.warn(str(err), ResultsWarning, stacklevel=2)
            continue
        runs.records.append(record)
    return runs


def signature(results_dir: str | Path) -> tuple[tuple[str, int], ...]:
    """(path, mtime_ns) of every record file: changes when a run is added, removed or rewritten,
    so a cache of `load_runs` keyed on it is never stale."""
    root = Path(results_dir)
    if not root.is_dir():
        return ()
    return tuple((str(p), p.stat().st_mtime_ns) for p in sorted(root.glob(f"**/{RECORD_FILE}")))


def read_record(path: Path) -> dict[str, Any]:
    """One validated record, with "_dir" (its run directory) added; DataError names the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, None, f"corrupt run record, skipped ({err})") from None
    except RecursionError:
        raise DataError(path, None, "corrupt run record, skipped (JSON nested too deeply)") from None
    if not isinstance(record, dict):
        raise DataError(path, None, "corrupt run record, skipped (expected a JSON object)")
    version = record.get("schema_version")
    if version not in READABLE_VERSIONS:
        known = ", ".join(map(str, READABLE_VERSIONS))
        raise DataError(
            path,
            record.get("run_id"),
            f"schema_version {version!r} is not supported by this spaneval (it reads {known}); "
            "rejected. Upgrade spaneval to read it, or re-run to write a current record.",
        )
    problems = record_problems(record)
    if problems:
        run_id = record.get("run_id") if isinstance(record.get("run_id"), str) else None
        raise DataError(path, run_id, f"corrupt run record, skipped ({'; '.join(problems)})")
    return record | {"_dir": str(path.parent)}


def config_key(config: dict[str, Any] | None) -> str:
    """A short stable hash of a run's config without per-run keys (seed, output dir)."""
    canonical = json.dumps(_drop_per_run_keys(config or {}), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _drop_per_run_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_per_run_keys(v) for k, v in value.items() if k not in _PER_RUN_CONFIG_KEYS}
    return value


def run_info(record: dict[str, Any]) -> dict[str, Any]:
    """The identifying columns of one run (shared by the metric and breakdown tables)."""
    model, data, config = record.get("model") or {}, record.get("data") or {}, record.get("config") or {}
    eval_data = data.get("eval") or {}
    return {
        "run_id": record["run_id"],
        "task": record["task"],
        "task_version": str(record.get("task_version", "")),
        "model": model.get("name", "?") if isinstance(model, dict) else str(model),
        "model_revision": model.get("revision") if isinstance(model, dict) else None,
        "data_source": data.get("source"),
        "data_fingerprint": eval_data.get("fingerprint"),
        "config_key": config_key(config),
        "preset": config.get("preset") if isinstance(config, dict) else None,
        "seed": record["seed"],
    }


def metrics_table(runs: Runs) -> pd.DataFrame:
    """Tidy table: one row per run and metric (columns METRIC_COLUMNS)."""
    rows = []
    for record in runs.records:
        info = run_info(record)
        for metric, value in record["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append(
                    info
                    | {
                        "metric": metric,
                        "value": float(value),
                        "is_main": metric == record["main_metric"],
                        "higher_is_better": bool(record.get("higher_is_better", True)),
                    }
                )
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def breakdowns_table(runs: Runs) -> pd.DataFrame:
    """Tidy span-level breakdowns: one row per run, table, bucket and value (count kept as a column)."""
    columns = ["run_id", "task", "model", "config_key", "seed", "table", "bucket", "metric", "value", "count"]
    rows = []
    for record in runs.records:
        info = run_info(record)
        for table, buckets in (record.get("breakdowns") or {}).items():
            for bucket, values in (buckets or {}).items():
                count = values.get("count")
                for metric, value in values.items():
                    if metric != "count" and isinstance(value, (int, float)):
                        rows.append(
                            {
                                "run_id": info["run_id"],
                                "task": info["task"],
                                "model": info["model"],
                                "config_key": info["config_key"],
                                "seed": info["seed"],
                                "table": table,
                                "bucket": str(bucket),
                                "metric": metric,
                                "value": float(value),
                                "count": count,
                            }
                        )
    return pd.DataFrame(rows, columns=columns)


def runs_table(runs: Runs) -> pd.DataFrame:
    """One row per run: identity, main score, provenance (for the run view and the report appendix)."""
    rows = []
    for record in runs.records:
        env, model = record.get("environment") or {}, record.get("model") or {}
        main = record["metrics"].get(record["main_metric"])
        rows.append(
            run_info(record)
            | {
                "main_metric": record["main_metric"],
                "main_score": main,
                "hub_id": model.get("hub_id") if isinstance(model, dict) else None,
                "command": record.get("command"),
                "git_commit": env.get("git_commit"),
                "device": env.get("device"),
                "device_name": env.get("device_name"),
                "started_at": record.get("started_at"),
                "wall_s": record.get("wall_s"),
                "gpu_hours": record.get("gpu_hours"),
                "dir": record["_dir"],
            }
        )
    return pd.DataFrame(rows)


def find_record(runs: Runs, run_id: str) -> dict[str, Any]:
    """The record with `run_id`, or a DataError naming the results directory."""
    for record in runs.records:
        if record["run_id"] == run_id:
            return record
    raise DataError(runs.root, run_id, "no finished run with this run_id")


def file_in_run_dir(record: dict[str, Any], name: str) -> Path:
    """`name` inside the record's run directory; a DataError if it points anywhere else (`../..`,
    an absolute path, a symlink out), so a record can never make the dashboard show other files."""
    run_dir = Path(record["_dir"]).resolve()
    path = (run_dir / name).resolve()
    if not path.is_relative_to(run_dir):
        problem = f"file {name!r} is outside the run directory"
        raise DataError(run_dir / RECORD_FILE, record["run_id"], problem)
    return path


def load_predictions(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The predictions.jsonl rows of a run; a bad line is a DataError naming file and line."""
    path = file_in_run_dir(record, record.get("predictions_file", "predictions.jsonl"))
    if not path.is_file():
        raise DataError(path, record["run_id"], "predictions file missing; re-run to produce it")
    rows = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, f"line {line_no}", f"not valid JSON ({err})") from None
            if not isinstance(row, dict) or "id" not in row:
                raise DataError(path, f"line {line_no}", "expected a JSON object with an 'id'")
            rows.append(row)
    return rows
