"""Relation extraction metrics: the TACRED scorer, the SemEval-2010 Task 8 scorer, span breakdowns.

Pure functions over plain Python data (labels as strings). Each follows its official scorer:

- TACRED (Zhang et al. 2017, `scorer.py` of the TACRED release): micro precision, recall and F1
  over all relations except `no_relation`. A positive gold relation counts toward recall, a
  positive guess toward precision, whether or not the other side is `no_relation`. When nothing
  positive is guessed, precision is 1.0 (and F1 follows from it), exactly as the scorer does.
- SemEval-2010 Task 8 (`semeval2010_task8_scorer-v1.2.pl`): three evaluations (18+1-way with
  direction, 9+1-way ignoring direction, 9+1-way with direction taken into account); the official
  score is the macro F1 of the last one, excluding Other. Only labels present in the key are
  scored; a predicted label absent from the key counts like Other in the averages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

TACRED_NEGATIVE = "no_relation"
SEMEVAL_OTHER = "Other"
SEMEVAL_MODES = ("directed_19", "undirected_10", "directed_10")


def _ratio(num: float, den: float, empty: float = 0.0) -> float:
    return num / den if den else empty


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


# --- TACRED -----------------------------------------------------------------------------------


def tacred_example_counts(gold: str, predicted: str, negative: str = TACRED_NEGATIVE) -> dict[str, int]:
    """Per-example contribution to the TACRED micro counts: correct, guessed and gold (0 or 1 each)."""
    return {
        "correct": int(gold == predicted and gold != negative),
        "guessed": int(predicted != negative),
        "gold": int(gold != negative),
    }


def tacred_aggregate(rows: Iterable[Mapping[str, int]]) -> dict[str, float]:
    """Micro precision/recall/F1 (fractions) from per-example counts, with the scorer's edge cases."""
    correct = guessed = gold = 0
    for row in rows:
        correct, guessed, gold = correct + row["correct"], guessed + row["guessed"], gold + row["gold"]
    precision = _ratio(correct, guessed, empty=1.0)  # the official scorer: 1.0 when nothing guessed
    recall = _ratio(correct, gold)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def tacred_per_relation(
    gold: Sequence[str], predicted: Sequence[str], negative: str = TACRED_NEGATIVE
) -> dict[str, dict[str, float]]:
    """{relation: {precision, recall, f1 (percentages), correct, guessed, gold}} for positive relations.

    Same conventions as the scorer's verbose table (precision 1.0 when a relation is never
    guessed); it lists every positive relation seen in the gold labels or the predictions.
    """
    correct, guessed, gold_n = Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted, strict=True):
        guessed[p] += p != negative
        gold_n[g] += g != negative
        correct[g] += g == p and g != negative
    out = {}
    for rel in sorted((set(gold) | set(predicted)) - {negative}):
        precision = _ratio(correct[rel], guessed[rel], empty=1.0)
        recall = _ratio(correct[rel], gold_n[rel])
        out[rel] = {
            "precision": 100 * precision,
            "recall": 100 * recall,
            "f1": 100 * _f1(precision, recall),
            "correct": correct[rel],
            "guessed": guessed[rel],
            "gold": gold_n[rel],
        }
    return out


