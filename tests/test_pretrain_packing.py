"""Packing document-bounded blocks into full rows: the row table, the packed batches, and the model
seeing each packed block exactly as it sees it alone."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from spaneval.errors import ConfigError
from spaneval.models import bundled_tokenizer
from spaneval.pretrain.blocks import BlockStream, TokenizerSpecials, block_table, single_rows
from spaneval.pretrain.components import build_model
from spaneval.pretrain.corpus import BUNDLED_CORPUS, build_shards
from spaneval.pretrain.loader import prepare_batch
from spaneval.pretrain.masking import IGNORE_INDEX, MaskingConfig
from spaneval.pretrain.objectives import get_objective
from spaneval.pretrain.packing import pack_blocks
from spaneval.pretrain.presets import resolve_config

SEQ_LEN = 128


@pytest.fixture(scope="module")
def specials():
    return TokenizerSpecials.from_tokenizer(bundled_tokenizer())


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The bundled novels cut at blank lines: thousands of paragraph documents, most of them short."""
    folder = tmp_path_factory.mktemp("shards")
    return build_shards(BUNDLED_CORPUS, bundled_tokenizer(), folder, doc_split="blank_line")


def packed_stream(shards, specials, **kwargs) -> BlockStream:
    options = {"seq_len": SEQ_LEN, "objective_kind": "single", "batch_size": 32, "seed": 3}
    options |= {"tokenizer_specials": specials, "masking": MaskingConfig(), "pack": True}
    return BlockStream(shards, **{**options, **kwargs})


# ----------------------------------------------------------------------------- the row table


@pytest.mark.parametrize("seed", range(3))
def test_every_block_lands_in_exactly_one_row_that_it_fits(seed):
    lengths = np.random.default_rng(seed).integers(3, 65, size=500)
    lengths[:50] = 64  # full blocks
    packed = pack_blocks(lengths, 64)
    assert sorted(packed.members.tolist()) == list(range(500))
    used = [int(lengths[packed.blocks_of(r)].sum()) for r in range(packed.n_rows)]
    assert max(used) <= 64
    assert all(len(packed.blocks_of(int(r))) == 1 for r in np.flatnonzero(np.asarray(used) == 64)[:50])
    # Blocks longer than half a row cannot share one, so ~4% stays padding with these lengths.
    assert packed.n_rows <= 1.05 * np.ceil(lengths.sum() / 64)
    again = pack_blocks(lengths, 64)
    assert np.array_equal(again.members, packed.members) and np.array_equal(again.offsets, packed.offsets)


# ----------------------------------------------------------------------------- packed batches


