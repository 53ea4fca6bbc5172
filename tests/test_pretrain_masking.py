"""Masking: invariants on synthetic batches, and the SpanBERT statistics on the shipped corpus sample."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaneval.errors import ConfigError
from spaneval.models import bundled_tokenizer
from spaneval.pretrain.blocks import TokenizerSpecials, block_table, single_rows
from spaneval.pretrain.corpus import BUNDLED_CORPUS, build_shards
from spaneval.pretrain.masking import (
    IGNORE_INDEX,
    MaskingConfig,
    draw_span_lengths,
    mask_batch,
    mask_batch_with_spans,
    span_length_distribution,
)

CLS, SEP, PAD, MASK, VOCAB = 101, 102, 0, 103, 28996
SPECIAL_IDS = (0, 100, 101, 102, 103)


def synthetic_batch(rng: np.random.Generator, n_rows: int = 16, seq_len: int = 96, pair: bool = False):
    """Padded rows [CLS] tokens [SEP] (or [CLS] A [SEP] B [SEP]) with random ids and word starts."""
    ids = rng.integers(1000, 20000, size=(n_rows, seq_len))
    word_starts = rng.random((n_rows, seq_len)) < 0.7
    lengths = rng.integers(4, seq_len + 1, size=n_rows)
    lengths[0] = seq_len  # one full row
    special = np.zeros((n_rows, seq_len), dtype=bool)
    for r, n in enumerate(lengths):
        ids[r, 0], ids[r, n - 1], ids[r, n:] = CLS, SEP, PAD
        special[r, [0, n - 1]] = True
        special[r, n:] = True
        if pair and n > 4:
            middle = int(rng.integers(2, n - 2))
            ids[r, middle], special[r, middle] = SEP, True
    return ids, word_starts, lengths, special


def run(cfg: MaskingConfig, seed: int = 0, pair: bool = False, **shape) -> SimpleNamespace:
    """Mask a synthetic batch: .ids, .word_starts, .lengths, .special, .batch, .spans."""
    rng = np.random.default_rng(seed)
    ids, word_starts, lengths, special = synthetic_batch(rng, pair=pair, **shape)
    batch, spans = mask_batch_with_spans(
        ids, word_starts, lengths, special, rng, cfg, VOCAB, MASK, SPECIAL_IDS
    )
    return SimpleNamespace(
        ids=ids, word_starts=word_starts, lengths=lengths, special=special, batch=batch, spans=spans
    )


ALL_CONFIGS = [
    MaskingConfig(scheme=scheme, replacement=replacement)
    for scheme in ("span", "subword", "whole_word")
    for replacement in ("span", "token")
]


def test_clipped_geometric_mean_is_the_papers_3_8_words():
    probs = span_length_distribution(MaskingConfig())
    assert probs.sum() == pytest.approx(1.0)
    assert len(probs) == 10 and np.all(np.diff(probs) < 0)
    assert np.arange(1, 11) @ probs == pytest.approx(3.8, abs=0.005)


@pytest.mark.parametrize("p, max_words", [(0.2, 10), (0.5, 3), (0.05, 20), (1.0, 10)])
def test_drawn_span_lengths_follow_the_clipped_geometric(p, max_words):
    cfg = MaskingConfig(geometric_p=p, max_span_words=max_words)
    lengths = draw_span_lengths(np.random.default_rng(0), (200_000,), cfg)
    observed = np.bincount(lengths, minlength=max_words + 1)[1:]
    assert lengths.min() >= 1 and lengths.max() <= max_words
    assert np.allclose(observed / len(lengths), span_length_distribution(cfg), atol=0.004)


@pytest.mark.parametrize(
    "bad",
    [
        {"scheme": "spans"},
        {"replacement": "word_piece"},
        {"mask_ratio": 0.0},
        {"geometric_p": 0.0},
        {"max_span_words": 0},
        {"mask_prob": 0.8, "random_prob": 0.3},
    ],
)
def test_invalid_configs_are_config_errors(bad):
    with pytest.raises(ConfigError):
        MaskingConfig(**bad)


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.scheme}-{c.replacement}")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pair", [False, True])
def test_labels_inputs_and_spans_are_consistent(cfg, seed, pair):
    out = run(cfg, seed, pair)
    labels, inputs = out.batch["mlm_labels"], out.batch["input_ids"]
    targets = labels != IGNORE_INDEX
    assert not (targets & out.special).any(), "special tokens and padding are never targets"
    assert np.array_equal(labels[targets], out.ids[targets])
    assert np.array_equal(inputs[~targets], out.ids[~targets])
    changed = targets & (inputs != out.ids)
    assert np.isin(inputs[changed & (inputs != MASK)], SPECIAL_IDS).sum() == 0
    flat_targets = np.zeros(out.ids.size, dtype=bool)
    for start, end in zip(
        out.spans.token_start[out.spans.selected], out.spans.token_end[out.spans.selected], strict=True
    ):
        assert not flat_targets[start:end].any(), "spans are disjoint"
        flat_targets[start:end] = True
        assert start // out.ids.shape[1] == (end - 1) // out.ids.shape[1], "spans stay inside a row"
    assert np.array_equal(flat_targets.reshape(out.ids.shape), targets)


@pytest.mark.parametrize("scheme", ["span", "whole_word"])
def test_spans_are_complete_words_starting_at_word_starts(scheme):
    cfg = MaskingConfig(scheme=scheme)
    out = run(cfg, seed=3, pair=True, n_rows=32)
    maskable = (~out.special).ravel()
    flat_starts = out.word_starts.ravel()
    prev_special = np.concatenate([[True], ~maskable[:-1]])
    for start, end, n_words in zip(
        out.spans.token_start, out.spans.token_end, out.spans.n_words, strict=True
    ):
        assert flat_starts[start] or prev_special[start], "a span opens a word"
        assert end == len(maskable) or not maskable[end] or flat_starts[end], "a span ends with its word"
        inner = flat_starts[start + 1 : end] & maskable[start + 1 : end]
        assert 1 + inner.sum() == n_words
        assert n_words <= (cfg.max_span_words if scheme == "span" else 1)


def test_subword_spans_are_single_tokens():
    out = run(MaskingConfig(scheme="subword"), seed=4)
    assert np.all(out.spans.n_tokens == 1) and np.all(out.spans.n_words == 1)


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.scheme}-{c.replacement}")
def test_sbo_targets_point_at_the_unmasked_boundaries_of_each_masked_run(cfg):
    out = run(cfg, seed=5, pair=True, n_rows=24, seq_len=128)
    labels = out.batch["mlm_labels"]
    for r, c in zip(*np.nonzero(labels != IGNORE_INDEX), strict=True):
        left, right, pos = (
            out.batch["sbo_left"][r, c],
            out.batch["sbo_right"][r, c],
            out.batch["sbo_pos"][r, c],
        )
        assert left < c < right
        assert labels[r, left] == IGNORE_INDEX and labels[r, right] == IGNORE_INDEX
        assert np.all(labels[r, left + 1 : right] != IGNORE_INDEX), "boundaries enclose one masked run"
        expected = c - left - 1
        assert pos == (expected if expected < cfg.max_sbo_targets else IGNORE_INDEX)
    untouched = labels == IGNORE_INDEX
    assert np.all(out.batch["sbo_pos"][untouched] == IGNORE_INDEX)
    assert np.all(out.batch["sbo_left"][untouched] == 0) and np.all(out.batch["sbo_right"][untouched] == 0)


def test_long_runs_keep_only_the_first_sbo_targets():
    cfg = MaskingConfig(mask_ratio=0.9, max_sbo_targets=3)
    out = run(cfg, seed=6)
    pos = out.batch["sbo_pos"][out.batch["mlm_labels"] != IGNORE_INDEX]
    assert pos.max() == 2 and (pos == IGNORE_INDEX).any()


def test_span_replacement_decides_once_per_span_and_token_replacement_per_token():
    def mixed_spans(replacement: str) -> int:
        out = run(MaskingConfig(replacement=replacement), seed=7, n_rows=64)
        flat_in, flat_ids = out.batch["input_ids"].ravel(), out.ids.ravel()
        mixed = 0
        for start, end in zip(
            out.spans.token_start[out.spans.selected], out.spans.token_end[out.spans.selected], strict=True
        ):
            kinds = {
                0 if t == MASK else (2 if t == o else 1)
                for t, o in zip(flat_in[start:end], flat_ids[start:end], strict=True)
            }
            mixed += len(kinds) > 1
        return mixed

    assert mixed_spans("span") == 0
    assert mixed_spans("token") > 10


def test_same_generator_state_gives_the_same_masks_and_another_differs():
    first = run(MaskingConfig(), seed=8).batch
    again = run(MaskingConfig(), seed=8).batch
    other = run(MaskingConfig(), seed=9).batch
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["mlm_labels"], other["mlm_labels"])


def test_rows_without_maskable_tokens_and_mask_batch_output_shapes():
    rng = np.random.default_rng(10)
    ids = np.array([[CLS, SEP, PAD, PAD], [CLS, 5000, 6000, SEP]])
    special = np.isin(ids, SPECIAL_IDS)
    starts = np.ones_like(special)
    masked = mask_batch(
        ids, starts, np.array([2, 4]), special, rng, MaskingConfig(), VOCAB, MASK, SPECIAL_IDS
    )
    assert set(masked) == {"input_ids", "mlm_labels", "sbo_left", "sbo_right", "sbo_pos"}
    assert all(v.shape == ids.shape and v.dtype == np.int64 for v in masked.values())
    assert np.all(masked["mlm_labels"][0] == IGNORE_INDEX)
    nothing = mask_batch(
        ids[:1], starts[:1], np.array([2]), special[:1], rng, MaskingConfig(), VOCAB, MASK, SPECIAL_IDS
    )
    assert np.array_equal(nothing["input_ids"], ids[:1]) and np.all(nothing["sbo_pos"] == IGNORE_INDEX)


@pytest.mark.parametrize("scheme", ["span", "subword", "whole_word"])
def test_budget_is_met_in_expectation_and_closely_per_row(scheme):
    cfg = MaskingConfig(scheme=scheme)
    fractions = []
    for seed in range(20):
        out = run(cfg, seed, n_rows=32, seq_len=256)
        masked = (out.batch["mlm_labels"] != IGNORE_INDEX).sum(axis=1)
        maskable = (~out.special).sum(axis=1)
        longest = np.max(out.spans.n_tokens, initial=1)
        assert np.all(np.abs(masked - cfg.mask_ratio * maskable) <= longest)
        fractions.append(masked.sum() / maskable.sum())
    assert np.mean(fractions) == pytest.approx(0.15, abs=0.003)


# ---------------------------------------------------------------- statistics on the shipped corpus


@pytest.fixture(scope="module")
def sample_blocks(tmp_path_factory):
    """The shipped sample cut into 512-token blocks, as unmasked padded rows."""
    tokenizer = bundled_tokenizer()
    shards = build_shards(BUNDLED_CORPUS, tokenizer, tmp_path_factory.mktemp("shards"))
    blocks = block_table(shards, 510)
    specials = TokenizerSpecials.from_tokenizer(tokenizer)
    rows = single_rows(shards, blocks, np.arange(len(blocks["start"])), 512, specials)
    return rows, specials


@pytest.fixture(scope="module")
def span_masked_sample(sample_blocks):
    rows, specials = sample_blocks
    rng = np.random.default_rng(2020)
    batch, spans = mask_batch_with_spans(
        rows.ids,
        rows.word_starts,
        rows.lengths,
        ~rows.content,
        rng,
        MaskingConfig(),
        specials.vocab_size,
        specials.mask_id,
        specials.special_ids,
    )
    return rows, batch, spans


def test_sample_mask_fraction_is_15_percent(span_masked_sample):
    rows, batch, _ = span_masked_sample
    fraction = (batch["mlm_labels"] != IGNORE_INDEX).sum() / rows.content.sum()
    assert fraction == pytest.approx(0.15, abs=0.005)


def test_sample_mean_span_length_is_3_8_words(span_masked_sample):
    _, _, spans = span_masked_sample
    assert spans.selected.sum() > 10_000
    assert spans.n_words[spans.selected].mean() == pytest.approx(3.8, abs=0.1)


def test_sample_span_length_histogram_matches_the_clipped_geometric(span_masked_sample):
    _, _, spans = span_masked_sample
    cfg = MaskingConfig()
    observed = np.bincount(spans.n_words[spans.selected], minlength=cfg.max_span_words + 1)[1:]
    expected = span_length_distribution(cfg) * observed.sum()
    chi_square = float(((observed - expected) ** 2 / expected).sum())
    # 27.88: the 0.999 quantile of the chi-square law with 9 degrees of freedom (10 bins - 1).
    assert chi_square < 27.88, f"observed {observed.tolist()}, expected {np.round(expected).tolist()}"
    assert np.allclose(observed / observed.sum(), span_length_distribution(cfg), atol=0.01)


def test_sample_replacement_is_80_10_10_per_span(span_masked_sample):
    rows, batch, spans = span_masked_sample
    flat_in, flat_ids = batch["input_ids"].ravel(), rows.ids.ravel()
    starts, ends = spans.token_start[spans.selected], spans.token_end[spans.selected]
    counts = np.zeros(3)
    for start, end in zip(starts, ends, strict=True):
        new, old = flat_in[start:end], flat_ids[start:end]
        kind = 0 if np.all(new == MASK) else (2 if np.array_equal(new, old) else 1)
        counts[kind] += 1
    assert counts / counts.sum() == pytest.approx([0.8, 0.1, 0.1], abs=0.015)


@st.composite
def small_batches(draw):
    n_rows, seq_len = draw(st.integers(1, 5)), draw(st.integers(3, 40))
    flags = st.lists(st.booleans(), min_size=n_rows * seq_len, max_size=n_rows * seq_len)
    word_starts = np.array(draw(flags)).reshape(n_rows, seq_len)
    special = np.array(draw(flags)).reshape(n_rows, seq_len)
    lengths = np.array(draw(st.lists(st.integers(0, seq_len), min_size=n_rows, max_size=n_rows)))
    return word_starts, special, lengths, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(batch=small_batches(), scheme=st.sampled_from(["span", "subword", "whole_word"]))
def test_invariants_hold_on_arbitrary_batches(batch, scheme):
    word_starts, special, lengths, seed = batch
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 20000, size=word_starts.shape)
    cfg = MaskingConfig(scheme=scheme, mask_ratio=0.3)
    out, spans = mask_batch_with_spans(ids, word_starts, lengths, special, rng, cfg, VOCAB, MASK, SPECIAL_IDS)
    maskable = ~special & (np.arange(ids.shape[1]) < lengths[:, None])
    targets = out["mlm_labels"] != IGNORE_INDEX
    assert not (targets & ~maskable).any()
    assert np.array_equal(out["mlm_labels"][targets], ids[targets])
    assert np.all(
        np.abs(targets.sum(axis=1) - 0.3 * maskable.sum(axis=1)) <= max(1, spans.n_tokens.max(initial=1))
    )
    for r, c in zip(*np.nonzero(targets & (out["sbo_pos"] != IGNORE_INDEX)), strict=True):
        left, right = out["sbo_left"][r, c], out["sbo_right"][r, c]
        assert not targets[r, left] and not targets[r, right] and targets[r, left + 1 : right].all()


def test_masking_benchmark_runs_on_the_bundled_sample(tmp_path, capsys):
    from spaneval.bench import masking as bench

    argv = ["--corpus", str(BUNDLED_CORPUS), "--cache-dir", str(tmp_path), "--batch-size", "4"]
    result = bench.main([*argv, "--batches", "2", "--repeats", "1", "--hf-wwm-batches", "1"])
    assert json.loads(capsys.readouterr().out) == result
    hf = {"hf_token_dict_rows", "hf_token_tensor_rows", "hf_token_pad_free", "hf_whole_word"}
    assert set(result["tokens_per_s"]) == {"span", "subword", "whole_word", *hf}
    assert result["fastest_hf_token"] in hf and "hf" in result["options"]
    assert result["span_stats"]["mask_fraction"] == pytest.approx(0.15, abs=0.03)
