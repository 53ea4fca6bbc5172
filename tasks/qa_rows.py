"""The prediction rows of the QA tasks (one per question: id, question, context, gold, prediction,
start_char, end_char, nbest, exact, f1): how they are resampled, shown and faked for benchmarks."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from spaneval.example_display import highlight_spans, short_label
from spaneval.resampling import MetricSpec, safe_ratio, unsupported_metric
from spaneval.tasks.base import SAMPLE_WORDS, PredictionRows, SampleRun

COLUMNS = {"exact_match": "exact", "exact": "exact", "em": "exact", "f1": "f1"}  # metric -> row key


def resampling(metric: str, rows: Sequence[dict[str, Any]]) -> MetricSpec:
    """SQuAD EM or F1: per question [exact or f1 (0..1), 1]; metric = 100 * sum / count."""
    if metric not in COLUMNS:
        raise unsupported_metric(metric, "QA", sorted(COLUMNS))
    column = COLUMNS[metric]
    return MetricSpec(
        name=metric,
        row_stats=lambda row: (float(row[column]), 1.0),
        from_sums=lambda s: 100 * safe_ratio(s[..., 0], s[..., 1]),
        description=f"SQuAD {metric}: 100 x mean per-question {column}",
    )


def label(row: dict[str, Any]) -> str:
    return short_label(str(row.get("question", "")), row["id"])


def is_right(row: dict[str, Any]) -> bool:
    """Exact match."""
    return float(row.get("exact", 0)) >= 1


def prediction_span(row: dict[str, Any]) -> tuple[int, int] | None:
    """The predicted character span [start, end) in the context (end exclusive; an inclusive end
    is detected from the predicted text), or None for no answer."""
    start, end, text = row.get("start_char"), row.get("end_char"), row.get("prediction") or ""
    if not text or start is None or end is None:
        return None
    context = row.get("context", "")
    return (
        (start, end + 1) if context[start:end] != text and context[start : end + 1] == text else (start, end)
    )


QA_STYLES = {
    "gold": "background:#c7e9c0",
    "pred": "border-bottom:3px solid #d62728",
}


def gold_answers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The gold answers ({text, start}) of a QA row ("gold", as the runner writes it, or "answers")."""
    answers = row.get("gold", row.get("answers"))
    return answers if isinstance(answers, list) else []


def gold_spans(row: dict[str, Any]) -> list[tuple[str, tuple[int, int] | None]]:
    """Each distinct gold answer (text, character span [start, end) or None when it cannot be placed).

    An answer without a usable start offset is placed at the first occurrence of its text, so every
    gold answer shows, not only the annotated ones; answers repeated by several annotators count once.
    """
    context, out = row.get("context", ""), {}
    for answer in gold_answers(row):
        text = str(answer.get("text") or "")
        start = answer.get("start")
        if not isinstance(start, int) or start < 0 or context[start : start + len(text)] != text:
            start = context.find(text) if text else -1
        out.setdefault((text, start), (text, (start, start + len(text)) if start >= 0 and text else None))
    return list(out.values())


def example_html(row: dict[str, Any]) -> str:
    """Question, context with every gold answer (green, numbered at its end) and the prediction
    (red underline), verdict."""
    golds = gold_spans(row)
    spans = [span for _, span in golds if span]
    markers: dict[int, str] = {}
    for k, (_, span) in enumerate(golds, start=1):
        if span:
            markers[span[1]] = markers.get(span[1], "") + f"<sup style='color:#2ca02c'>{k}</sup>"
    pred = prediction_span(row)
    context = highlight_spans(
        row.get("context", ""), {"gold": spans, "pred": [pred] if pred else []}, QA_STYLES, markers
    )
    gold_text = (
        " · ".join(
            f"<sup>{k}</sup>{html.escape(text)}" + ("" if span else " <i>(not in the context)</i>")
            for k, (text, span) in enumerate(golds, start=1)
        )
        or "<i>no answer</i>"
    )
    prediction = html.escape(row.get("prediction") or "") or "<i>no answer</i>"
    return (
        f"<div><b>Question:</b> {html.escape(row.get('question', ''))}</div>"
        f"<div style='margin:8px 0;line-height:1.7'>{context}</div>"
        f"<div><span style='{QA_STYLES['gold']}'>gold</span>: {gold_text}</div>"
        f"<div><span style='{QA_STYLES['pred']}'>predicted</span>: {prediction} "
        f"(EM {float(row.get('exact', 0)):.0f}, F1 {float(row.get('f1', 0)):.2f})</div>"
    )


def sample(rng: np.random.Generator, skill: float, n: int) -> SampleRun:
    """n questions, right with probability `skill`, with the metrics and breakdowns of their rows."""
    rows, by_len = [], {}
    for i in range(n):
        context = " ".join(rng.choice(SAMPLE_WORDS, size=12))
        start = context.index(" ") + 1
        gold = context[start : start + 9]
        right = rng.random() < skill
        p_start = start if right else max(0, start - 4)
        pred = context[p_start : p_start + 9]
        exact = float(pred == gold)
        f1 = 1.0 if exact else float(rng.choice([0.0, 0.5]))
        nbest = [
            {"text": pred, "start_char": p_start, "end_char": p_start + 9, "score": 3.0, "probability": 0.7},
            {"text": gold, "start_char": start, "end_char": start + 9, "score": 2.0, "probability": 0.3},
        ]
        rows.append(
            {
                "id": f"q{i}",
                "question": "Who met whom **here**?",
                "context": context,
                "gold": [{"text": gold, "start": start}, {"text": context[: start - 1], "start": 0}],
                "prediction": pred,
                "start_char": p_start,
                "end_char": p_start + 9,
                "nbest": nbest,
                "exact": exact,
                "f1": f1,
            }
        )
        by_len.setdefault(str(1 + i % 3), []).append((exact, f1))
    metrics = {
        "exact_match": 100 * np.mean([r["exact"] for r in rows]),
        "f1": 100 * np.mean([r["f1"] for r in rows]),
    }
    table = {
        b: {
            "exact": 100 * np.mean([e for e, _ in v]),
            "f1": 100 * np.mean([f for _, f in v]),
            "count": len(v),
        }
        for b, v in sorted(by_len.items())
    }
    wrong = sum(r["exact"] == 0 for r in rows)
    # keys in alphabetical order, as a JSON tool might leave them: readers must use breakdown_order
    boundary = {"disjoint": wrong // 2, "exact": n - wrong, "start_off": wrong - wrong // 2}
    boundary_table = {k: {"count": v, "percent": 100 * v / n} for k, v in boundary.items() if v}
    breakdowns = {"f1_by_answer_length": table, "boundary_errors": boundary_table}
    return SampleRun(rows, {k: float(v) for k, v in metrics.items()}, breakdowns)


ROWS = PredictionRows(resampling, label, is_right, example_html, sample)
