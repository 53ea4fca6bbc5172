"""N-best decoding: properties over random logits, hand-built null-answer cases, and agreement with
the per-window reference loop of the benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spaneval.bench.qa_decode import baseline_decode, baseline_inputs, bench_logits
from spaneval.tasks.qa_data import Answer, QAExample, read_squad
from spaneval.tasks.qa_decode import apply_null_threshold, decode, na_probs, predictions_json
from spaneval.tasks.qa_windows import QAFeatures, encode_windows

VOCAB = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "vocab" / "bert-base-cased-vocab.txt"
WORDS = ["The", "Broncos", "beat", "unaffable", "naïve", "24–10", "(NFL)", "at", "x"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import BertTokenizerFast

    with open(VOCAB, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    return BertTokenizerFast(vocab=vocab, do_lower_case=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contexts=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=80), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    max_answer_len=st.integers(1, 6),
    version_2=st.booleans(),
)
def test_decoded_spans_lie_in_context_and_respect_length(
    tokenizer, contexts, seed, max_answer_len, version_2
):
    examples = [QAExample(f"q{i}", "t", " ".join(w), "Who?", (), True) for i, w in enumerate(contexts)]
    f = encode_windows(examples, tokenizer, max_seq_len=32, doc_stride=7, max_query_len=4)
    rng = np.random.default_rng(seed)
    start, end = (rng.standard_normal(f.input_ids.shape).astype(np.float32) for _ in range(2))
    preds = decode(examples, f, start, end, n_best=5, max_answer_len=max_answer_len, version_2=version_2)
    assert [p.qid for p in preds] == [ex.qid for ex in examples]
    for ex, p in zip(examples, preds, strict=True):
        offsets = np.asarray(
            tokenizer(ex.context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        )
        spans = [e for e in p.nbest if e["start_char"] >= 0]
        assert len(spans) <= 5 and len(p.nbest) <= 5 + version_2
        assert [e["score"] for e in p.nbest] == sorted(
            (e["score"] for e in p.nbest), reverse=True
        ) or version_2
        if p.nbest:
            assert sum(e["probability"] for e in p.nbest) == pytest.approx(1.0)
        for e in spans:
            assert 0 <= e["start_char"] < e["end_char"] <= len(ex.context)
            assert e["text"] == ex.context[e["start_char"] : e["end_char"]]
            inside = (offsets[:, 0] >= e["start_char"]) & (offsets[:, 1] <= e["end_char"])
            assert 1 <= inside.sum() <= max_answer_len
        if p.start_char >= 0:
            assert p.span_text == ex.context[p.start_char : p.end_char] == spans[0]["text"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contexts=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=60), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    n_best=st.integers(1, 12),
    max_answer_len=st.sampled_from([1, 2, 5, 30, 10_000]),  # 10,000: longer than any window
    version_2=st.booleans(),
)
def test_random_logits_decode_like_the_reference_loop(
    tokenizer, contexts, seed, n_best, max_answer_len, version_2
):
    examples = [QAExample(f"q{i}", "t", " ".join(w), "Who?", (), True) for i, w in enumerate(contexts)]
    f = encode_windows(examples, tokenizer, max_seq_len=32, doc_stride=7, max_query_len=4)
    rng = np.random.default_rng(seed)
    start, end = (rng.standard_normal(f.input_ids.shape).astype(np.float32) for _ in range(2))
    options = {"n_best": n_best, "max_answer_len": max_answer_len, "version_2": version_2}
    ours = decode(examples, f, start, end, **options)
    texts, nbests = baseline_decode(examples, *baseline_inputs(f), start, end, **options)
    assert {p.qid: p.text for p in ours} == texts
    for p in ours:
        assert [(e["text"], e["score"]) for e in p.nbest] == [(e["text"], e["score"]) for e in nbests[p.qid]]


def _features(n_windows: int, length: int, example_index: list[int], context_len: int) -> QAFeatures:
    """Hand-built windows: positions 2.. are context tokens of one char each (offset = position)."""
    shape = (n_windows, length)
    offsets = np.full((*shape, 2), -1, dtype=np.int64)
    for p in range(2, length):
        offsets[:, p] = (p - 2, p - 1) if p - 2 < context_len else (-1, -1)
    zeros = np.zeros(shape, dtype=np.int64)
    return QAFeatures(
        zeros, zeros, zeros, np.asarray(example_index), offsets, offsets[:, :, 0] >= 0, None, None
    )


def test_null_score_is_min_over_windows_and_threshold():
    ex = QAExample("q", "t", "abcdef", "?", (Answer("c", 2),), False)
    f = _features(2, 8, [0, 0], 6)
    start, end = np.zeros((2, 8), np.float32), np.zeros((2, 8), np.float32)
    start[0, 0], end[0, 0] = 3.0, 3.0  # window 0 null score 6
    start[1, 0], end[1, 0] = 1.0, 1.0  # window 1 null score 2 -> the minimum
    start[1, 4], end[1, 5] = 2.0, 1.5  # best span: chars 2..4 "cd", score 3.5
    (p,) = decode([ex], f, start, end, version_2=True)
    assert (p.span_text, p.start_char, p.end_char, p.score) == ("cd", 2, 4, 3.5)
    assert p.null_score_diff == pytest.approx(2.0 - 3.5)
    assert p.text == "cd"  # -1.5 <= threshold 0
    (q,) = decode([ex], f, start, end, version_2=True, null_threshold=-2.0)
    assert q.text == ""
    assert apply_null_threshold([p], -2.0) == {"q": ""} and apply_null_threshold([p], 0.0) == {"q": "cd"}
    assert na_probs([p]) == {"q": pytest.approx(-1.5)} and predictions_json([q]) == {"q": ""}
    assert any(e["text"] == "" and e["start_char"] == -1 for e in p.nbest)


def test_max_context_and_no_valid_span():
    ex = QAExample("q", "t", "abcdef", "?", (), True)
    f = _features(1, 8, [0], 6)
    start, end = np.zeros((1, 8), np.float32), np.zeros((1, 8), np.float32)
    start[0, 3], end[0, 3] = 5.0, 5.0
    f.max_context[0, 3] = False
    (p,) = decode([ex], f, start, end, n_best=1)  # top-1 start is not a max-context token
    assert (p.text, p.start_char, p.score, p.nbest) == ("", -1, 0.0, ())
    (q,) = decode([ex], f, start, end, n_best=1, require_max_context=False)
    assert q.text == "b"
    (r,) = decode([ex], f, start, end, n_best=1, version_2=True)
    assert r.null_score_diff == 0.0 and [e["text"] for e in r.nbest] == [""]


@pytest.mark.parametrize("profile", ["gaussian", "peaked"])
@pytest.mark.parametrize("version_2", [False, True])
def test_identical_to_reference_loop(tokenizer, bundled, profile, version_2):
    examples, _ = read_squad(bundled / "squad" / "dev-v2-sample.json")
    f = encode_windows(examples, tokenizer, max_seq_len=128, doc_stride=32)
    start, end = bench_logits(np.random.default_rng(7), f, profile)
    ours = decode(examples, f, start, end, version_2=version_2)
    texts, nbests = baseline_decode(examples, *baseline_inputs(f), start, end, version_2=version_2)
    assert {p.qid: p.text for p in ours} == texts
    for p in ours:
        assert [(e["text"], e["score"]) for e in p.nbest] == [(e["text"], e["score"]) for e in nbests[p.qid]]
        assert [e["probability"] for e in p.nbest] == pytest.approx([e["probability"] for e in nbests[p.qid]])


def test_top_k_positions_order_and_ties():
    from spaneval.tasks.qa_decode import top_k_positions

    logits = np.array([[1, 3, 3, 3, 0, 2], [5, 5, 5, 5, 5, 5], [0, 1, 2, 3, 4, 5]], dtype=np.float32)
    assert top_k_positions(logits, 2).tolist() == [[1, 2], [0, 1], [5, 4]]
    assert top_k_positions(logits, 4).tolist() == [[1, 2, 3, 5], [0, 1, 2, 3], [5, 4, 3, 2]]
    assert top_k_positions(logits, 9).tolist()[2] == [5, 4, 3, 2, 1, 0]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    assert (top_k_positions(x, 7) == np.argsort(-x, axis=1, kind="stable")[:, :7]).all()


def test_nan_logits_are_rejected(tokenizer):
    ex = QAExample("q", "t", "The Broncos", "Who?", (), True)
    f = encode_windows([ex], tokenizer, max_seq_len=16, max_query_len=4)
    start = np.full(f.input_ids.shape, np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        decode([ex], f, start, start)


def test_bench_command_runs_on_bundled_sample(bundled, capsys):
    from spaneval.bench.qa_decode import main

    result = main(["--data", str(bundled / "squad" / "dev-sample.json"), "--repeat", "1", "--version-2"])
    assert result["identical"] and result["nbest_identical"] and result["questions"] == 213
    assert capsys.readouterr().out.count("\n") == 1  # one JSON line


def test_bench_command_without_data(tmp_path):
    from spaneval.bench.qa_decode import main
    from spaneval.errors import DataError

    with pytest.raises(DataError, match="dev file not found"):
        main(["--data", str(tmp_path / "missing.json")])


def test_rank_by_question_matches_lexsort_with_ties_and_signs():
    from spaneval.tasks.qa_decode import rank_by_question

    example = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([1.0, -2.0, 1.0, 0.0, -0.0, 3.0], dtype=np.float32)
    assert rank_by_question(example, score, 2).tolist() == [0, 2, 5, 3]
    rng = np.random.default_rng(1)
    example = np.sort(rng.integers(0, 50, 3000))
    score = np.round(rng.standard_normal(3000), 1).astype(np.float32) * 1e3  # many ties, both signs
    order = np.lexsort((-score, example))
    grouped = example[order]
    expected = order[np.arange(3000) - np.searchsorted(grouped, grouped) < 5]
    assert rank_by_question(example, score, 5).tolist() == expected.tolist()


def test_float64_logits_decode_like_float32(tokenizer, bundled):
    examples, _ = read_squad(bundled / "squad" / "dev-sample.json")
    f = encode_windows(examples[:40], tokenizer, max_seq_len=96, doc_stride=32)
    start, end = bench_logits(np.random.default_rng(3), f, "peaked")
    as32 = decode(examples[:40], f, start, end)
    as64 = decode(examples[:40], f, start.astype(np.float64), end.astype(np.float64))
    assert [p.text for p in as32] == [p.text for p in as64]
