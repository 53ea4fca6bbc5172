"""Sliding-window encoding of extractive QA examples for BERT-style encoders.

Each context is tokenized once (fast tokenizer, offsets on) and cut into windows of at most
`max_seq_len - len(question) - 3` context tokens. `doc_stride` is the step between window starts, as
in BERT's and SpanBERT's run_squad.py (not the overlap of Hugging Face's `stride=` argument):
windows start at 0, doc_stride, 2 * doc_stride, ... until one reaches the end of the context.

Packing: [CLS] question [SEP] passage [SEP] (segments 0 / 1) by default, as SpanBERT's released
run_squad.py (and BERT's) does. `passage_first=True` packs [CLS] passage [SEP] question [SEP]
(passage segment 0), the order the SpanBERT paper's text gives for QA (Sec. 4.1:
X = [CLS] p1..pl [SEP] q1..ql' [SEP]). Questions are truncated to `max_query_len` tokens.

Labels follow the standard convention: the token span covering the first positioned gold answer
when it lies entirely inside the window, else (and for unanswerable questions) the [CLS] index 0.
`max_context[i, j]` marks a context token whose window `i` gives it the most context (BERT's
`_check_is_max_context`: maximise min(left, right) + 0.01 * window length, first window on ties).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spaneval.errors import ConfigError


@dataclass(frozen=True)
class QAFeatures:
    """Encoded windows; every array has the window axis first (N windows, L = max_seq_len)."""

    input_ids: np.ndarray  # [N, L] int64
    attention_mask: np.ndarray  # [N, L] int64
    token_type_ids: np.ndarray  # [N, L] int64
    example_index: np.ndarray  # [N] int64, index into the encoded examples, non-decreasing
    context_offsets: np.ndarray  # [N, L, 2] int64 char [start, end) in the context; -1 off context
    max_context: np.ndarray  # [N, L] bool, context tokens whose best window is this one
    start_positions: np.ndarray | None  # [N] int64 gold start token (0 = [CLS]); None without labels
    end_positions: np.ndarray | None  # [N] int64 gold end token, inclusive

    def __len__(self) -> int:
        return len(self.example_index)

    def feature(self, i: int) -> dict[str, np.ndarray]:
        """Model inputs of window i (plus labels when encoded with them)."""
        out = {
            "input_ids": self.input_ids[i],
            "attention_mask": self.attention_mask[i],
            "token_type_ids": self.token_type_ids[i],
        }
        if self.start_positions is not None:
            out["start_positions"] = self.start_positions[i]
            out["end_positions"] = self.end_positions[i]
        return out

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.feature(i)


def window_starts(n_context_tokens: int, max_context_tokens: int, doc_stride: int) -> list[int]:
    """Start token of every window (BERT's doc_spans loop); one window for an empty context."""
    starts, start = [], 0
    while True:
        starts.append(start)
        if start + max_context_tokens >= n_context_tokens:
            return starts
        start += min(max_context_tokens, doc_stride)


def max_context_mask(starts: Sequence[int], length: int, n_tokens: int) -> np.ndarray:
    """[W, n_tokens] bool: window w is the max-context window of token t (first one on ties)."""
    pos = np.arange(n_tokens)[None, :]
    begin = np.asarray(starts)[:, None]
    end = np.minimum(begin + length, n_tokens)  # exclusive
    inside = (pos >= begin) & (pos < end)
    score = np.minimum(pos - begin, end - 1 - pos) + 0.01 * (end - begin)
    score = np.where(inside, score, -np.inf)
    best = np.argmax(score, axis=0)
    return (np.arange(len(starts))[:, None] == best[None, :]) & inside


def answer_token_span(offsets: np.ndarray, char_start: int, char_end: int) -> tuple[int, int] | None:
    """First and last context token (inclusive) overlapping the answer's chars [start, end)."""
    hit = np.nonzero((offsets[:, 1] > char_start) & (offsets[:, 0] < char_end))[0]
    if len(hit) == 0:
        return None
    return int(hit[0]), int(hit[-1])


def _answer_chars(example) -> tuple[int, int] | None:
    """Char [start, end) of the first positioned gold answer, without surrounding whitespace."""
    if example.is_impossible:
        return None
    for ans in example.answers:
        if ans.start >= 0 and ans.text.strip():
            lead = len(ans.text) - len(ans.text.lstrip())
            return ans.start + lead, ans.start + lead + len(ans.text.strip())
    return None


@dataclass(frozen=True)
class _Window:
    example: int
    start: int  # first context token of the window
    length: int  # context tokens in the window
    max_context: np.ndarray  # [length] bool


def _plan_windows(n_tokens: int, budget: int, doc_stride: int, example: int) -> list[_Window]:
    starts = window_starts(n_tokens, budget, doc_stride)
    mask = max_context_mask(starts, budget, n_tokens)
    return [
        _Window(example, s, min(budget, n_tokens - s), mask[w, s : s + budget]) for w, s in enumerate(starts)
    ]


@dataclass(frozen=True)
class _Tokenized:
    """Question ids (truncated) per example; ids and char offsets per distinct context."""

    questions: list[np.ndarray]
    context_of: list[int]  # example -> index of its context
    context_ids: list[np.ndarray]
    context_offsets: list[np.ndarray]  # [n_tokens, 2]


def _tokenize(examples: Sequence, tokenizer, max_query_len: int) -> _Tokenized:
    """Tokenize every question, and every distinct context once (with offsets)."""
    if not examples:
        return _Tokenized([], [], [], [])
    contexts: dict[str, int] = {}
    ctx_of = [contexts.setdefault(ex.context, len(contexts)) for ex in examples]
    plain = {"add_special_tokens": False, "return_attention_mask": False, "return_token_type_ids": False}
    q = tokenizer([ex.question for ex in examples], truncation=True, max_length=max_query_len, **plain)
    c = tokenizer(list(contexts), return_offsets_mapping=True, **plain)
    return _Tokenized(
        [np.asarray(ids, dtype=np.int64) for ids in q["input_ids"]],
        ctx_of,
        [np.asarray(ids, dtype=np.int64) for ids in c["input_ids"]],
        [np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in c["offset_mapping"]],
    )


def _label(window: _Window, answer: tuple[int, int] | None, ctx_at: int) -> tuple[int, int]:
    """Token positions of the answer inside the packed window, or (0, 0) ([CLS])."""
    if answer is None or answer[0] < window.start or answer[1] >= window.start + window.length:
        return 0, 0
    return answer[0] - window.start + ctx_at, answer[1] - window.start + ctx_at


def _check_lengths(max_seq_len: int, doc_stride: int, max_query_len: int) -> None:
    if doc_stride < 1 or max_query_len < 0 or max_seq_len - max_query_len - 3 < 1:
        raise ConfigError(
            f"need doc_stride >= 1 and max_seq_len - max_query_len - 3 >= 1 context tokens; got "
            f"max_seq_len={max_seq_len}, doc_stride={doc_stride}, max_query_len={max_query_len}"
        )


def _plan(examples: Sequence, tok: _Tokenized, max_seq_len: int, doc_stride: int, with_labels: bool):
    """All windows, and per example the answer's context-token span (None: unlabelled)."""
    windows, answers = [], []
    for i, ex in enumerate(examples):
        budget = max_seq_len - len(tok.questions[i]) - 3
        windows += _plan_windows(len(tok.context_ids[tok.context_of[i]]), budget, doc_stride, i)
        chars = _answer_chars(ex) if with_labels else None
        answers.append(
            None if chars is None else answer_token_span(tok.context_offsets[tok.context_of[i]], *chars)
        )
    return windows, answers


def _pack(
    windows: list[_Window], answers: list, tok: _Tokenized, tokenizer, max_seq_len: int, passage_first: bool
):
    """[N, L] ids, types, mask; [N, L, 2] offsets; [N, L] max-context; [N, 2] labels."""
    shape = (len(windows), max_seq_len)
    ids = np.full(shape, tokenizer.pad_token_id, dtype=np.int64)
    types, mask = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    offsets, max_ctx = np.full((*shape, 2), -1, dtype=np.int64), np.zeros(shape, dtype=bool)
    labels = np.zeros((len(windows), 2), dtype=np.int64)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    for w, win in enumerate(windows):
        ctx, c = slice(win.start, win.start + win.length), tok.context_of[win.example]
        question, passage = tok.questions[win.example], tok.context_ids[c][ctx]
        first, second = (passage, question) if passage_first else (question, passage)
        b, end = len(first) + 2, len(first) + len(second) + 3  # second segment start, packed length
        ids[w, 0], ids[w, b - 1], ids[w, end - 1] = cls_id, sep_id, sep_id
        ids[w, 1 : b - 1], ids[w, b : end - 1] = first, second
        types[w, b:end], mask[w, :end] = 1, 1
        ctx_at = 1 if passage_first else b
        offsets[w, ctx_at : ctx_at + win.length] = tok.context_offsets[c][ctx]
        max_ctx[w, ctx_at : ctx_at + win.length] = win.max_context
        labels[w] = _label(win, answers[win.example], ctx_at)
    return ids, types, mask, offsets, max_ctx, labels


def encode_windows(
    examples: Sequence,
    tokenizer,
    *,
    max_seq_len: int = 384,
    doc_stride: int = 128,
    max_query_len: int = 64,
    passage_first: bool = False,
    with_labels: bool = True,
) -> QAFeatures:
    """Encode QAExample-like objects (question, context, answers, is_impossible) into windows."""
    _check_lengths(max_seq_len, doc_stride, max_query_len)
    tok = _tokenize(examples, tokenizer, max_query_len)
    windows, answers = _plan(examples, tok, max_seq_len, doc_stride, with_labels)
    ids, types, mask, offsets, max_ctx, labels = _pack(
        windows, answers, tok, tokenizer, max_seq_len, passage_first
    )
    example_index = np.fromiter((win.example for win in windows), dtype=np.int64, count=len(windows))
    starts, ends = (labels[:, 0], labels[:, 1]) if with_labels else (None, None)
    return QAFeatures(ids, mask, types, example_index, offsets, max_ctx, starts, ends)