def confusion_matrix(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """{gold label: {predicted label: count}}, rows and columns sorted by label."""
    counts = Counter(zip(gold, predicted, strict=True))
    return {
        g: {p: counts[(g, p)] for p in sorted(set(predicted)) if counts[(g, p)]} for g in sorted(set(gold))
    }


def tacred_score(
    gold: Sequence[str], predicted: Sequence[str], negative: str = TACRED_NEGATIVE
) -> dict[str, object]:
    """The TACRED scorer's micro P/R/F1 (percentages), per-relation table and confusion matrix."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = zip(gold, predicted, strict=True)
    micro = tacred_aggregate(tacred_example_counts(g, p, negative) for g, p in pairs)
    return {
        "precision": 100 * micro["precision"],
        "recall": 100 * micro["recall"],
        "f1": 100 * micro["f1"],
        "per_relation": tacred_per_relation(gold, predicted, negative),
        "confusion": confusion_matrix(gold, predicted),
    }


# --- SemEval-2010 Task 8 ----------------------------------------------------------------------


def semeval_undirected(label: str) -> str:
    """'Cause-Effect(e2,e1)' -> 'Cause-Effect'; 'Other' stays 'Other'."""
    return label.split("(", 1)[0]


def _mode_label(label: str, mode: str) -> str:
    return label if mode == "directed_19" else semeval_undirected(label)


def _tally(pairs: Sequence[tuple[str, str | None]], mode: str) -> dict[str, Counter]:
    """Confusion cells, skipped and wrong-direction counts of one evaluation mode.

    pairs: (gold label, proposed label or None when the example was skipped).
    """
    cells, skip, xdir = Counter(), Counter(), Counter()
    for gold_label, proposed_label in pairs:
        gold = _mode_label(gold_label, mode)
        if proposed_label is None:
            skip[gold] += 1
            continue
        guess = _mode_label(proposed_label, mode)
        # (iii): right relation, wrong direction leaves the matrix for the xDIRx column
        if mode == "directed_10" and guess == gold and proposed_label != gold_label:
            xdir[gold] += 1
        else:
            cells[(gold, guess)] += 1
    return {"cells": cells, "skip": skip, "xdir": xdir}


def _relation_rows(tally: dict[str, Counter], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    cells, skip, xdir = tally["cells"], tally["skip"], tally["xdir"]
    rows = {}
    for rel in labels:
        correct = cells[(rel, rel)]
        guessed = sum(n for (_, p), n in cells.items() if p == rel) + xdir[rel]
        actual = sum(n for (g, _), n in cells.items() if g == rel) + skip[rel] + xdir[rel]
        precision, recall = _ratio(correct, guessed), _ratio(correct, actual)
        rows[rel] = {
            "precision": 100 * precision,
            "recall": 100 * recall,
            "f1": 100 * _f1(precision, recall),
            "correct": correct,
            "guessed": guessed,
            "actual": actual,
        }
    return rows


def _averages(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """Micro and macro P/R/F1 (percentages) over the relations except Other."""
    positive = [r for rel, r in rows.items() if rel != SEMEVAL_OTHER]
    correct = sum(r["correct"] for r in positive)
    micro_p = _ratio(correct, sum(r["guessed"] for r in positive))
    micro_r = _ratio(correct, sum(r["actual"] for r in positive))
    n = len(positive)
    return {
        "micro_precision": 100 * micro_p,
        "micro_recall": 100 * micro_r,
        "micro_f1": 100 * _f1(micro_p, micro_r),
        "macro_precision": _ratio(sum(r["precision"] for r in positive), n),
        "macro_recall": _ratio(sum(r["recall"] for r in positive), n),
        "macro_f1": _ratio(sum(r["f1"] for r in positive), n),
    }


def _accuracies(tally: dict[str, Counter], n_key: int) -> dict[str, float]:
    cells, skip, xdir = tally["cells"], tally["skip"], tally["xdir"]
    correct = sum(n for (g, p), n in cells.items() if g == p)
    covered = sum(cells.values()) + sum(xdir.values())
    return {
        "coverage": 100 * _ratio(covered, n_key),
        "accuracy": 100 * _ratio(correct, covered),
        "accuracy_skipped_as_wrong": 100 * _ratio(correct, n_key),
        "accuracy_skipped_as_other": 100 * _ratio(correct + skip[SEMEVAL_OTHER], n_key),
        "covered": covered,
        "correct": correct,
        "skipped": sum(skip.values()),
        "wrong_direction": sum(xdir.values()),
    }


def semeval_evaluation(pairs: Sequence[tuple[str, str | None]], mode: str) -> dict[str, object]:
    """One of the scorer's three evaluations (`mode` in SEMEVAL_MODES) as a dict of figures.

    pairs: (gold label, proposed label or None for a skipped example), one per key entry; this
    form also serves bootstrap resamples, where an example may occur more than once.
    """
    if mode not in SEMEVAL_MODES:
        raise ValueError(f"mode {mode!r} not in {SEMEVAL_MODES}")
    tally = _tally(pairs, mode)
    labels = sorted({_mode_label(gold, mode) for gold, _ in pairs})
    rows = _relation_rows(tally, labels)
    confusion = {g: {p: n for (gg, p), n in sorted(tally["cells"].items()) if gg == g} for g in labels}
    return {
        **_accuracies(tally, len(pairs)),
        **_averages(rows),
        "per_relation": rows,
        "confusion": confusion,
        "skipped_by_relation": dict(tally["skip"]),
        "wrong_direction_by_relation": dict(tally["xdir"]),
    }


def semeval_unknown_label_warnings(key: Mapping[str, str], proposed: Mapping[str, str]) -> list[str]:
    """The scorer's warnings for proposed labels that never occur in the key."""
    known = set(key.values())
    counts = Counter(label for label in proposed.values() if label not in known)
    # the scorer renames Other to _Other internally, and its warning shows that name
    return [
        f"The proposed file contains {n} label(s) of type '{'_Other' if label == SEMEVAL_OTHER else label}', "
        "which is NOT present in the key file."
        for label, n in sorted(counts.items())
    ]


def semeval_score(key: Mapping[str, str], proposed: Mapping[str, str]) -> dict[str, object]:
    """All figures of the official scorer; `official_macro_f1` is the task's official score.

    key, proposed: {sentence id: directed label}. Proposed may cover a subset (skipped examples);
    an id missing from the key is an error here (the caller names the file).
    """
    extra = sorted(set(proposed) - set(key), key=str)
    if extra:
        raise ValueError(f"predictions for ids not in the key: {', '.join(map(str, extra[:5]))}")
    pairs = [(gold, proposed.get(sent_id)) for sent_id, gold in key.items()]
    evaluations = {mode: semeval_evaluation(pairs, mode) for mode in SEMEVAL_MODES}
    return {
        "official_macro_f1": evaluations["directed_10"]["macro_f1"],
        "evaluations": evaluations,
        "warnings": semeval_unknown_label_warnings(key, proposed),
    }


# --- span-level breakdowns --------------------------------------------------------------------


_DISTANCE_UPPER_BOUNDS = ((0, "0"), (2, "1-2"), (5, "3-5"), (10, "6-10"), (20, "11-20"))
DISTANCE_BUCKETS = (*(name for _, name in _DISTANCE_UPPER_BOUNDS), "21+")


def distance_bucket(distance_tokens: int) -> str:
    """Bucket of the number of tokens between the two entities (one of DISTANCE_BUCKETS)."""
    for upper, name in _DISTANCE_UPPER_BOUNDS:
        if distance_tokens <= upper:
            return name
    return "21+"


def _bucket_order(bucket: str) -> tuple:
    """Numeric buckets ('0', '1-2', '21+') by their lower bound, then the others by name."""
    lead = re.match(r"\d+", bucket)
    return (0, int(lead.group()), bucket) if lead else (1, 0, bucket)


def micro_f1_breakdown(
    rows: Sequence[Mapping[str, object]],
    bucket_of: Callable[[Mapping[str, object]], str | None],
    negative: str,
) -> dict[str, dict[str, float]]:
    """{bucket: {precision, recall, f1 (percentages, TACRED micro rules), count}}.

    The same micro rules serve SemEval (negative = "Other", directed labels): per bucket the
    official macro average would rest on a handful of examples per relation.

    rows carry "gold" and "predicted" labels plus whatever `bucket_of` reads; rows whose bucket is
    None are left out.
    """
    groups: dict[str, list[dict[str, int]]] = {}
    for row in rows:
        bucket = bucket_of(row)
        if bucket is not None:
            counts = tacred_example_counts(str(row["gold"]), str(row["predicted"]), negative)
            groups.setdefault(bucket, []).append(counts)
    out = {}
    for bucket in sorted(groups, key=_bucket_order):
        micro = tacred_aggregate(groups[bucket])
        out[bucket] = {k: 100 * v for k, v in micro.items()} | {"count": len(groups[bucket])}
    return out
