"""N-best span decoding for extractive QA, vectorised over all windows at once (numpy only).

Follows the decoding of BERT's / SpanBERT's run_squad.py and Hugging Face's
`postprocess_qa_predictions`:
- per window, the top `n_best` start and end positions by logit (over all positions, then filtered);
- a pair is valid when both ends are context tokens, the start is a max-context token of its window
  (`require_max_context`, as SpanBERT's code does), end >= start and the span has at most
  `max_answer_len` tokens; its score is start_logit + end_logit;
- per question, the best `n_best` valid pairs across its windows (ties keep window, start-rank,
  end-rank order), text cut from the original context via the token character offsets;
- SQuAD v2.0: the null score is the MINIMUM over the question's windows of the [CLS] start + end
  logits (as SpanBERT's code), `null_score_diff` = null score - best span score, and the prediction
  is "" when null_score_diff > `null_threshold`. The null entry is ranked into the n-best list (and
  appended when it falls outside it), as in the Hugging Face example.

Unlike SpanBERT's code, n-best texts are not de-duplicated (Hugging Face does not either). A
question with no valid span predicts "" with a best span score of 0.0 (the reference code's "empty"
placeholder), start_char = end_char = -1. Where logits tie exactly at the top-k boundary, the lower
position wins (the reference loops leave that to an unstable argsort).

The n-best lists are built on first access of any `QAPrediction.nbest` (all questions at once),
so evaluation loops that only need the answers do not pay for them.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from spaneval.tasks.qa_windows import QAFeatures


class _NBestTable:
    """The n-best entries of all questions (grouped by question, best first), as arrays; the dict
    lists are built once, on first use."""

    def __init__(self, contexts: list[str], example, score, char_start, char_end, probability):
        self._contexts, self._lists = contexts, None
        self._columns = (example, score, char_start, char_end, probability)

    def lists(self) -> list[tuple[dict, ...]]:
        if self._lists is None:
            with _no_cyclic_gc():
                self._lists = self._build()
        return self._lists

    def _build(self) -> list[tuple[dict, ...]]:
        example, *columns = self._columns
        context = np.array(self._contexts, dtype=object)[example].tolist()  # one reference per entry
        entries = [
            {"text": c[s:t], "start_char": s, "end_char": t, "score": sc, "probability": p}
            for c, sc, s, t, p in zip(context, *(column.tolist() for column in columns), strict=True)
        ]
        bounds = np.searchsorted(example, np.arange(len(self._contexts) + 1)).tolist()
        return [tuple(entries[a:b]) for a, b in itertools.pairwise(bounds)]


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building hundreds of thousands of small dicts: they
    hold no cycles, and the collections their allocation triggers cost about a third of the build."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class QAPrediction:
    """Decoded answer of one question; char offsets are [start, end) in its context."""

    qid: str
    text: str  # the prediction ("" when the null answer wins, v2.0)
    span_text: str  # best non-null span, whatever the threshold
    start_char: int  # of span_text, -1 when no valid span
    end_char: int
    score: float  # start + end logit of the best span
    null_score_diff: float | None  # null score - best span score (v2.0), else None
    _table: _NBestTable | None = field(default=None, repr=False, compare=False)
    _index: int = field(default=0, repr=False, compare=False)

    @property
    def nbest(self) -> tuple[dict, ...]:
        """{text, start_char, end_char, score, probability} entries, best first (null: text "", -1)."""
        return () if self._table is None else self._table.lists()[self._index]


def _take_rows(matrix: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[i, cols[i, j]] for a C-contiguous [N, L] matrix (flat indexing: faster than
    take_along_axis)."""
    rows = np.arange(len(cols), dtype=np.int64)[:, None] * matrix.shape[1]
    return matrix.reshape(-1)[rows + cols]


def _take_offsets(offsets: np.ndarray, cols: np.ndarray, side: int) -> np.ndarray:
    """offsets[i, cols[i, j], side] for C-contiguous [N, L, 2] offsets, without copying a plane."""
    rows = np.arange(len(cols), dtype=np.int64)[:, None] * offsets.shape[1]
    return offsets.reshape(-1)[(rows + cols) * 2 + side]


def _offset_at(offsets: np.ndarray, window: np.ndarray, position: np.ndarray, side: int) -> np.ndarray:
    """offsets[window[i], position[i], side] for C-contiguous [N, L, 2] offsets (flat indexing)."""
    return offsets.reshape(-1)[(window.astype(np.int64) * offsets.shape[1] + position) * 2 + side]


