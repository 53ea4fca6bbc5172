"""The small Task protocol every task module implements, and its TaskInfo record.

A task is a module-level object with an `info` record and seven plain methods. The runner
(`spaneval/runner.py`) calls them in order:

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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


class Task(Protocol):
    info: TaskInfo
    config_cls: type  # frozen dataclass with the task's options
    presets: dict[str, dict[str, Any]]  # preset name -> overrides of task and train fields

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


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes, as 'sha256:<hex>'."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def default_param_groups(model: Any, learning_rate: float, weight_decay: float) -> list[dict]:
    """AdamW groups as BERT does: no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm_or_bias = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        (no_decay if is_norm_or_bias else decay).append(param)
    return [
        {"params": decay, "lr": learning_rate, "weight_decay": weight_decay},
        {"params": no_decay, "lr": learning_rate, "weight_decay": 0.0},
    ]
