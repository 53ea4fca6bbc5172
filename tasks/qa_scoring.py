"""Score decoded QA predictions: official SQuAD metrics, per-question rows and span-level analysis.

SQuAD v2.0 thresholds. The decoder gives, per question, its best non-null span and
`null_score_diff` = null score - best span score. With threshold t the prediction is "" when
null_score_diff > t. We report:
- the official metrics at the applied threshold (0, or `na_threshold` from the config), including
  best_exact/best_f1 exactly as the official v2.0 script computes them from the files we write
  (predictions.json + na_prob.json);
- `tuned_na_threshold`: the threshold maximising F1 when every question may switch between its
  span and no-answer (the official search can only blank more answers, never restore blanked ones),
  with `tuned_exact`/`tuned_f1` at it. It is saved with the run (na_threshold.json) so that
  `na_threshold=<value>` applies it to another split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spaneval.metrics.qa_analysis import BUCKET_ORDER, analysis_items, analyze
from spaneval.metrics.squad import aggregate_v1, aggregate_v2, find_best_thresh, score_v1, score_v2
from spaneval.tasks.base import Scores


def score_examples(
    examples: Sequence[Any], predictions: Sequence[Any], version_2: bool, na_threshold: float | None
) -> Scores:
    by_qid = {p.qid: p for p in predictions}
    threshold = 0.0 if na_threshold is None else na_threshold
    rows = [_row(ex, by_qid.get(ex.qid), version_2, threshold) for ex in examples]
    if not version_2:
        metrics = aggregate_v1(rows)
    else:
        metrics = aggregate_v2(rows, na_prob_thresh=float("inf"), best_thresh=True)
        metrics.update(_tuned(rows))
        metrics["na_threshold_applied"] = threshold
    preds = {r["id"]: r["prediction"] for r in rows}
    per_q = {r["id"]: (r["exact"], r["f1"]) for r in rows}
    spans = {r["id"]: (r["start_char"], r["end_char"]) if r["prediction"] else None for r in rows}
    breakdowns = analyze(analysis_items(examples, preds, per_q, spans))
    return Scores(metrics=metrics, per_example=rows, breakdowns=breakdowns, bucket_order=BUCKET_ORDER)


def _row(ex: Any, pred: Any, version_2: bool, threshold: float) -> dict[str, Any]:
    gold_texts = list(ex.gold_texts)
    span_text = pred.span_text if pred is not None else ""
    null_diff = float(pred.null_score_diff) if (pred is not None and version_2) else float("-inf")
    final = "" if (version_2 and null_diff > threshold) else span_text
    scorer = score_v2 if version_2 else score_v1
    exact, f1 = scorer(gold_texts, final)
    row = {
        "id": ex.qid,
        "title": ex.title,
        "question": ex.question,
        "context": ex.context,
        "gold": [{"text": a.text, "start": a.start} for a in ex.answers],
        "prediction": final,
        "start_char": pred.start_char if (pred is not None and final) else -1,
        "end_char": pred.end_char if (pred is not None and final) else -1,
        "nbest": list(pred.nbest) if pred is not None else [],
        "exact": exact,
        "f1": f1,
    }
    if version_2:
        span_exact, span_f1 = scorer(gold_texts, span_text)
        row.update(
            has_answer=not ex.is_impossible,
            null_score_diff=null_diff,
            na_prob=null_diff,
            pred_empty=not final,
            span_text=span_text,
            span_exact=span_exact,
            span_f1=span_f1,
        )
    return row


def _tuned(rows: list[dict]) -> dict[str, float]:
    """Two-sided threshold search: every question may take its span or no-answer."""
    switchable = [
        {**r, "exact": r["span_exact"], "f1": r["span_f1"], "pred_empty": not r["span_text"]} for r in rows
    ]
    tuned_f1, thresh = find_best_thresh(switchable, "f1")
    answered = [r for r in switchable if r["na_prob"] <= thresh]
    exact = sum(r["exact"] for r in answered if r["has_answer"]) + sum(
        1 for r in rows if r["na_prob"] > thresh and not r["has_answer"]
    )
    return {"tuned_na_threshold": thresh, "tuned_f1": tuned_f1, "tuned_exact": 100.0 * exact / len(rows)}
