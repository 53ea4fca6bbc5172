"""The one way to read results: run records under a results directory -> tidy pandas tables.

Layout (docs/architecture.md): `RESULTS/<task>/<model-slug>/<run_id>/record.json`, written last and
atomically; a run directory without `record.json` is unfinished and ignored. The dashboard and the
reports read results only through this module.

A record with an unknown `schema_version` is rejected, and a corrupt file (bad JSON, or contents
that do not fit spaneval.record_schema: a missing field, `breakdowns` a list, `model` a string) is
skipped; both are reported as `LoadProblem`s and as a warning naming the file and the field, so one
bad file never hides the other runs. `load_runs(..., strict=True)` raises instead. Files a record
names (`predictions_file`) are read only from inside its run directory.

Runs are grouped into experiments (`group_key`: model, tokenizer settings, config, data) and each
group counts distinct seeds: a copied run directory is read once, and of two runs of one seed in
one group the newer is kept; the left-out ones are `LoadProblem`s too (never an error in strict mode:
the files are sound).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from spaneval import names
from spaneval.errors import DataError
from spaneval.record_schema import READABLE_VERSIONS, record_problems

RECORD_FILE = "record.json"
# Config keys that differ between the seeds of one experiment, left out of the group key.
_PER_RUN_CONFIG_KEYS = frozenset({"seed", "seeds", "output", "output_dir", "resume"})
METRIC_COLUMNS = (
    "run_id",
    "task",
    "task_version",
    "group",
    "label",
    "display_name",
    "model",
    "model_revision",
    "objective",
    "lowercase",
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
    runs.records, duplicates = distinct_runs(runs.records)
    for problem in duplicates:
        runs.problems.append(problem)
        warnings.warn(str(problem), ResultsWarning, stacklevel=2)
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


def _config_key_of(record: dict[str, Any]) -> str:
    """config_key of a loaded record, kept in it as "_config_key"."""
    if "_config_key" not in record:
        record["_config_key"] = config_key(record.get("config"))
    return record["_config_key"]


def _drop_per_run_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_per_run_keys(v) for k, v in value.items() if k not in _PER_RUN_CONFIG_KEYS}
    return value


def model_identity(record: dict[str, Any]) -> dict[str, Any]:
    """What identifies a run's model: name (a registry name or a normalised path), hub id, revision
    and the tokenizer settings that change the input (a cased model run lowercased is another model)."""
    model = record.get("model")
    if not isinstance(model, dict):
        return {"name": str(model)}
    name = str(model.get("name") or "?")
    tokenizer = model.get("tokenizer") if isinstance(model.get("tokenizer"), dict) else {}
    return {
        "name": name if os.sep not in name else os.path.normpath(name),
        "hub_id": model.get("hub_id"),
        "revision": model.get("revision"),
        "do_lower_case": tokenizer.get("do_lower_case"),
        "strip_accents": tokenizer.get("strip_accents"),
    }


def data_identity(record: dict[str, Any]) -> dict[str, Any]:
    """Each data split's fingerprint (its path where no fingerprint was recorded)."""
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    return {
        split: info.get("fingerprint") or info.get("path")
        for split, info in sorted(data.items())
        if isinstance(info, dict)
    }


def group_key(record: dict[str, Any]) -> str:
    """Runs with the same key are seeds of one experiment: same task (and version), model identity,
    tokenizer settings, task and train config (seed and output paths aside) and data fingerprints.

    Kept in the loaded record as "_group" (beside "_dir"): every table asks for it."""
    if "_group" in record:
        return record["_group"]
    identity = {
        "task": record["task"],
        "task_version": str(record.get("task_version", "")),
        "model": model_identity(record),
        "config": _config_key_of(record),
        "data": data_identity(record),
    }
    canonical = json.dumps(identity, sort_keys=True, default=str)
    record["_group"] = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    return record["_group"]


def distinct_runs(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[LoadProblem]]:
    """One record per run id and per (group, seed): a copied run directory counts once, and of two
    runs of one experiment with the same seed the newer is kept; each left-out record is a problem."""
    kept: dict[tuple[str, Any], dict[str, Any]] = {}
    problems = []
    by_id: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (str(r.get("started_at") or ""), r["run_id"], r["_dir"])):
        first = by_id.setdefault(record["run_id"], record)
        if first is not record:
            problems.append(LoadProblem(record["_dir"], f"a copy of run {first['_dir']}; counted once"))
            continue
        key = (group_key(record), record["seed"])
        older = kept.get(key)
        if older is not None:
            problems.append(
                LoadProblem(
                    older["_dir"],
                    f"seed {record['seed']} was run again with the same model, config and data "
                    f"({record['run_id']}); only the newer run is counted",
                )
            )
        kept[key] = record
    chosen = {id(r) for r in kept.values()}
    return [r for r in records if id(r) in chosen], problems


