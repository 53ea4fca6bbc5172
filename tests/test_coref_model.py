"""The span-ranking model (tasks/coref_model.py) and the task pipeline called method by method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import BertConfig, BertModel, BertTokenizerFast

from spaneval.config import apply_overrides
from spaneval.finetune import TrainConfig
from spaneval.tasks.coref import BUNDLED_DIR, COREF, CorefConfig
from spaneval.tasks.coref_encode import encode_document, pad_batch
from spaneval.tasks.coref_model import candidate_spans, distance_bucket, extract_top_spans


@pytest.fixture(scope="module")
def tokenizer(bundled):
    path = bundled / "vocab" / "bert-base-cased-vocab.txt"
    vocab = {line.rstrip("\n"): i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(True))}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    assert len(tok) == 28996
    return tok


def tiny_encoder(seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=28996,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    return BertModel(config)


def smoke_configs(**task_overrides):
    configs = apply_overrides({"task": CorefConfig(), "train": TrainConfig()}, COREF.presets["smoke"])
    return apply_overrides(configs, task_overrides)


def test_distance_buckets_follow_lee_et_al():
    got = distance_bucket(torch.tensor([0, 1, 4, 5, 7, 8, 15, 16, 63, 64, 1000])).tolist()
    assert got == [0, 1, 4, 5, 5, 6, 6, 7, 8, 9, 9]


def test_candidates_stay_in_sentences_and_on_word_boundaries():
    sentence_map = torch.tensor([0, 0, 0, 1, 1])
    word_start = torch.tensor([True, False, True, True, True])
    word_end = torch.tensor([False, True, True, True, True])
    starts, ends = candidate_spans(sentence_map, word_start, word_end, max_width=3)
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (2, 2),
        (3, 3),
        (3, 4),
        (4, 4),
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 5), st.floats(-5, 5)), min_size=1, max_size=40))
def test_top_spans_never_cross(spans):
    starts = torch.tensor([s for s, _, _ in spans])
    ends = starts + torch.tensor([w for _, w, _ in spans])
    scores = torch.tensor([x for _, _, x in spans])
    top = extract_top_spans(scores, starts, ends, k=10).tolist()
    chosen = [(int(starts[i]), int(ends[i])) for i in top]
    assert len(top) <= 10 and chosen == sorted(chosen)
    for a, b in chosen:
        for c, d in chosen:
            assert not (a < c <= b < d), (a, b, c, d)


def test_encode_segments_and_gold(tokenizer, bundled):
    from spaneval.tasks.coref_data import read_conll

    (doc,) = read_conll(bundled / "coref" / "74_the_adventures_of_tom_sawyer_brat.conll")
    (whole,) = encode_document(doc, 0, tokenizer, max_segment_len=128, max_segments=0, genre_id=0)
    assert whole["input_ids"].shape[1] == 128 and "gold_starts" not in whole
    n = whole["flat_index"].shape[0]
    assert len(whole["subtoken_to_word"]) == n and whole["subtoken_to_word"][-1] == len(doc.words) - 1
    ids = whole["input_ids"].reshape(-1)[whole["flat_index"]]
    assert tokenizer.cls_token_id not in ids and tokenizer.pad_token_id not in ids
    parts = encode_document(doc, 0, tokenizer, max_segment_len=128, max_segments=2, genre_id=0)
    assert sum(p["flat_index"].shape[0] for p in parts) == n
    assert all(p["input_ids"].shape[0] <= 2 for p in parts)
    kept = sum(p["gold_starts"].shape[0] for p in parts)
    assert 0.9 * sum(len(c) for c in doc.clusters) < kept <= sum(len(c) for c in doc.clusters)
    first = parts[0]
    for s, e in zip(first["gold_starts"], first["gold_ends"], strict=True):
        assert first["word_start"][s] and first["word_end"][e]


def test_pipeline_method_by_method_learns(tokenizer):
    """load -> encode -> build_model -> optimizer steps -> decode -> score -> write, on CPU."""
    configs = smoke_configs(ffnn_size=32)
    cfg, train_cfg = configs["task"], configs["train"]
    train, evaluation = COREF.load("bundled", "train", cfg), COREF.load("bundled", "eval", cfg)
    features = COREF.encode(train.examples, tokenizer, cfg, True)
    model = COREF.build_model(tiny_encoder(), tokenizer, cfg)
    groups = COREF.param_groups(model, train_cfg)
    assert {g["lr"] for g in groups} == {train_cfg.learning_rate, cfg.task_learning_rate}
    optimizer = torch.optim.AdamW(groups)
    batch = COREF.collate(features[:1])
    model.train()
    losses = []
    for _ in range(8):
        loss = model(**batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    eval_features = COREF.encode(evaluation.examples, tokenizer, cfg, False)
    model.eval()
    with torch.no_grad():
        out = model(**COREF.collate(eval_features))
    assert "loss" not in out
    outputs = [{k: v.numpy() for k, v in out.items()}]
    predictions = COREF.decode(evaluation.examples, eval_features, outputs, cfg)
    words = len(evaluation.examples[0].words)
    assert all(0 <= s <= e < words for c in predictions[0] for s, e in c)
    scores = COREF.score(evaluation.examples, predictions, cfg)
    assert set(scores.metrics) >= {"conll_f1", "muc_f1", "bcub_f1", "ceafe_f1", "lea_f1", "mentions_recall"}
    assert set(scores.breakdowns) == {"mentions_by_length", "mentions_by_type", "links_by_sentence_distance"}
    row = scores.per_example[0]
    assert set(row) == {"id", "sentences", "gold_clusters", "predicted_clusters", "counts"}
    assert sum(map(len, row["sentences"])) == words


def test_padded_batch_of_two_documents_matches_single(tokenizer):
    from spaneval.tasks.coref_data import read_conll

    cfg = smoke_configs()["task"]
    (doc,) = read_conll(BUNDLED_DIR / "45_anne_of_green_gables_brat.conll")
    short = encode_document(doc, 0, tokenizer, 128, 1, 0)[:2]
    model = COREF.build_model(tiny_encoder(1), tokenizer, cfg).eval()
    with torch.no_grad():
        together = model(**pad_batch(short))
        alone = model(**pad_batch(short[1:]))
    k = int((alone["top_starts"][0] >= 0).sum())
    assert torch.equal(together["top_starts"][1, :k], alone["top_starts"][0, :k])
    assert torch.equal(together["antecedents"][1, :k], alone["antecedents"][0, :k])
