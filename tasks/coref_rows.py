"""The prediction rows of the coreference task (one per document: id, sentences, gold_clusters,
predicted_clusters, counts): how they are resampled, shown and faked for benchmarks."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from spaneval.example_display import short_label
from spaneval.metrics import coref as metrics
from spaneval.resampling import MetricSpec, f1_from, safe_ratio, unsupported_metric
from spaneval.tasks.base import SAMPLE_WORDS, PredictionRows, SampleRun

COUNT_KEYS = ("recall_num", "recall_den", "precision_num", "precision_den")  # order of the count lists
RESAMPLED = ("conll_f1", *(f"{m}_f1" for m in metrics.CONLL_METRICS))
_CLUSTER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def document_counts(row: dict[str, Any], metric: str) -> list[float]:
    """[recall_num, recall_den, precision_num, precision_den] of one document for `metric`.

    Read from row["counts"][metric] or row[metric] (the form of metrics.coref.document_counts).
    """
    counts = row["counts"][metric] if "counts" in row else row[metric]
    if len(counts) != len(COUNT_KEYS):
        raise KeyError(f"{metric} ({', '.join(COUNT_KEYS)})")
    return [float(c) for c in counts]


def resampling(metric: str, rows: Sequence[dict[str, Any]]) -> MetricSpec:
    """CoNLL F1 or one of its parts, resampling documents: per document the recall and precision
    numerators and denominators of MUC, B-cubed and CEAF-e; each F1 is computed from the summed
    counts, as the reference scorer sums over documents, and CoNLL F1 is their mean."""
    if metric not in RESAMPLED:
        raise unsupported_metric(metric, "coref", RESAMPLED)
    parts = metrics.CONLL_METRICS if metric == "conll_f1" else (metric.removesuffix("_f1"),)

    def from_sums(s: np.ndarray) -> np.ndarray:
        f1s = [
            f1_from(
                safe_ratio(s[..., 4 * i], s[..., 4 * i + 1]),
                safe_ratio(s[..., 4 * i + 2], s[..., 4 * i + 3]),
            )
            for i in range(len(parts))
        ]
        return 100 * np.mean(f1s, axis=0)

    return MetricSpec(
        name=metric,
        row_stats=lambda row: [c for m in parts for c in document_counts(row, m)],
        from_sums=from_sums,
        description=f"{metric} from summed per-document counts of {', '.join(parts)} (documents resampled)",
    )


def label(row: dict[str, Any]) -> str:
    """The document id, else its opening words."""
    text = row.get("doc_id") or " ".join(str(t) for s in row.get("sentences", [])[:1] for t in s)
    return short_label(str(text), row["id"])


def is_right(row: dict[str, Any]) -> bool:
    """The predicted clusters equal the gold clusters."""
    return _cluster_set(row.get("gold_clusters", [])) == _cluster_set(row.get("predicted_clusters", []))


def _cluster_set(clusters: Sequence) -> frozenset:
    return frozenset(frozenset(tuple(m) for m in cluster) for cluster in clusters)


def mention_errors(gold: Sequence, predicted: Sequence) -> dict[tuple[int, int], str]:
    """Per predicted or gold mention: 'missed' (gold only), 'spurious' (predicted only),
    'wrong link' (in both, but its predicted cluster shares no other mention with its gold one)."""
    gold_of = {tuple(m): i for i, c in enumerate(gold) for m in c}
    pred_of = {tuple(m): i for i, c in enumerate(predicted) for m in c}
    errors = {m: "missed" for m in gold_of if m not in pred_of}
    errors |= {m: "spurious" for m in pred_of if m not in gold_of}
    for m in gold_of.keys() & pred_of.keys():
        gold_mates = {tuple(x) for x in gold[gold_of[m]]} - {m}
        pred_mates = {tuple(x) for x in predicted[pred_of[m]]} - {m}
        if pred_mates and not gold_mates & pred_mates:
            errors[m] = "wrong link"
    return errors


COREF_LEGEND = (
    "<div style='color:#666;font-size:0.85em'>[ ]<sub>k</sub>: predicted cluster k · dotted: gold mention "
    "the model missed · <span style='color:#d62728'>spurious</span>: predicted mention not in the gold "
    "annotation · <span style='color:#d62728'>wrong link</span>: mention found, but clustered with "
    "none of its gold coreferents</div>"
)


def example_html(row: dict[str, Any]) -> str:
    """The document with predicted clusters as coloured brackets (cluster number as subscript);
    errors marked: missed gold mentions dotted grey, spurious and wrongly linked ones in red."""
    tokens = [t for sentence in row.get("sentences", []) for t in sentence]
    predicted, gold = row.get("predicted_clusters", []), row.get("gold_clusters", [])
    errors = mention_errors(gold, predicted)
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for k, cluster in enumerate(predicted):
        colour = _CLUSTER_COLOURS[k % len(_CLUSTER_COLOURS)]
        for start, end in cluster:
            error = errors.get((start, end))
            mark = f"<b style='color:{colour}'>[</b>"
            opens.setdefault(start, []).append(mark)
            flag = f"<sup style='color:#d62728'>{html.escape(error)}</sup>" if error else ""
            closes.setdefault(end, []).append(f"<b style='color:{colour}'>]<sub>{k}</sub></b>{flag}")
    for (start, end), error in errors.items():
        if error == "missed":
            opens.setdefault(start, []).append("<span style='border-bottom:2px dotted #888' title='missed'>")
            closes.setdefault(end, []).insert(0, "<sup style='color:#888'>missed</sup></span>")
    out, boundaries = [], _sentence_ends(row.get("sentences", []))
    for i, token in enumerate(tokens):
        out.append("".join(opens.get(i, [])) + html.escape(str(token)) + "".join(closes.get(i, [])))
        if i in boundaries:
            out.append("<br>")
    return f"<div style='line-height:2'>{' '.join(out)}</div>{COREF_LEGEND}"


def _sentence_ends(sentences: Sequence[Sequence[str]]) -> set[int]:
    ends, total = set(), 0
    for sentence in sentences:
        total += len(sentence)
        ends.add(total - 1)
    return ends


def sample(rng: np.random.Generator, skill: float, n: int) -> SampleRun:
    """n documents with real per-document counts from spaneval.metrics.coref (row["counts"])."""
    rows = []
    for i in range(n):
        sentences = [list(rng.choice(SAMPLE_WORDS, size=6)) for _ in range(2)]
        gold = [[[0, 0], [6, 7]], [[2, 3], [9, 9]]]
        pred = [c for c in gold if rng.random() < skill] + [[[4, 4], [10, 10]]]
        counts = metrics.document_counts(_mentions(gold), _mentions(pred))
        rows.append(
            {
                "id": f"doc{i}",
                "sentences": sentences,
                "gold_clusters": gold,
                "predicted_clusters": pred,
                "counts": counts,
            }
        )
    scores = metrics.aggregate(metrics.sum_counts(r["counts"] for r in rows))
    values = {f"{m}_f1": 100 * scores[m]["f1"] for m in metrics.CONLL_METRICS}
    values["conll_f1"] = 100 * scores["conll_f1"]
    conll = values["conll_f1"]
    table = {"1": {"f1": conll, "count": n}, "2": {"f1": conll - 5, "count": n}}
    return SampleRun(rows, {k: float(v) for k, v in values.items()}, {"f1_by_mention_length": table})


def _mentions(clusters):
    return [[tuple(m) for m in cluster] for cluster in clusters]


def _mentions(clusters):
    return [[tuple(m) for m in cluster] for cluster in clusters]


ROWS = PredictionRows(resampling, label, is_right, example_html, sample)
