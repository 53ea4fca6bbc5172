"""Span-level analysis of extractive QA predictions (pure functions over plain data).

Three tables, each {bucket: {...}}:
- `f1_by_answer_length`: EM/F1 (percent) and count by the length in words (whitespace split of the
  raw text) of the question's SHORTEST gold answer, in buckets "1", "2", "3-4", "5-7", "8+";
  unanswerable questions (SQuAD v2.0) go to "no_answer". The shortest answer is used because the
  official max-over-golds score is usually won by the tightest annotation.
- `f1_by_question_word`: EM/F1 and count by question word: the first of the question's lower-cased
  alphabetic tokens that is one of what/who/when/where/why/how/which (so "In what year ..." is
  "what" and "How many ..." is "how"); "other" when none occurs.
- `boundary_errors`: {"count", "percent"} per category, comparing the predicted character span with
  the best-matching gold span (largest character overlap, ties to the earlier gold answer); end
  offsets are exclusive. Categories, checked in this order: exact, start_off (same end),
  end_off (same start), prediction_inside_gold, gold_inside_prediction, both_off_overlapping,
  disjoint; for SQuAD v2.0 also correct_no_answer, false_no_answer (empty prediction on an
  answerable question) and false_answer (a span on an unanswerable one); "unlocated" when the
  prediction text or every gold answer could not be placed in the context.

When only prediction texts are known (the `score` command), `locate_prediction` places the text at
its occurrence nearest to the first located gold answer (the earliest such occurrence on a tie).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LENGTH_BUCKETS = ("1", "2", "3-4", "5-7", "8+", "no_answer")
QUESTION_WORDS = ("what", "who", "when", "where", "why", "how", "which")
BOUNDARY_CATEGORIES = (
    "exact",
    "start_off",
    "end_off",
    "prediction_inside_gold",
    "gold_inside_prediction",
    "both_off_overlapping",
    "disjoint",
    "correct_no_answer",
    "false_no_answer",
    "false_answer",
    "unlocated",
)

Span = tuple[int, int]  # character [start, end)


@dataclass(frozen=True)
class AnalysisItem:
    """One scored question: what the analysis needs, nothing model-specific."""

    question: str
    gold_texts: tuple[str, ...]
    gold_spans: tuple[Span, ...]  # located gold answers only
    has_answer: bool
    prediction: str
    pred_span: Span | None  # None when the prediction is empty or could not be located
    exact: float  # 0/1
    f1: float  # 0..1


def answer_length_bucket(gold_texts: Sequence[str]) -> str:
    """Bucket of the shortest gold answer's length in words; "no_answer" when there is none."""
    lengths = [len(t.split()) for t in gold_texts if t.split()]
    if not lengths:
        return "no_answer"
    n = min(lengths)
    if n <= 2:
        return str(n)
    return "3-4" if n <= 4 else "5-7" if n <= 7 else "8+"


def question_word(question: str) -> str:
    """The first wh-word among the question's alphabetic tokens, else "other"."""
    for token in re.findall(r"[a-z]+", question.lower()):
        if token in QUESTION_WORDS:
            return token
    return "other"


def locate_prediction(context: str, text: str, gold_spans: Sequence[Span]) -> Span | None:
    """Character span of `text` in `context`: the occurrence nearest the first gold start, or None."""
    if not text:
        return None
    found, pos = [], context.find(text)
    while pos != -1:
        found.append(pos)
        pos = context.find(text, pos + 1)
    if not found:
        return None
    anchor = gold_spans[0][0] if gold_spans else 0
    start = min(found, key=lambda p: (abs(p - anchor), p))
    return start, start + len(text)


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def span_relation(pred: Span, gold: Span) -> str:
    """Boundary category of a predicted span against one gold span (both [start, end))."""
    if pred == gold:
        return "exact"
    if pred[1] == gold[1]:
        return "start_off"
    if pred[0] == gold[0]:
        return "end_off"
    if gold[0] <= pred[0] and pred[1] <= gold[1]:
        return "prediction_inside_gold"
    if pred[0] <= gold[0] and gold[1] <= pred[1]:
        return "gold_inside_prediction"
    return "both_off_overlapping" if _overlap(pred, gold) > 0 else "disjoint"


