"""The run record (`record.json`), defined once: the writer, the reader, the benchmark fixtures and
docs/architecture.md all follow these types.

Records are plain JSON objects; the TypedDicts below say which keys they hold and of what type.
`build_record` stamps the schema version, writes NaN and infinities as null and refuses a record that
does not fit; `record_problems` is the check the reader applies before trusting a record's contents.

Versions: 1 (the first release) and 2 (adds the optional `peak_rss_mb`, `model.display_name` and
`training.resumed_at_steps`; `wall_s` and `training.train_wall_s` add up over resumed sessions;
non-finite numbers are null). Every version-1 record is a valid version-2 record apart from the
number, so the reader accepts both.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal, TypedDict

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


class SplitInfo(TypedDict, total=False):
    path: str | None  # the file read (None for hub data)
    fingerprint: str | None  # "sha256:<hex>" of the file bytes, or the hub revision + split
    revision: str | None  # hub data set revision
    n_examples: int
    warnings: int  # examples skipped or repaired while reading


class DataInfo(TypedDict, total=False):
    source: str | None  # the name or path given with --data
    train: SplitInfo
    eval: SplitInfo


class _ModelRequired(TypedDict):
    name: str  # registered name or the folder given with --model


class ModelInfo(_ModelRequired, total=False):
    hub_id: str | None
    revision: str | None  # hub commit actually loaded
    path: str | None  # local folder loaded
    cased: bool
    casing_rule: str  # what decided `cased`: registry, vocabulary or tokenizer_config
    tokenizer: dict[str, Any]  # class, do_lower_case, strip_accents, vocab_size
    display_name: str | None  # label for tables and the dashboard (None: `name`)
    card_name: str | None  # a local folder's model card heading (spaneval pretrain writes one)
    objective: str | None  # the pretraining objective of a folder written by spaneval pretrain
    head: str  # where the task head started: "new", or "<transformers class> in the model folder"


class ConfigInfo(TypedDict, total=False):
    preset: str | None
    task: dict[str, Any]  # the task config, every field
    train: dict[str, Any]  # the fine-tuning config (spaneval.finetune.TrainConfig), every field


class TrainingInfo(TypedDict, total=False):
    train_features: int  # model inputs after encoding (windows, segments, instances)
    steps: int  # optimizer steps, all sessions
    examples_seen: int
    train_wall_s: float  # seconds in the training loop, all sessions
    final_loss: float | None
    best_step: int | None  # step of the weights kept when eval_every_steps selects them
    losses: list[float | None]  # mean loss of every step
    resumed_at_steps: list[int]  # the step each `--resume` continued from


class Environment(TypedDict, total=False):
    python: str
    platform: str
    torch: str
    transformers: str
    tokenizers: str
    numpy: str
    spaneval: str
    git_commit: str | None
    device: str  # cpu or cuda
    device_name: str  # CPU or GPU model
    num_processes: int
    cpu_count: int | None


# {table: {bucket: {metric or "count": value}}}
Breakdowns = dict[str, dict[str, dict[str, float | None]]]


class _RunRecordRequired(TypedDict):
    schema_version: int
    run_id: str  # the run directory's name
    task: str
    main_metric: str  # key in `metrics` shown on the leaderboard
    model: ModelInfo
    seed: int
    metrics: dict[str, float | None]  # official names and scales


class RunRecord(_RunRecordRequired, total=False):
    task_version: str
    name: str | None  # the `run --name` label
    higher_is_better: bool
    data: DataInfo
    config: ConfigInfo
    breakdowns: Breakdowns
    breakdown_order: dict[str, list[str]]  # each breakdown table's buckets in the task's order
    training: TrainingInfo
    predictions_file: str  # relative to the run directory
    environment: Environment
    command: str
    started_at: str  # ISO 8601, UTC
    wall_s: float  # whole run, all sessions (each up to its last checkpoint, the last one to the end)
    gpu_hours: float  # wall_s x processes / 3600 on GPU, else 0
    peak_rss_mb: float | None  # peak resident memory of the run's process


def build_record(**fields: Any) -> RunRecord:
    """A record of the current version from its fields; TypeError if a field has the wrong type
    (a bug in the writer, never the user's input)."""
    record = finite_or_null({"schema_version": SCHEMA_VERSION, **fields})
    problems = record_problems(record)
    if problems:
        raise TypeError(f"run record does not fit the schema: {'; '.join(problems)}")
    return typing.cast(RunRecord, record)


def finite_or_null(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def record_problems(record: Any) -> list[str]:
    """What in `record` does not fit RunRecord, one line per field ([] when it fits).
    Keys the schema does not know are allowed, so later versions' additions do not break reading."""
    return _problems(record, RunRecord, "")


def _problems(value: Any, tp: Any, where: str) -> list[str]:
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where or 'record'} is {_json_type(value)}, expected an object"]
        at = f"{where}." if where else ""
        missing = [f"{at}{k} is missing" for k in sorted(tp.__required_keys__) if k not in value]
        hints = typing.get_type_hints(tp)
        present = [k for k in hints if k in value]
        return missing + [p for k in present for p in _problems(value[k], hints[k], f"{at}{k}")]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where} is {_json_type(value)}, expected an object"]
        return _first([p for k, v in value.items() for p in _problems(v, args[1], f"{where}.{k}")])
    if origin is list:
        if not isinstance(value, list):
            return [f"{where} is {_json_type(value)}, expected a list"]
        return _first([p for i, v in enumerate(value) for p in _problems(v, args[0], f"{where}[{i}]")])
    if origin in (typing.Union, types.UnionType):
        if any(not _problems(value, a, where) for a in args):
            return []
        return [f"{where} is {_json_type(value)}, expected {' or '.join(_type_name(a) for a in args)}"]
    if _fits_scalar(value, tp):
        return []
    return [f"{where} is {_json_type(value)}, expected {_type_name(tp)}"]


def _first(problems: list[str]) -> list[str]:
    """One problem per container is enough to name it (a 10,000-step loss list stays one line)."""
    return problems[:1]


def _fits_scalar(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(tp) is Literal:
        return value in typing.get_args(tp)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    names = {type(None): "null", float: "a number", int: "an integer", str: "a string", bool: "a boolean"}
    return names.get(tp, "an object" if typing.get_origin(tp) is dict else getattr(tp, "__name__", str(tp)))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return names.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)
