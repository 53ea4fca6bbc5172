"""SQuAD v1.1 and v2.0 scoring, identical to the official evaluation scripts, split for bootstrapping.

Per-example scorers (`score_v1`, `score_v2`) turn one question's gold answer texts and predicted text
into `exact` (0/1) and `f1` (0..1); aggregators (`aggregate_v1`, `aggregate_v2`) turn a list of such
rows into the official metric dict on the official (percent) scale. A bootstrap resamples the rows
and calls the aggregator again.

The two official scripts differ, and each is followed exactly:
- v1.1 (`evaluate-v1.1.py`) takes the max over all gold texts, and its F1 is 0 whenever no token is
  shared (so an empty prediction scores F1 0 even against an empty gold text).
- v2.0 (`evaluate-v2.0.py`) drops gold texts that normalise to "" and, when none remain (an
  unanswerable question), scores against [""]; its F1 is 1 when both token lists are empty.
  `find_best_thresh` sweeps the no-answer probabilities in ascending order exactly as the script does.

One deliberate difference: a question without a prediction scores 0 in both versions and stays in
the totals (the v1.1 script does this; the v2.0 script drops it from `total` and then fails on the
HasAns/NoAns split).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, the articles a/an/the and extra whitespace (official)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """The normalised whitespace tokens of `text` (v2.0 `get_tokens`)."""
    return normalize_answer(text).split() if text else []


def exact_match(gold: str, prediction: str) -> int:
    """1 when the normalised texts are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def _overlap_f1(gold_tokens: list[str], pred_tokens: list[str]) -> float:
    num_same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def f1_v1(gold: str, prediction: str) -> float:
    """Token F1 of evaluate-v1.1.py: 0 when no normalised token is shared (also when both are empty)."""
    return _overlap_f1(normalize_answer(gold).split(), normalize_answer(prediction).split())


def f1_v2(gold: str, prediction: str) -> float:
    """Token F1 of evaluate-v2.0.py: when either side has no tokens, 1 if both have none, else 0."""
    gold_tokens, pred_tokens = answer_tokens(gold), answer_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    return _overlap_f1(gold_tokens, pred_tokens)


def score_v1(gold_texts: Sequence[str], prediction: str) -> tuple[int, float]:
    """(exact, f1) of one question, max over all gold texts (v1.1). No gold text scores (0, 0.0)."""
    if not gold_texts:
        return 0, 0.0
    exact = max(exact_match(g, prediction) for g in gold_texts)
    return exact, max(f1_v1(g, prediction) for g in gold_texts)


def v2_gold_texts(gold_texts: Iterable[str]) -> list[str]:
    """Gold texts as v2.0 scores them: those that normalise to non-empty, else [""] (no answer)."""
    kept = [g for g in gold_texts if normalize_answer(g)]
    return kept or [""]


def score_v2(gold_texts: Sequence[str], prediction: str) -> tuple[int, float]:
    """(exact, f1) of one question as v2.0 scores it; empty `gold_texts` means unanswerable."""
    golds = v2_gold_texts(gold_texts)
    exact = max(exact_match(g, prediction) for g in golds)
    return exact, max(f1_v2(g, prediction) for g in golds)


def aggregate_v1(rows: Sequence[Mapping]) -> dict[str, float]:
    """{'exact_match', 'f1'} in percent over rows with per-question 'exact' and 'f1'."""
    total = len(rows)
    if total == 0:
        return {"exact_match": 0.0, "f1": 0.0}
    return {
        "exact_match": 100.0 * sum(r["exact"] for r in rows) / total,
        "f1": 100.0 * sum(r["f1"] for r in rows) / total,
    }


def _thresholded(row: Mapping, key: str, na_prob_thresh: float) -> float:
    # apply_no_ans_threshold: above the threshold the question counts as answered "no answer".
    if row.get("na_prob", 0.0) > na_prob_thresh:
        return float(not row["has_answer"])
    return row[key]


def _eval_dict(rows: Sequence[Mapping], na_prob_thresh: float) -> dict[str, float]:
    total = len(rows)
    return {
        "exact": 100.0 * sum(_thresholded(r, "exact", na_prob_thresh) for r in rows) / total,
        "f1": 100.0 * sum(_thresholded(r, "f1", na_prob_thresh) for r in rows) / total,
        "total": total,
    }


def find_best_thresh(rows: Sequence[Mapping], key: str) -> tuple[float, float]:
    """(best score in percent, threshold) for `key` ('exact' or 'f1'), as the v2.0 script computes it.

    Rows need 'na_prob', 'has_answer', 'pred_empty' (the raw prediction is "") and `key`. Start from
    "every question predicted unanswerable", then switch questions to their predicted answer in
    ascending na_prob order (stable over the rows' order, like the script's sort of its na-prob dict).
    """
    cur_score = best_score = sum(1 for r in rows if not r["has_answer"])
    best_thresh = 0.0
    for row in sorted(rows, key=lambda r: r["na_prob"]):
        if row["has_answer"]:
            cur_score += row[key]
        elif not row["pred_empty"]:
            cur_score -= 1
        if cur_score > best_score:
            best_score, best_thresh = cur_score, row["na_prob"]
    return 100.0 * best_score / len(rows), best_thresh


def aggregate_v2(
    rows: Sequence[Mapping], na_prob_thresh: float = 1.0, best_thresh: bool = False
) -> dict[str, float]:
    """The v2.0 script's output dict over rows with 'exact', 'f1', 'has_answer' (and 'na_prob').

    With `best_thresh` (the script's --na-prob-file), rows also need 'na_prob' and 'pred_empty',
    and best_exact, best_exact_thresh, best_f1, best_f1_thresh are added.
    """
    if not rows:
        return {"exact": 0.0, "f1": 0.0, "total": 0}
    out = _eval_dict(rows, na_prob_thresh)
    for prefix, want in (("HasAns", True), ("NoAns", False)):
        subset = [r for r in rows if r["has_answer"] == want]
        if subset:
            out.update({f"{prefix}_{k}": v for k, v in _eval_dict(subset, na_prob_thresh).items()})
    if best_thresh:
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(rows, "exact")
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(rows, "f1")
    return out
