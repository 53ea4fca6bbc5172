"""Blocks and the BlockStream: layout, document boundaries, rank sharding, exact resumption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spaneval.errors import ConfigError, DataError, SpanevalError
from spaneval.models import bundled_tokenizer
from spaneval.pretrain.blocks import (
    BlockStream,
    Prefetcher,
    TokenizerSpecials,
    block_table,
    cut_document,
    single_rows,
)
from spaneval.pretrain.corpus import BUNDLED_CORPUS, build_shards
from spaneval.pretrain.masking import IGNORE_INDEX, MaskingConfig

SEQ_LEN = 128


@pytest.fixture(scope="module")
def tokenizer():
    return bundled_tokenizer()


@pytest.fixture(scope="module")
def specials(tokenizer):
    return TokenizerSpecials.from_tokenizer(tokenizer)


@pytest.fixture(scope="module")
def shards(tokenizer, tmp_path_factory):
    return build_shards(BUNDLED_CORPUS, tokenizer, tmp_path_factory.mktemp("shards"))


def stream(shards, specials, **kwargs) -> BlockStream:
    options = {
        "seq_len": SEQ_LEN,
        "objective_kind": "single",
        "batch_size": 64,
        "tokenizer_specials": specials,
        "masking": MaskingConfig(),
        "seed": 7,
    }
    return BlockStream(shards, **{**options, **kwargs})


def original_rows(batch: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    """Each row's unmasked tokens (labels restore the masked ones), without padding."""
    ids = torch.where(batch["mlm_labels"] != IGNORE_INDEX, batch["mlm_labels"], batch["input_ids"])
    return [tuple(row[mask.bool()].tolist()) for row, mask in zip(ids, batch["attention_mask"], strict=True)]


def all_block_rows(shards, specials, max_tokens: int) -> set[tuple[int, ...]]:
    blocks = block_table(shards, max_tokens)
    rows = single_rows(shards, blocks, np.arange(len(blocks["start"])), max_tokens + 2, specials)
    return {tuple(r[:n].tolist()) for r, n in zip(rows.ids, rows.lengths, strict=True)}


@pytest.mark.parametrize("seed", range(5))
def test_cut_document_covers_the_document_in_word_aligned_blocks(seed):
    rng = np.random.default_rng(seed)
    word_starts = rng.random(int(rng.integers(1, 3000))) < 0.6
    word_starts[0] = True
    starts = cut_document(word_starts, 50)
    ends = np.append(starts[1:], len(word_starts))
    assert starts[0] == 0 and np.all(ends - starts <= 50) and np.all(ends > starts)
    assert np.all(word_starts[starts]), "every block opens a word"
    assert np.all(ends[:-1] - starts[:-1] > 50 - 12), "cuts are at the last word start that fits"


def test_a_word_longer_than_a_block_is_cut_inside():
    assert cut_document(np.array([True] + [False] * 9), 4).tolist() == [0, 4, 8]


def test_tokenizer_specials_exclude_placeholders(tokenizer, specials):
    vocab = tokenizer.get_vocab()
    assert specials.vocab_size == 28996 and specials.mask_id == vocab["[MASK]"]
    assert {vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"], vocab["[UNK]"], vocab["[unused1]"]} <= set(
        specials.special_ids
    )
    assert vocab["the"] not in specials.special_ids


def test_single_batches_have_the_bert_layout(shards, specials):
    batch = next(stream(shards, specials))
    assert set(batch) == {
        "input_ids", "attention_mask", "token_type_ids", "mlm_labels", "sbo_left", "sbo_right", "sbo_pos",
    }  # fmt: skip
    assert all(v.shape == (64, SEQ_LEN) and v.dtype == torch.int64 for v in batch.values())
    lengths = batch["attention_mask"].sum(dim=1)
    for row, n in zip(original_rows(batch), lengths.tolist(), strict=True):
        assert row[0] == specials.cls_id and row[-1] == specials.sep_id and len(row) == n
        assert specials.sep_id not in row[1:-1] and specials.pad_id not in row
    assert int(batch["token_type_ids"].sum()) == 0
    masked = batch["mlm_labels"] != IGNORE_INDEX
    assert int(masked.sum()) == pytest.approx(0.15 * float((lengths - 2).sum()), rel=0.05)