def boundary_category(item: AnalysisItem) -> str:
    """The boundary-error category of one question (see the module docstring for the order)."""
    predicted_empty = not item.prediction.strip()
    if not item.has_answer:
        return "correct_no_answer" if predicted_empty else "false_answer"
    if predicted_empty:
        return "false_no_answer"
    if item.pred_span is None or not item.gold_spans:
        return "unlocated"
    best = max(item.gold_spans, key=lambda g: _overlap(item.pred_span, g) + (g == item.pred_span))
    return span_relation(item.pred_span, best)


def _score_table(items: Sequence[AnalysisItem], key_fn, buckets: Sequence[str]) -> dict:
    table: dict[str, dict[str, float]] = {}
    groups: dict[str, list[AnalysisItem]] = {b: [] for b in buckets}
    for item in items:
        groups[key_fn(item)].append(item)
    for bucket, members in groups.items():
        if members:
            n = len(members)
            table[bucket] = {
                "exact": 100.0 * sum(m.exact for m in members) / n,
                "f1": 100.0 * sum(m.f1 for m in members) / n,
                "count": n,
            }
    return table


def boundary_table(items: Sequence[AnalysisItem]) -> dict[str, dict[str, float]]:
    """{category: {"count", "percent"}} over the categories that occur, in BOUNDARY_CATEGORIES order."""
    counts = dict.fromkeys(BOUNDARY_CATEGORIES, 0)
    for item in items:
        counts[boundary_category(item)] += 1
    total = max(len(items), 1)
    return {c: {"count": n, "percent": 100.0 * n / total} for c, n in counts.items() if n}


# The order readers show each table in: lengths ascending, question words as listed, boundary errors
# from exact to furthest off, then the no-answer cases.
BUCKET_ORDER = {
    "f1_by_answer_length": LENGTH_BUCKETS,
    "f1_by_question_word": (*QUESTION_WORDS, "other"),
    "boundary_errors": BOUNDARY_CATEGORIES,
}


def analyze(items: Sequence[AnalysisItem]) -> dict[str, dict[str, dict[str, float]]]:
    """All three tables (BUCKET_ORDER's keys), each in its BUCKET_ORDER."""
    order = BUCKET_ORDER
    return {
        "f1_by_answer_length": _score_table(
            items, lambda i: answer_length_bucket(i.gold_texts), order["f1_by_answer_length"]
        ),
        "f1_by_question_word": _score_table(
            items, lambda i: question_word(i.question), order["f1_by_question_word"]
        ),
        "boundary_errors": boundary_table(items),
    }


def analysis_items(
    examples: Sequence,
    predictions: Mapping[str, str],
    scores: Mapping[str, tuple[float, float]],
    pred_spans: Mapping[str, Span | None] | None = None,
) -> list[AnalysisItem]:
    """AnalysisItems from QAExample-like objects (qid, context, question, answers, gold_texts, is_impossible).

    `scores` maps qid -> (exact, f1). Without `pred_spans` the prediction text is located in the
    context with `locate_prediction`. Questions without a prediction count as an empty prediction.
    """
    items = []
    for ex in examples:
        gold_spans = tuple((a.start, a.start + len(a.text)) for a in ex.answers if a.start >= 0)
        text = predictions.get(ex.qid, "")
        if pred_spans is not None:
            span = pred_spans.get(ex.qid)
        else:
            span = locate_prediction(ex.context, text, gold_spans)
        exact, f1 = scores.get(ex.qid, (0.0, 0.0))
        items.append(
            AnalysisItem(
                ex.question,
                tuple(ex.gold_texts),
                gold_spans,
                not ex.is_impossible and bool(ex.answers),
                text,
                span,
                exact,
                f1,
            )
        )
    return items
