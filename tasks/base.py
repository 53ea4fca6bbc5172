"""The small Task protocol every task module implements, and its TaskInfo record.

A task is an instance of its module's task class, with an `info` record; the runner
(`spaneval/runner.py`) calls its methods in order:

    split = task.load(source, "train", cfg)            -> DataSplit (validated examples + fingerprint)
    tokenizer = task.prepare_tokenizer(tokenizer, cfg)  (e.g. add entity-mask tokens; else unchanged)
    features = task.encode(split.examples, tokenizer, cfg, train=True)
    model = task.build_model(encoder, tokenizer, cfg)   -> nn.Module whose forward(**batch) returns a
                                                           dict with "loss" when labels are present
    groups = task.param_groups(model, train_cfg)        -> AdamW parameter groups
    outputs = [model(**task.collate(chunk)) ...]        (tensors moved to numpy by the runner)
    predictions = task.decode(examples, features, outputs, cfg)
    scores = task.score(examples, predictions, cfg)     -> Scores
    task.write_predictions(out_dir, examples, predictions, scores)

Shared code that reads a finished run asks the task too: `task.rows` (a PredictionRows) says how
its predictions.jsonl rows are resampled, shown in the dashboard and faked for benchmarks, and
`task.score_files(options)` is its `spaneval score` subcommand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spaneval.errors import SpanevalError


@dataclass(frozen=True)
class TaskInfo:
    """Declarative description of a task (mteb-style)."""

    name: str
    version: str  # bump whenever reading, encoding, decoding or scoring changes results
    description: str
    main_metric: str  # key in Scores.metrics shown on the leaderboard
    data_sources: tuple[str, ...]  # named sources (e.g. "bundled", "hub"); a path always works too
    default_data: str
    citation: str = ""
    higher_is_better: bool = True
    metric_scale: str = "percent"  # of main_metric (0-100, as the official scorers print); printed with it


@dataclass(frozen=True)
class DataSplit:
    """Validated examples of one split, with what is needed to record where they came from."""

    examples: Sequence[Any]
    source: str  # the name or path the user gave
    path: str | None  # file actually read (None for hub data sets)
    fingerprint: str  # sha256 of the file bytes or the hub revision + split
    revision: str | None = None  # hub data set revision
    warnings: tuple[str, ...] = ()


@dataclass
class Scores:
    """What a task's scorer returns: official metrics, per-example scores and span-level breakdowns.

    metrics: official key names on the official scale (e.g. SQuAD percentages).
    per_example: one dict per scored unit (question, document, relation instance) with "id" and the
        values an aggregator needs to recompute the metrics on a resample (bootstrap).
    breakdowns: {table name: {bucket: {metric: value, "count": n}}}.
    bucket_order: {table name: buckets in the order a reader should see them (by meaning or size)},
        declared by each task beside the code that computes its breakdowns; runs omit empty buckets,
        so the order cannot be read back from one record's keys.
    """

    metrics: dict[str, float]
    per_example: list[dict[str, Any]] = field(default_factory=list)
    breakdowns: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    bucket_order: dict[str, tuple[str, ...]] = field(default_factory=dict)


# Words of synthetic examples; HTML and markdown on purpose, to check they are shown escaped.
SAMPLE_WORDS = (
    "the", "river", "ran", "past", "the", "old", "mill", "where", "Anna", "met", "her", "brother", "in",
    "<b>May</b>", "*1901*", "|", "`x`",
)  # fmt: skip


@dataclass(frozen=True)
class SampleRun:
    """Synthetic prediction rows of one run and the metrics the task's scorer gives them."""

    rows: list[dict[str, Any]]
    metrics: dict[str, float]
    breakdowns: dict[str, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class PredictionRows:
    """What a task declares about its rows of predictions.jsonl (Scores.per_example), for shared code.

    resampling(metric, rows): the stats.MetricSpec that recomputes `metric` from these rows
        (bootstrap and significance tests); an unsupported metric names the supported ones.
    label(row): how the example is named in the dashboard's picker.
    is_right(row): whether the prediction is right as a whole (the browser's filters).
    html(row): the example as escaped HTML for the dashboard's example browser.
    sample(rng, skill, n): synthetic rows scored by the task's own scorer (benchmarks, tests).
    """

    resampling: Callable[[str, Sequence[dict[str, Any]]], Any]
    label: Callable[[dict[str, Any]], str]
    is_right: Callable[[dict[str, Any]], bool]
    html: Callable[[dict[str, Any]], str]
    sample: Callable[[Any, float, int], SampleRun]


class Task(Protocol):
    info: TaskInfo
    config_cls: type  # frozen dataclass with the task's options
    presets: dict[str, dict[str, Any]]  # preset name -> overrides of task and train fields
    rows: PredictionRows
    score_options: tuple[str, ...]  # `spaneval score` options the task needs (e.g. "data", "predictions")

    def load(self, source: str | None, split: str, cfg: Any) -> DataSplit: ...

    def prepare_tokenizer(self, tokenizer: Any, cfg: Any) -> Any: ...

    def encode(self, examples: Sequence[Any], tokenizer: Any, cfg: Any, train: bool) -> Sequence[dict]: ...

    def collate(self, features: Sequence[dict]) -> dict[str, Any]: ...

    def build_model(self, encoder: Any, tokenizer: Any, cfg: Any) -> Any: ...

    def param_groups(self, model: Any, train_cfg: Any) -> list[dict]: ...

    def decode(
        self, examples: Sequence[Any], features: Sequence[dict], outputs: list[dict], cfg: Any
    ) -> list: ...

    def score(self, examples: Sequence[Any], predictions: list, cfg: Any) -> Scores: ...

    def write_predictions(
        self, out_dir: Path, examples: Sequence[Any], predictions: list, scores: Scores
    ) -> None: ...

    def score_files(self, options: dict[str, Any]) -> dict[str, Any]: ...


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes, as 'sha256:<hex>'."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def files_fingerprint(paths: Sequence[str | Path]) -> str:
    """One file's fingerprint, or for several the sha256 of their fingerprints joined in order."""
    if len(paths) == 1:
        return file_fingerprint(paths[0])
    return combined_fingerprint(*(file_fingerprint(p) for p in paths))


def combined_fingerprint(*fingerprints: str) -> str:
    """One fingerprint, or the sha256 of several joined by '+' (e.g. a data file and its label patch)."""
    if len(fingerprints) == 1:
        return fingerprints[0]
    return "sha256:" + hashlib.sha256("+".join(fingerprints).encode()).hexdigest()


def require_fast_tokenizer(tokenizer: Any, task: str, needs: str) -> Any:
    """The tokenizer, if it is a fast one; `needs` says what the task uses it for."""
    if not getattr(tokenizer, "is_fast", False):
        raise SpanevalError(f"{task} needs a fast tokenizer ({needs}); this model has a slow one")
    return tokenizer


def unknown_source(task: TaskInfo, source: str, what: str = "a file path") -> SpanevalError:
    """The error for a data source that is neither a named source nor an existing path."""
    known = ", ".join(task.data_sources)
    return SpanevalError(f"{task.name}: no data source {source!r} (known: {known}, or {what})")