def top_k_positions(logits: np.ndarray, k: int) -> np.ndarray:
    """[N, k] positions of each row's k largest logits, largest first (ties: lower position first)."""
    n, length = logits.shape
    if k >= length:
        return np.argsort(-logits, axis=1, kind="stable").astype(np.int32)
    kth = np.partition(logits, length - k, axis=1)[:, length - k, None]  # the k-th largest value
    chosen = logits >= kth
    if np.count_nonzero(chosen) != n * k:  # ties at the k-th value: keep the lowest tied positions
        above = logits > kth
        chosen = above | (
            (logits == kth) & (np.cumsum(logits == kth, axis=1) <= k - above.sum(1, keepdims=True))
        )
    cols = (np.flatnonzero(chosen) % length).astype(np.int32).reshape(n, k)  # flat: faster than 2-D
    order = np.argsort(-_take_rows(logits, cols), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def valid_pairs(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    context_offsets: np.ndarray,
    max_context: np.ndarray | None,
    n_best: int,
    max_answer_len: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window, start, end, score) of the valid pairs among each window's top-k starts and ends that
    score at least the window's n_best-th best valid pair (nothing else can reach a question's
    n-best), in window / start-rank / end-rank order."""
    k = min(n_best, start_logits.shape[1])
    starts, ends = top_k_positions(start_logits, k), top_k_positions(end_logits, k)  # [N, k] int32
    start_ok = _take_offsets(context_offsets, starts, 0) >= 0
    if max_context is not None:
        start_ok &= _take_rows(max_context, starts)
    end_ok = _take_offsets(context_offsets, ends, 0) >= 0
    # Invalid ends and starts move far apart, so that one length test over the [N, k, k] pairs also
    # rejects them (end - start < 0 wraps to a huge unsigned value): one pass instead of three.
    far = np.int32(1 << 29)
    span = np.where(end_ok, ends, -far)[:, None, :] - np.where(start_ok, starts, far)[:, :, None]
    ok = (span.view(np.uint32) < max_answer_len).reshape(len(starts), k * k)  # (i, j) -> i * k + j
    pair_score = _take_rows(start_logits, starts)[:, :, None] + _take_rows(end_logits, ends)[:, None, :]
    flat = np.where(ok, pair_score.reshape(len(starts), k * k), -np.inf)
    if k * k > n_best:  # sort, not partition: partition slows down on the many -inf of invalid pairs
        ok &= flat >= np.sort(flat, axis=1)[:, k * k - n_best, None]
    window, pair = np.divmod(np.flatnonzero(ok), k * k)
    return window, starts[window, pair // k], ends[window, pair % k], flat[window, pair]


def _descending_key(score: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is the descending order of float32 `score` (no NaN)."""
    bits = (score + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into +0.0
    ascending = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31))
    return ~ascending


def rank_by_question(example: np.ndarray, score: np.ndarray, n_best: int) -> np.ndarray:
    """Indices of the best `n_best` candidates per question, grouped by question, best first.
    One stable sort on (question, descending score) keys: ties keep candidate order."""
    if score.dtype == np.float32:
        key = (example.astype(np.uint64) << np.uint64(32)) | _descending_key(score).astype(np.uint64)
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((-score, example))
    grouped = example[order]
    first = np.searchsorted(grouped, grouped, side="left")
    return order[np.arange(len(order)) - first < n_best]


def null_scores(start_logits: np.ndarray, end_logits: np.ndarray, example: np.ndarray, n: int) -> np.ndarray:
    """[n] per question: minimum over its windows of the [CLS] (index 0) start + end logits."""
    out = np.full(n, np.inf, dtype=np.float32)
    np.minimum.at(out, example, start_logits[:, 0] + end_logits[:, 0])
    return out


def _group_softmax(example: np.ndarray, score: np.ndarray) -> np.ndarray:
    if len(example) == 0:
        return np.zeros(0)
    new = np.r_[True, example[1:] != example[:-1]]
    first, group = np.flatnonzero(new), np.cumsum(new) - 1
    s = score.astype(np.float64)
    exp = np.exp(s - np.maximum.reduceat(s, first)[group])
    return exp / np.add.reduceat(exp, first)[group]