def run_info(record: dict[str, Any]) -> dict[str, Any]:
    """The identifying columns of one run (shared by the metric and breakdown tables)."""
    model, data, config = record.get("model") or {}, record.get("data") or {}, record.get("config") or {}
    eval_data = data.get("eval") or {}
    identity = model_identity(record)
    return {
        "run_id": record["run_id"],
        "task": record["task"],
        "task_version": str(record.get("task_version", "")),
        "group": group_key(record),
        "display_name": names.display_name(record),
        "model": model.get("name", "?") if isinstance(model, dict) else str(model),
        "model_revision": model.get("revision") if isinstance(model, dict) else None,
        "objective": model.get("objective") if isinstance(model, dict) else None,
        "lowercase": identity.get("do_lower_case"),
        "data_source": data.get("source"),
        "data_fingerprint": eval_data.get("fingerprint"),
        "config_key": _config_key_of(record),
        "preset": config.get("preset") if isinstance(config, dict) else None,
        "seed": record["seed"],
    }


def run_infos(runs: Runs) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, run_info with its group's "label") for every run."""
    infos = [run_info(record) for record in runs.records]
    labels = group_labels(infos)
    return [(r, info | {"label": labels[info["group"]]}) for r, info in zip(runs.records, infos, strict=True)]


# What tells two groups with one display name apart, in the order a reader cares about.
_DISTINGUISHERS = (
    ("lowercase", lambda v: "lowercased" if v else "cased"),
    ("model", lambda v: names.folder_name(str(v))),
    ("model_revision", lambda v: f"rev {str(v)[:7]}"),
    ("preset", lambda v: f"preset {v}"),
    ("config_key", lambda v: f"config {v}"),
    ("data_fingerprint", lambda v: f"data {str(v).removeprefix('sha256:')[:6]}"),
)


def group_labels(infos: list[dict[str, Any]]) -> dict[str, str]:
    """A label per group: its display name, plus what sets it apart from other groups of the same
    task with the same display name ("spanbert [lowercased]", "tiny [config 1a2b3c4d]")."""
    first = {}
    for info in infos:
        first.setdefault(info["group"], info)
    labels = {}
    clashes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for info in first.values():
        clashes.setdefault((info["task"], info["display_name"]), []).append(info)
    for (_, name), members in clashes.items():
        differing = [
            (key, fmt) for key, fmt in _DISTINGUISHERS if len({str(m.get(key)) for m in members}) > 1
        ]
        for member in members:
            parts = [fmt(member.get(key)) for key, fmt in differing] or [member["group"]]
            labels[member["group"]] = name if len(members) == 1 else f"{name} [{', '.join(parts)}]"
    return labels


def metrics_table(runs: Runs) -> pd.DataFrame:
    """Tidy table: one row per run and metric (columns METRIC_COLUMNS)."""
    rows = []
    for record, info in run_infos(runs):
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
    """Tidy span-level breakdowns: one row per run, table, bucket and value (count kept as a column).

    "rank" orders a table's buckets for display: the position in the task's declared order (the
    record's "breakdown_order"), else after those, in the order the record lists them.
    """
    ids = ["run_id", "task", "group", "label", "model", "config_key", "seed"]
    columns = [*ids, "table", "bucket", "rank", "metric", "value", "count"]
    rows = []
    for record, info in run_infos(runs):
        order = record.get("breakdown_order") or {}
        for table, buckets in (record.get("breakdowns") or {}).items():
            declared = [str(b) for b in order.get(table) or []]
            for position, (bucket, values) in enumerate((buckets or {}).items()):
                rank = declared.index(str(bucket)) if str(bucket) in declared else len(declared) + position
                count = values.get("count")
                for metric, value in values.items():
                    if metric != "count" and isinstance(value, (int, float)):
                        rows.append(
                            {k: info[k] for k in ids}
                            | {"table": table, "bucket": str(bucket), "rank": rank, "metric": metric}
                            | {"value": float(value), "count": count}
                        )
    return pd.DataFrame(rows, columns=columns)


def runs_table(runs: Runs) -> pd.DataFrame:
    """One row per run: identity, main score, provenance (for the run view and the report appendix)."""
    rows = []
    for record, info in run_infos(runs):
        env, model = record.get("environment") or {}, record.get("model") or {}
        main = record["metrics"].get(record["main_metric"])
        rows.append(
            info
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
    """The predictions.jsonl(.gz) rows of a run; a bad line is a DataError naming file and line."""
    path = file_in_run_dir(record, record.get("predictions_file", "predictions.jsonl"))
    if not path.is_file():
        raise DataError(path, record["run_id"], "predictions file missing; re-run to produce it")
    rows = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
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
