"""Sliding-window encoding: structure, labels and max-context, as properties over random inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spaneval.errors import ConfigError
from spaneval.tasks.qa_data import Answer, QAExample, read_squad
from spaneval.tasks.qa_windows import encode_windows, max_context_mask, window_starts

VOCAB = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "vocab" / "bert-base-cased-vocab.txt"
WORDS = ["The", "Broncos", "beat", "unaffable", "naïve", "24–10", "Levi's", "1990s", "(NFL)", "at", "Ω", "x"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import BertTokenizerFast

    with open(VOCAB, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    assert tok.vocab_size == 28996 and tok.convert_tokens_to_ids("Broncos") == vocab["Broncos"]
    return tok


def _example(words, answer_at, answer_len, question_words, impossible=False):
    context = " ".join(words)
    start = len(" ".join(words[:answer_at])) + (1 if answer_at else 0)
    text = " ".join(words[answer_at : answer_at + answer_len])
    answers = () if impossible else (Answer(text, start),)
    return QAExample("q", "t", context, " ".join(question_words) + "?", answers, impossible)


@st.composite
def examples(draw):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=120))
    at = draw(st.integers(0, len(words) - 1))
    length = draw(st.integers(1, min(4, len(words) - at)))
    question = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=30))
    return _example(words, at, length, question)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ex=examples(),
    max_seq_len=st.integers(24, 64),
    doc_stride=st.integers(1, 24),
    passage_first=st.booleans(),
)
def test_windows_properties(tokenizer, ex, max_seq_len, doc_stride, passage_first):
    f = encode_windows(
        [ex],
        tokenizer,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_query_len=8,
        passage_first=passage_first,
    )
    assert f.input_ids.shape == (len(f), max_seq_len) and (f.example_index == 0).all()
    assert (f.input_ids[:, 0] == tokenizer.cls_token_id).all()
    n_sep = (f.input_ids == tokenizer.sep_token_id).sum(axis=1)
    assert (n_sep == 2).all()
    in_ctx = f.context_offsets[:, :, 0] >= 0
    q_len = min(8, len(tokenizer(ex.question, add_special_tokens=False)["input_ids"]))
    packed = f.attention_mask.sum(axis=1)
    assert (packed == in_ctx.sum(axis=1) + q_len + 3).all()
    assert (f.attention_mask == (np.arange(max_seq_len)[None, :] < packed[:, None])).all()
    assert (f.token_type_ids.sum(axis=1) == (q_len + 1 if passage_first else in_ctx.sum(axis=1) + 1)).all()
    assert (f.max_context <= in_ctx).all()
    # every context token is the max-context token of exactly one window
    n_context_tokens = len(tokenizer(ex.context, add_special_tokens=False)["input_ids"])
    assert f.max_context.sum() == n_context_tokens
    labelled = 0
    for w in range(len(f)):
        s, e = int(f.start_positions[w]), int(f.end_positions[w])
        if s == 0:
            assert e == 0
            continue
        labelled += 1
        assert in_ctx[w, s] and in_ctx[w, e] and s <= e
        assert ex.context[f.context_offsets[w, s, 0] : f.context_offsets[w, e, 1]] == ex.answers[0].text
    answer_tokens = len(tokenizer(ex.answers[0].text, add_special_tokens=False)["input_ids"])
    budget = max_seq_len - q_len - 3  # context tokens per window
    # consecutive windows overlap by budget - doc_stride tokens: an answer that fits in the overlap + 1
    # (or a context that fits in one window) lies whole inside some window
    if answer_tokens <= budget - doc_stride + 1 or n_context_tokens <= budget:
        assert labelled >= 1


def test_question_truncated_and_segments(tokenizer):
    ex = _example(["The", "Broncos", "beat", "x"], 1, 1, ["x"] * 100)
    f = encode_windows([ex], tokenizer, max_seq_len=40, max_query_len=10)
    ids = f.input_ids[0]
    assert ids[11] == tokenizer.sep_token_id  # [CLS] + 10 question tokens
    assert f.token_type_ids[0, :12].sum() == 0 and f.token_type_ids[0, 12] == 1
    assert tokenizer.convert_ids_to_tokens(int(ids[f.start_positions[0]])) == "Broncos"
    g = encode_windows([ex], tokenizer, max_seq_len=40, max_query_len=10, passage_first=True)
    assert g.context_offsets[0, 1, 0] == 0 and g.token_type_ids[0, 1] == 0
    assert tokenizer.convert_ids_to_tokens(int(g.input_ids[0, g.start_positions[0]])) == "Broncos"


def test_impossible_and_unlabelled(tokenizer):
    ex = _example(["The", "Broncos"], 0, 1, ["Who"], impossible=True)
    f = encode_windows([ex], tokenizer)
    assert f.start_positions.tolist() == [0] and f.end_positions.tolist() == [0]
    g = encode_windows([ex], tokenizer, with_labels=False)
    assert g.start_positions is None and "start_positions" not in g.feature(0)
    assert set(g[0]) == {"input_ids", "attention_mask", "token_type_ids"}


def test_window_starts_and_max_context():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(3, 4, 3) == [0]
    assert window_starts(0, 4, 3) == [0]
    mask = max_context_mask([0, 3, 6], 4, 10)
    # token 3: window 0 (left 3, right 0) vs window 1 (left 0, right 3): tie -> first window
    assert mask.sum(axis=0).tolist() == [1] * 10
    assert mask[:, 3].tolist() == [True, False, False] and mask[:, 4].tolist() == [False, True, False]


def test_bad_lengths(tokenizer):
    with pytest.raises(ConfigError, match="doc_stride"):
        encode_windows([], tokenizer, max_seq_len=64, max_query_len=64)


def test_real_sample_labels_decode_to_answers(tokenizer, bundled):
    examples, _ = read_squad(bundled / "squad" / "train-sample.json")
    f = encode_windows(examples, tokenizer)
    labelled = np.flatnonzero(f.start_positions > 0)
    assert len(set(f.example_index[labelled].tolist())) == len(examples)  # every answer fits a window
    same = 0
    for w in labelled:
        ex = examples[f.example_index[w]]
        s, e = f.start_positions[w], f.end_positions[w]
        text = ex.context[f.context_offsets[w, s, 0] : f.context_offsets[w, e, 1]]
        assert ex.answers[0].text.strip() in text
        same += text == ex.answers[0].text.strip()
    assert same / len(labelled) > 0.99


def test_no_examples(tokenizer):
    from spaneval.tasks.qa_decode import decode

    f = encode_windows([], tokenizer)
    assert len(f) == 0 and f.context_offsets.shape == (0, 384, 2)
    empty = np.zeros((0, 384), dtype=np.float32)
    assert decode([], f, empty, empty, version_2=True) == []
