"""The prediction rows of the relation tasks (one per instance: id, gold, predicted, tokens, subj,
obj, subj_type, obj_type): how they are resampled, shown and faked for benchmarks. The tasks differ
in their negative label, label inventory and scorer, given to `relation_rows`."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spaneval.example_display import short_label
from spaneval.metrics import relation as metrics
from spaneval.resampling import MetricSpec, f1_from, safe_ratio, unsupported_metric
from spaneval.tasks.base import SAMPLE_WORDS, PredictionRows, SampleRun


def resampling_for(negative: str) -> Callable[[str, Sequence[dict[str, Any]]], MetricSpec]:
    """The MetricSpecs of a relation task whose negative label is `negative`."""

    def resampling(metric: str, rows: Sequence[dict[str, Any]]) -> MetricSpec:
        if metric in ("micro_f1", "f1"):
            return micro_spec(metric, negative)
        if metric == "macro_f1":
            return semeval_macro_spec(metric, sorted({undirected(r["gold"]) for r in rows} - {negative}))
        raise unsupported_metric(metric, "relation", ["f1", "micro_f1", "macro_f1 (SemEval)"])

    return resampling


def micro_spec(metric: str, negative: str) -> MetricSpec:
    """Micro-F1 over all labels except the negative one, as the TACRED scorer: per instance
    [true positive, predicted positive, gold positive]; F1 = 2 tp / (pred + gold)."""

    def row_stats(row: dict[str, Any]) -> tuple[float, float, float]:
        gold, pred = row["gold"], row["predicted"]
        return float(gold == pred != negative), float(pred != negative), float(gold != negative)

    return MetricSpec(
        name=metric,
        row_stats=row_stats,
        from_sums=lambda s: 100 * safe_ratio(2 * s[..., 0], s[..., 1] + s[..., 2]),
        description=f"micro-F1 over all labels except {negative!r}",
    )


def semeval_macro_spec(metric: str, classes: Sequence[str]) -> MetricSpec:
    """SemEval-2010 Task 8 official score: macro F1 over the relations except Other, 9+1-way with
    direction: a right relation with the wrong direction counts as guessed but not correct."""

    def row_stats(row: dict[str, Any]) -> list[float]:
        gold, pred = row["gold"], row["predicted"]
        gold_class, pred_class = undirected(gold), undirected(pred) if pred else None
        return [
            x
            for c in classes
            for x in (float(gold == pred and gold_class == c), float(pred_class == c), float(gold_class == c))
        ]

    def from_sums(s: np.ndarray) -> np.ndarray:
        correct, guessed, actual = s[..., 0::3], s[..., 1::3], s[..., 2::3]
        f1 = f1_from(safe_ratio(correct, actual), safe_ratio(correct, guessed))
        return 100 * f1.mean(axis=-1)

    return MetricSpec(metric, row_stats, from_sums, "macro F1 over relations except Other (directed)")


def undirected(label: str) -> str:
    """'Cause-Effect(e2,e1)' -> 'Cause-Effect'."""
    return label.split("(", 1)[0]


def label(row: dict[str, Any]) -> str:
    return short_label(" ".join(str(t) for t in row.get("tokens") or []), row["id"])


def is_right(row: dict[str, Any]) -> bool:
    """The predicted label is the gold one."""
    return row.get("gold") == row.get("predicted")


def example_html(row: dict[str, Any]) -> str:
    """The sentence with subject (blue) and object (orange) marked, and gold vs predicted label."""
    tokens = row.get("tokens")
    verdict = "right" if is_right(row) else "wrong"
    labels = (
        f"<div>gold: <b>{html.escape(str(row.get('gold')))}</b> · predicted: "
        f"<b>{html.escape(str(row.get('predicted')))}</b> ({verdict})</div>"
    )
    if not tokens:
        return "<div><i>sentence not recorded in predictions.jsonl</i></div>" + labels
    marks = {"subj": row.get("subj"), "obj": row.get("obj")}
    colours = {"subj": "#aec7e8", "obj": "#ffbb78"}
    types = {"subj": row.get("subj_type"), "obj": row.get("obj_type")}
    out = []
    for i, token in enumerate(tokens):
        piece = html.escape(str(token))
        for role, span in marks.items():
            if span and span[0] <= i <= span[1]:
                piece = f"<span style='background:{colours[role]}'>{piece}</span>"
            if span and i == span[1]:
                piece += f"<sub>{role}{':' + html.escape(str(types[role])) if types[role] else ''}</sub>"
        out.append(piece)
    return f"<div style='line-height:1.9'>{' '.join(out)}</div>" + labels


def sampler(
    labels: Sequence[str], score: Callable[[list[str], list[str]], tuple[dict[str, float], float]]
) -> Callable[[np.random.Generator, float, int], SampleRun]:
    """Synthetic instances over `labels`; score(gold, predicted) gives (metrics, main metric value)."""

    def sample(rng: np.random.Generator, skill: float, n: int) -> SampleRun:
        rows = []
        for i in range(n):
            gold = str(rng.choice(labels))
            pred = gold if rng.random() < skill else str(rng.choice(labels))
            rows.append(
                {
                    "id": f"r{i}",
                    "tokens": list(rng.choice(SAMPLE_WORDS, size=8)),
                    "subj": [0, 1],
                    "obj": [4, 4],
                    "subj_type": "PERSON",
                    "obj_type": "TITLE",
                    "gold": gold,
                    "predicted": pred,
                }
            )
        gold, pred = [r["gold"] for r in rows], [r["predicted"] for r in rows]
        values, main = score(gold, pred)
        table = {"0-2": {"f1": main, "count": n // 2}, "3+": {"f1": main - 3, "count": n - n // 2}}
        breakdowns = {
            "f1_by_entity_distance": table,
            "confusion_matrix": metrics.confusion_matrix(gold, pred),
        }
        return SampleRun(rows, {k: float(v) for k, v in values.items()}, breakdowns)

    return sample


def relation_rows(
    negative: str,
    sample_labels: Sequence[str],
    sample_score: Callable[[list[str], list[str]], tuple[dict[str, float], float]],
) -> PredictionRows:
    """The PredictionRows of a relation task with this negative label; the sample's labels and scorer."""
    return PredictionRows(
        resampling_for(negative), label, is_right, example_html, sampler(sample_labels, sample_score)
    )