def _rank(example, score, char_start, char_end, nulls: np.ndarray | None, n_best: int):
    """(example, score, char_start, char_end) of the final n-best entries, grouped, best first.
    With `nulls` the null entry competes for the n-best and is appended when it falls outside."""
    if nulls is not None:
        has_windows = np.flatnonzero(np.isfinite(nulls))
        n_spans = len(example)
        example = np.r_[example, has_windows]
        score = np.r_[score, nulls[has_windows]]
        char_start = np.r_[char_start, np.full(len(has_windows), -1)]
        char_end = np.r_[char_end, np.full(len(has_windows), -1)]
    keep = rank_by_question(example, score, n_best)
    if nulls is not None:
        missing = np.setdiff1d(np.arange(n_spans, len(example)), keep, assume_unique=True)
        keep = np.r_[keep, missing]
        keep = keep[np.argsort(example[keep], kind="stable")]
    return example[keep], score[keep], char_start[keep], char_end[keep]


def _best_spans(example, score, char_start, char_end, n: int):
    """Per question the best non-null entry: (score, char_start, char_end); 0.0, -1, -1 if none."""
    best, c0, c1 = np.zeros(n, dtype=np.float32), np.full(n, -1), np.full(n, -1)
    spans = np.flatnonzero(char_start >= 0)
    questions, first = np.unique(example[spans], return_index=True)
    best[questions] = score[spans[first]]
    c0[questions], c1[questions] = char_start[spans[first]], char_end[spans[first]]
    return best, c0, c1


def decode(
    examples: Sequence,
    features: QAFeatures,
    start_logits: np.ndarray,  # [N, L] float32, one row per window of `features`
    end_logits: np.ndarray,  # [N, L]
    *,
    n_best: int = 20,
    max_answer_len: int = 30,
    version_2: bool = False,
    null_threshold: float = 0.0,
    require_max_context: bool = True,
) -> list[QAPrediction]:
    """One QAPrediction per example (QAExample-like: qid, context) from the windows' logits."""
    start_logits, end_logits = np.ascontiguousarray(start_logits), np.ascontiguousarray(end_logits)
    if np.isnan(start_logits).any() or np.isnan(end_logits).any():
        raise ValueError("start/end logits contain NaN; the model's outputs are not usable")
    offsets, n = features.context_offsets, len(examples)
    mc = features.max_context if require_max_context else None
    window, start, end, score = valid_pairs(start_logits, end_logits, offsets, mc, n_best, max_answer_len)
    nulls = null_scores(start_logits, end_logits, features.example_index, n) if version_2 else None
    ranked = _rank(
        features.example_index[window],
        score,
        _offset_at(offsets, window, start, 0),
        _offset_at(offsets, window, end, 1),
        nulls,
        n_best,
    )
    best_score, best_c0, best_c1 = _best_spans(*ranked, n)
    contexts = [ex.context for ex in examples]
    table = _NBestTable(contexts, *ranked, _group_softmax(ranked[0], ranked[1]))
    c0, c1 = best_c0.tolist(), best_c1.tolist()
    span_texts = [c[a:b] for c, a, b in zip(contexts, c0, c1, strict=True)]  # c[-1:-1] == "": no span
    if version_2:
        diffs = (nulls - best_score).tolist()
        texts = ["" if d > null_threshold else x for x, d in zip(span_texts, diffs, strict=True)]
    else:
        diffs, texts = itertools.repeat(None), span_texts
    with _no_cyclic_gc():
        return list(
            map(
                QAPrediction,
                [ex.qid for ex in examples],
                texts,
                span_texts,
                c0,
                c1,
                best_score.tolist(),
                diffs,
                itertools.repeat(table),
                range(n),
            )
        )


def apply_null_threshold(predictions: Sequence[QAPrediction], threshold: float) -> dict[str, str]:
    """{qid: text} with "" wherever null_score_diff > threshold (e.g. a best_f1_thresh from dev)."""
    return {
        p.qid: "" if p.null_score_diff is not None and p.null_score_diff > threshold else p.span_text
        for p in predictions
    }


def na_probs(predictions: Sequence[QAPrediction]) -> dict[str, float]:
    """{qid: null_score_diff}: the "na-prob" file the SQuAD v2.0 scorer's threshold search reads."""
    return {p.qid: float(p.null_score_diff) for p in predictions if p.null_score_diff is not None}


def predictions_json(predictions: Sequence[QAPrediction]) -> Mapping[str, str]:
    """{qid: text}, the official predictions file."""
    return {p.qid: p.text for p in predictions}


def nbest_json(predictions: Sequence[QAPrediction]) -> dict[str, list[dict]]:
    """{qid: n-best entries}, the content of the reference code's nbest_predictions.json."""
    return {p.qid: list(p.nbest) for p in predictions}