def test_an_epoch_visits_blocks_once_and_ranks_see_disjoint_blocks(shards, specials):
    every_block = all_block_rows(shards, specials, SEQ_LEN - 2)
    seen = []
    for rank in (0, 1):
        s = stream(shards, specials, rank=rank, world_size=2)
        assert s.blocks_per_rank == len(every_block) // 2
        rows = [row for _ in range(s.batches_per_epoch) for row in original_rows(next(s))]
        assert len(set(rows)) == len(rows) == s.batches_per_epoch * 64
        assert set(rows) <= every_block
        seen.append(set(rows))
    assert not seen[0] & seen[1]


def test_epochs_reshuffle_and_the_same_seed_repeats(shards, specials):
    s = stream(shards, specials, batch_size=512)
    first = [next(s) for _ in range(s.batches_per_epoch)]
    second_epoch = next(s)
    assert s.epoch == 1
    assert set(original_rows(second_epoch)) != set(original_rows(first[0]))
    again = next(stream(shards, specials, batch_size=512))
    assert all(torch.equal(again[k], first[0][k]) for k in again)
    other_seed = next(stream(shards, specials, batch_size=512, seed=8))
    assert not torch.equal(other_seed["input_ids"], first[0]["input_ids"])


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_resuming_from_a_state_dict_replays_the_same_batches(shards, specials, kind):
    uninterrupted = stream(shards, specials, objective_kind=kind, batch_size=256)
    n = uninterrupted.batches_per_epoch + 2  # crosses an epoch boundary
    for _ in range(n - 4):
        next(uninterrupted)
    state = json.loads(json.dumps(uninterrupted.state_dict()))  # checkpoints may store it as JSON
    expected = [next(uninterrupted) for _ in range(4)]
    resumed = stream(shards, specials, objective_kind=kind, batch_size=256)
    resumed.load_state_dict(state)
    for want in expected:
        got = next(resumed)
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_resuming_a_differently_built_stream_is_refused(shards, specials):
    state = stream(shards, specials).state_dict()
    with pytest.raises(SpanevalError, match="batch_size: saved 64, now 32"):
        stream(shards, specials, batch_size=32).load_state_dict(state)
    with pytest.raises(SpanevalError, match="masking"):
        stream(shards, specials, masking=MaskingConfig(scheme="subword")).load_state_dict(state)


def test_a_position_saved_before_packing_existed_resumes_unpacked(shards, specials):
    state = stream(shards, specials).state_dict()
    del state["pack"]  # as checkpoints written before packing store it
    stream(shards, specials).load_state_dict(state)
    with pytest.raises(SpanevalError, match=r"pack: saved False, now True \(resume with pack_blocks=false\)"):
        stream(shards, specials, pack=True).load_state_dict(state)


def test_pair_batches_have_two_segments_and_half_random_next(shards, specials):
    s = stream(
        shards, specials, objective_kind="pair", batch_size=256, masking=MaskingConfig(scheme="subword")
    )
    every_block = all_block_rows(shards, specials, SEQ_LEN - 3)
    labels, rows_seen = [], 0
    for _ in range(4):
        batch = next(s)
        labels += batch["nsp_labels"].tolist()
        for row, types, label in zip(
            original_rows(batch), batch["token_type_ids"], batch["nsp_labels"].tolist(), strict=True
        ):
            first_sep = row.index(specials.sep_id)
            assert (
                row[0] == specials.cls_id and row[-1] == specials.sep_id and row.count(specials.sep_id) == 2
            )
            assert 1 < first_sep < len(row) - 2, "both segments are non-empty"
            n_b = len(row) - first_sep - 1
            assert types[: first_sep + 1].sum() == 0 and types[first_sep + 1 : len(row)].sum() == n_b
            joined = (specials.cls_id, *row[1:first_sep], *row[first_sep + 1 : -1], specials.sep_id)
            assert (joined in every_block) == (label == 0), "IsNext B continues A; NotNext B does not"
            rows_seen += 1
    assert abs(np.mean(labels) - 0.5) < 4 * 0.5 / np.sqrt(rows_seen)