def segments(batch: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    """Every packed block's unmasked tokens, [CLS] and [SEP] included."""
    ids = torch.where(batch["mlm_labels"] != IGNORE_INDEX, batch["mlm_labels"], batch["input_ids"])
    out = []
    for row, seg, mask in zip(ids, batch["segment_ids"], batch["attention_mask"], strict=True):
        out += [tuple(row[(seg == k) & mask.bool()].tolist()) for k in seg[mask.bool()].unique().tolist()]
    return out


def test_an_epoch_of_packed_rows_holds_every_block_once_in_bert_layout(shards, specials):
    s = packed_stream(shards, specials)
    blocks = block_table(shards, SEQ_LEN - 2)
    rows = single_rows(shards, blocks, np.arange(len(blocks["start"])), SEQ_LEN, specials)
    every_block = Counter(tuple(r[:n].tolist()) for r, n in zip(rows.ids, rows.lengths, strict=True))
    seen = Counter(block for _ in range(s.batches_per_epoch) for block in segments(next(s)))
    assert seen <= every_block  # no block twice (paragraphs like "CHAPTER I." do repeat in the text)
    in_full_batches = s.batches_per_epoch * 32 / s.packed.n_rows  # the last, partial batch is dropped
    assert seen.total() == pytest.approx(every_block.total() * in_full_batches, rel=0.05)
    assert all(
        b[0] == specials.cls_id and b[-1] == specials.sep_id and specials.sep_id not in b[1:-1] for b in seen
    )


def test_packed_rows_restart_positions_and_keep_masking_and_sbo_inside_each_block(shards, specials):
    batch = next(packed_stream(shards, specials))
    assert {"segment_ids", "position_ids"} <= set(batch)
    real = batch["attention_mask"].bool()
    assert real.float().mean() > 0.95  # the rows are nearly full
    seg, pos = batch["segment_ids"], batch["position_ids"]
    starts = real & (pos == 0)
    assert (batch["input_ids"][starts] == specials.cls_id).all()  # [CLS] is never masked
    assert int(starts.sum()) > 32  # more blocks than rows
    masked = batch["mlm_labels"] != IGNORE_INDEX
    targets = batch["sbo_pos"] >= 0
    for boundary in ("sbo_left", "sbo_right"):
        boundary_seg = seg.gather(1, batch[boundary])
        assert (boundary_seg[targets] == seg[targets]).all()  # SBO never reads another block
    assert masked.float().sum() / real.float().sum() == pytest.approx(0.15 * 0.95, rel=0.1)


def test_packed_streams_resume_and_refuse_pairs_and_unpacked_checkpoints(shards, specials):
    s = packed_stream(shards, specials)
    next(s)
    state = s.state_dict()
    expected = next(s)
    resumed = packed_stream(shards, specials)
    resumed.load_state_dict(state)
    assert all(torch.equal(expected[k], v) for k, v in next(resumed).items())
    with pytest.raises(Exception, match="pack: saved True, now False"):
        packed_stream(shards, specials, pack=False).load_state_dict(state)
    with pytest.raises(ConfigError, match="single blocks"):
        packed_stream(shards, specials, objective_kind="pair")


def test_a_packed_batch_of_full_single_blocks_goes_without_any_mask():
    ids = torch.randint(5, 100, (2, 8))
    raw = {"input_ids": ids, "attention_mask": torch.ones(2, 8), "token_type_ids": torch.zeros(2, 8)}
    raw |= {"mlm_labels": torch.where(ids > 50, ids, -100), "position_ids": torch.arange(8).repeat(2, 1)}
    full = prepare_batch({**raw, "segment_ids": torch.zeros(2, 8)}, torch.device("cpu"), None, None)
    assert set(full.inputs) == {"input_ids", "token_type_ids", "targets"}  # SDPA's unmasked kernels
    two = torch.tensor([[0] * 4 + [1] * 4] * 2)
    packed = prepare_batch({**raw, "segment_ids": two}, torch.device("cpu"), None, None)
    assert {"segment_ids", "position_ids"} <= set(packed.inputs) and "attention_mask" not in packed.inputs
    assert full.n_tokens == packed.n_tokens == 16 and float(full.tokens) == 16.0


# ----------------------------------------------------------------------------- the model


def three_blocks(seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Blocks of 5, 7 and 10 tokens ([CLS] ... [SEP]), each with one masked span and its SBO targets."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, (start, end) in [(5, (1, 2)), (7, (2, 4)), (10, (3, 7))]:
        ids = torch.randint(5, 120, (n,), generator=g)
        ids[0], ids[-1] = 1, 2
        labels, pos = torch.full((n,), -100), torch.full((n,), -100)
        left, right = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
        for i in range(start, end + 1):
            labels[i], ids[i] = ids[i], 3
            left[i], right[i], pos[i] = start - 1, end + 1, i - start
        out.append(
            {"input_ids": ids, "mlm_labels": labels, "sbo_left": left, "sbo_right": right, "sbo_pos": pos}
        )
    return out


def lay_out(
    blocks: list[dict[str, torch.Tensor]], rows: list[list[int]], row_len: int
) -> dict[str, torch.Tensor]:
    """A batch with rows[r] = the blocks in row r, side by side; boundaries shifted with their block."""
    fills = {"input_ids": 0, "mlm_labels": -100, "sbo_left": 0, "sbo_right": 0, "sbo_pos": -100}
    batch = {k: torch.full((len(rows), row_len), v) for k, v in fills.items()}
    batch["segment_ids"] = torch.zeros(len(rows), row_len, dtype=torch.long)
    batch["position_ids"] = torch.zeros(len(rows), row_len, dtype=torch.long)
    batch["attention_mask"] = torch.zeros(len(rows), row_len, dtype=torch.long)
    for r, members in enumerate(rows):
        at = 0
        for k, b in enumerate(members):
            block, span = blocks[b], slice(at, at + len(blocks[b]["input_ids"]))
            for key in fills:
                batch[key][r, span] = block[key] + (at if key in ("sbo_left", "sbo_right") else 0)
            batch["segment_ids"][r, span] = k
            batch["position_ids"][r, span] = torch.arange(span.stop - at)
            batch["attention_mask"][r, span] = 1
            at = span.stop
        batch["segment_ids"][r, at:] = len(members)
    batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batch


def test_packed_blocks_give_the_same_losses_and_gradients_as_one_block_per_row():
    torch.manual_seed(0)
    cfg = resolve_config("tiny", {"hidden_size": "32", "num_layers": "2", "num_heads": "2", "dropout": "0"})
    model = build_model(cfg, get_objective("spanbert"), 120, pad_token_id=0)
    blocks = three_blocks()
    alone = lay_out(blocks, [[0], [1], [2]], 12)
    del alone["segment_ids"], alone["position_ids"]  # the usual padded batch
    packed = lay_out(blocks, [[0, 1], [2]], 12)
    del packed["attention_mask"]
    results = []
    for batch in (alone, packed):
        model.zero_grad()
        out = model(**batch)
        out["loss"].backward()
        results.append((out, model.bert.embeddings.word_embeddings.weight.grad.clone()))
    (out_alone, grad_alone), (out_packed, grad_packed) = results
    for name in ("mlm_loss", "sbo_loss", "loss"):
        torch.testing.assert_close(out_packed[name], out_alone[name])
    torch.testing.assert_close(grad_packed, grad_alone)
    shuffled = lay_out(blocks, [[2], [1, 0]], 12)  # another packing of the same blocks: same loss
    del shuffled["attention_mask"]
    torch.testing.assert_close(model(**shuffled)["loss"], out_alone["loss"])