def test_too_small_corpus_and_bad_arguments_are_clear_errors(shards, specials):
    with pytest.raises(DataError, match="too few for one batch"):
        stream(shards, specials, batch_size=100_000)
    with pytest.raises(ConfigError, match="objective_kind"):
        stream(shards, specials, objective_kind="triple")
    with pytest.raises(ConfigError, match="rank"):
        stream(shards, specials, rank=2, world_size=2)


def test_prefetching_gives_the_same_batches_and_positions(shards, specials):
    plain = stream(shards, specials, batch_size=256)
    start = plain.state_dict() | {"batch_in_epoch": plain.batches_per_epoch - 2}
    plain.load_state_dict(start)
    prefetched = Prefetcher(stream(shards, specials, batch_size=256), depth=3)
    prefetched.load_state_dict(start)
    try:
        for _ in range(5):
            want, got = next(plain), next(prefetched)
            assert all(torch.equal(got[k], want[k]) for k in want)
            assert prefetched.state_dict() == plain.state_dict()
        with pytest.raises(SpanevalError, match="before the first batch"):
            prefetched.load_state_dict(start)
    finally:
        prefetched.close()


def test_prefetcher_raises_the_streams_error_in_the_training_thread(shards, specials):
    broken = stream(shards, specials)
    broken.blocks = {**broken.blocks, "length": broken.blocks["length"] * 0 + 10**9}
    prefetched = Prefetcher(broken)
    try:
        with pytest.raises(ValueError):
            next(prefetched)
    finally:
        prefetched.close()


@pytest.fixture(scope="module")
def mixed_shards(tokenizer, tmp_path_factory):
    """Short paragraphs (one block each), one-word documents and a long document, over two shards."""
    folder = tmp_path_factory.mktemp("mixed")
    paragraphs = [f"Short paragraph number {i}, with a few words." for i in range(40)]
    paragraphs += ["Unsplittable", "Antidisestablishmentarianism"]
    paragraphs.append(" ".join(["A much longer paragraph that needs cutting into several blocks."] * 30))
    (folder / "mixed.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return build_shards(
        folder, tokenizer, tmp_path_factory.mktemp("cache"), doc_split="blank_line", shard_tokens=300
    )


def test_block_table_covers_every_document_in_order(mixed_shards):
    blocks = block_table(mixed_shards, 30)
    _, doc_start, doc_len = mixed_shards.doc_table()
    assert mixed_shards.n_shards > 1
    assert np.all(np.diff(blocks["doc"]) >= 0) and np.all(blocks["length"] <= 30)
    for d in range(mixed_shards.n_documents):
        mine = blocks["doc"] == d
        starts, lengths = blocks["start"][mine], blocks["length"][mine]
        assert starts[0] == doc_start[d] and np.array_equal(starts[1:], starts[:-1] + lengths[:-1])
        assert lengths.sum() == doc_len[d]
        assert all(mixed_shards.document(d)[1][starts - doc_start[d]])


def splits(shards, blocks, doc_start, i: int) -> bool:
    """Brute force: block i has a word start after its first token."""
    doc = int(blocks["doc"][i])
    begin = int(blocks["start"][i] - doc_start[doc])
    return bool(shards.document(doc)[1][begin + 1 : begin + int(blocks["length"][i])].any())


def test_pair_streams_keep_exactly_the_blocks_that_split(mixed_shards, specials):
    pairs = stream(mixed_shards, specials, objective_kind="pair", seq_len=33, batch_size=4)
    every = block_table(mixed_shards, 30)
    _, doc_start, _ = mixed_shards.doc_table()
    expected = [i for i in range(len(every["start"])) if splits(mixed_shards, every, doc_start, i)]
    assert len(expected) < len(every["start"]), "the one-word documents cannot split"
    assert np.array_equal(pairs.blocks["start"], every["start"][expected])
