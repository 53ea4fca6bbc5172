"""Heads, model, objectives and presets of pretraining, on small hand-built batches (CPU, seconds)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, BertForMaskedLM, BertModel

from spaneval.errors import ConfigError
from spaneval.pretrain.components import build_model
from spaneval.pretrain.heads import SpanBoundaryHead, sbo_targets
from spaneval.pretrain.model import load_for_continued_pretraining, save_pretrained
from spaneval.pretrain.objectives import OBJECTIVES, get_objective
from spaneval.pretrain.presets import PRESETS, resolve_config, weight_decay_value
from spaneval.pretrain.targets import gather_targets, target_slots
from spaneval.pretrain.vocab_loss import linear_cross_entropy
from spaneval.registry import UnknownNameError

VOCAB, L = 120, 12
SMALL = {"hidden_size": "32", "num_layers": "2", "num_heads": "2", "intermediate_size": "64"}


@pytest.fixture(autouse=True)
def one_thread():
    """One CPU thread: on a busy 2-core machine, two threads make these small ops ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_cfg(**extra: str):
    return resolve_config("tiny", {**SMALL, "dropout": "0", **extra})


def hand_batch(pair: bool = False) -> dict[str, torch.Tensor]:
    """Two rows of 12 tokens; row 0 has a masked span at 3..5, row 1 one at 7 and one at 9..10."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (2, L), generator=g)
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS] ... [SEP]
    labels = torch.full((2, L), -100)
    left = torch.zeros(2, L, dtype=torch.long)
    right = torch.zeros(2, L, dtype=torch.long)
    pos = torch.full((2, L), -100)
    for row, start, end in [(0, 3, 5), (1, 7, 7), (1, 9, 10)]:
        for i in range(start, end + 1):
            labels[row, i] = ids[row, i]
            ids[row, i] = 3  # [MASK]
            left[row, i], right[row, i], pos[row, i] = start - 1, end + 1, i - start
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones(2, L, dtype=torch.long),
        "token_type_ids": torch.zeros(2, L, dtype=torch.long),
        "mlm_labels": labels,
        "sbo_left": left,
        "sbo_right": right,
        "sbo_pos": pos,
    }
    if pair:
        batch["token_type_ids"][:, 6:] = 1
        batch["nsp_labels"] = torch.tensor([0, 1])
    return batch


def make(objective: str, **extra: str):
    torch.manual_seed(0)
    return build_model(small_cfg(**extra), get_objective(objective), VOCAB, pad_token_id=0).eval()


# ----------------------------------------------------------------------------- heads


def test_sbo_targets_skip_ignored_and_beyond_max():
    pos = torch.tensor([[-100, 0, 1, 2, -100], [0, 14, 15, -100, 3]])
    assert sbo_targets(pos, max_targets=15).tolist() == [1, 2, 3, 5, 6, 9]
    assert sbo_targets(pos, max_targets=2).tolist() == [1, 2, 5]


def test_gather_targets_picks_each_rows_own_boundary_tokens():
    labels = torch.full((2, 5), -100)
    labels[0, 2], labels[1, 3] = 11, 12
    left = torch.tensor([[0, 0, 1, 0, 0], [0, 0, 0, 2, 0]])
    right = torch.tensor([[0, 0, 3, 0, 0], [0, 0, 0, 4, 0]])
    pos = torch.where(labels != -100, 0, -100)
    got = gather_targets(labels, left, right, pos, sbo_max_targets=15)
    assert got["mlm_index"].tolist() == [2, 8] and got["mlm_label"].tolist() == [11, 12]
    assert got["sbo_left"].tolist() == [1, 7] and got["sbo_right"].tolist() == [3, 9]  # flat, own row
    padded = gather_targets(labels, left, right, pos, sbo_max_targets=15, slots=64)
    assert {tuple(v.shape) for v in padded.values()} == {(64,)}
    assert padded["mlm_label"][2:].eq(-100).all() and padded["sbo_label"][2:].eq(-100).all()
    assert padded["mlm_index"][2:].eq(0).all() and padded["sbo_rel"][2:].eq(0).all()
    many = torch.randint(0, 9, (2, 100))  # 200 targets > 64 slots: the next multiple of 64
    assert len(gather_targets(many, None, None, None, 15, slots=64)["mlm_index"]) == 256


def test_target_slots_leave_headroom_over_the_masked_share():
    assert target_slots(32, 512, 0.15) == 2752  # 2,458 expected targets + 10%, a multiple of 64
    assert target_slots(4, 64, 0.15) % 64 == 0


def test_sbo_head_is_the_papers_two_layer_mlp_with_tied_output():
    torch.manual_seed(0)
    head = SpanBoundaryHead(hidden_size=8, vocab_size=30, max_targets=15, position_dim=200)
    assert head.position_embeddings.weight.shape == (200, 200)  # 200 positions, 200 wide; 15 used
    assert head.linear1.in_features == 2 * 8 + 200
    emb = torch.randn(30, 8)
    left, right, rel = torch.randn(3, 8), torch.randn(3, 8), torch.tensor([0, 4, 14])
    h0 = torch.cat([left, right, head.position_embeddings.weight[rel]], dim=-1)
    h1 = F.layer_norm(F.gelu(h0 @ head.linear1.weight.T + head.linear1.bias), (8,), eps=1e-12)
    y = F.layer_norm(F.gelu(h1 @ head.linear2.weight.T + head.linear2.bias), (8,), eps=1e-12)
    expected = y @ emb.T + head.bias
    torch.testing.assert_close(head(left, right, rel, emb), expected)


def plain_linear_cross_entropy(x, w, b, labels):
    """The unchunked path: every logit, a float32 copy, F.cross_entropy."""
    return F.cross_entropy(F.linear(x, w, b).float(), labels)


@pytest.mark.parametrize("chunk_rows", [1, 8, 64])
def test_chunked_linear_cross_entropy_equals_the_plain_loss_and_gradients(chunk_rows):
    torch.manual_seed(0)
    x, w, b = torch.randn(37, 16), torch.randn(50, 16), torch.randn(50)
    labels = torch.randint(0, 50, (37,))
    labels[::5] = -100  # padding slots and ignored rows count for nothing
    params = [t.requires_grad_() for t in (x, w, b)]
    expected = plain_linear_cross_entropy(x, w, b, labels)
    expected_grads = torch.autograd.grad(2.5 * expected, params)
    got = linear_cross_entropy(x, w, b, labels, chunk_rows=chunk_rows)
    torch.testing.assert_close(got, expected)
    for grad, want in zip(torch.autograd.grad(2.5 * got, params), expected_grads, strict=True):
        torch.testing.assert_close(grad, want)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(x, w, b, labels, chunk_rows), expected.detach())


def test_chunked_linear_cross_entropy_under_bf16_autocast_matches_the_plain_path():
    torch.manual_seed(0)
    x, w, b = (torch.randn(*shape).requires_grad_() for shape in [(40, 16), (50, 16), (50,)])
    labels = torch.randint(0, 50, (40,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = plain_linear_cross_entropy(x, w, b, labels)
        got = linear_cross_entropy(x, w, b, labels, chunk_rows=16)
    torch.testing.assert_close(got, expected)
    for grad, want in zip(
        torch.autograd.grad(got, (x, w, b)), torch.autograd.grad(expected, (x, w, b)), strict=True
    ):
        assert grad.dtype == want.dtype == torch.float32
        # bf16 products; ours sums the chunks' weight gradients in float32, autograd in one bf16 product
        torch.testing.assert_close(grad, want, rtol=0.02, atol=0.02 * want.abs().max().item())


def test_linear_cross_entropy_without_targets_is_zero_and_differentiable():
    x = torch.randn(4, 8, requires_grad=True)
    loss = linear_cross_entropy(x, torch.randn(7, 8), torch.zeros(7), torch.full((4,), -100))
    loss.backward()
    assert loss.item() == 0.0 and x.grad.abs().sum() == 0


# ----------------------------------------------------------------------------- model


def test_spanbert_loss_is_mlm_plus_sbo_over_masked_positions_only():
    model = make("spanbert")
    batch = hand_batch()
    out = model(**batch)
    assert set(out) == {"loss", "mlm_loss", "sbo_loss"}
    torch.testing.assert_close(out["loss"], out["mlm_loss"] + out["sbo_loss"])
    # Recompute MLM by hand from the encoder output: 6 masked tokens, logits only there.
    hidden = model.bert(input_ids=batch["input_ids"]).last_hidden_state
    masked = batch["mlm_labels"] != -100
    logits = model.cls.predictions(hidden[masked], model.bert.embeddings.word_embeddings.weight)
    assert logits.shape == (6, VOCAB)
    torch.testing.assert_close(out["mlm_loss"], F.cross_entropy(logits, batch["mlm_labels"][masked]))


def test_fixed_target_slots_give_the_same_losses_as_exact_targets():
    model = make("spanbert")
    batch = hand_batch()
    slots = gather_targets(
        batch["mlm_labels"], batch["sbo_left"], batch["sbo_right"], batch["sbo_pos"], 15, slots=64
    )
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    exact, padded = model(**batch), model(**inputs, targets=slots)
    for name in exact:
        torch.testing.assert_close(padded[name], exact[name])


def test_mlm_head_is_tied_to_input_embeddings():
    model = make("spanbert")
    shapes = [p.shape for n, p in model.named_parameters() if n.startswith(("cls.", "sbo."))]
    assert (VOCAB, 32) not in shapes  # no decoder matrix of its own
    model.train()
    model(**hand_batch())["loss"].backward()
    grad = model.bert.embeddings.word_embeddings.weight.grad
    assert grad[2].abs().sum() > 0  # [SEP] row: only reachable through the tied output projections


def test_sbo_loss_uses_the_boundary_tokens():
    model = make("spanbert")
    batch = hand_batch()
    base = model(**batch)["sbo_loss"]
    moved = dict(batch, sbo_left=torch.where(batch["sbo_pos"] >= 0, 0, batch["sbo_left"]))
    assert not torch.isclose(model(**moved)["sbo_loss"], base)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_trains_on_a_hand_batch(name):
    obj = get_objective(name)
    model = make(name).train()
    out = model(**hand_batch(pair=obj.nsp))
    expected = (
        {"loss", "mlm_loss"} | ({"sbo_loss"} if obj.sbo else set()) | ({"nsp_loss"} if obj.nsp else set())
    )
    assert set(out) == expected
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    assert (model.sbo is not None) == obj.sbo
    assert (model.cls.seq_relationship is not None) == obj.nsp == (model.bert.pooler is not None)


def test_unknown_objective_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="spanbert"):
        get_objective("spanbrt")


# ----------------------------------------------------------------------------- saving and loading


def card_info() -> dict:
    return {
        "objective": "spanbert",
        "objective_description": "span masking + MLM + SBO",
        "nsp": False,
        "sbo": True,
        "preset": "tiny",
        "corpus": "corpus/",
        "corpus_fingerprint": "sha256:abc",
        "steps": 7,
        "tokens_seen": 1234,
        "final_loss": 9.5,
        "init": None,
        "world_size": 1,
        "wall_s": 1.0,
        "finished_at": "2026-11-26T12:00:00Z",
        "config": {"hidden_size": 32},
    }


@pytest.fixture(scope="module")
def tokenizer():
    from spaneval.models import bundled_tokenizer

    return bundled_tokenizer()


def test_saved_model_loads_in_hugging_face_tools(tmp_path, tokenizer):
    model = make("spanbert")
    out = save_pretrained(model, tokenizer, tmp_path / "model", card_info())
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    encoder, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert not [k for k in info["missing_keys"] if not k.startswith("pooler.")]
    for name, tensor in model.bert.state_dict().items():
        torch.testing.assert_close(encoder.state_dict()[name], tensor)
    mlm, info = BertForMaskedLM.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"]
    assert all(k.startswith("sbo.") for k in info["unexpected_keys"])
    batch = hand_batch()
    hidden = model.bert(input_ids=batch["input_ids"]).last_hidden_state
    ours = model.cls.predictions(hidden[0], model.bert.embeddings.word_embeddings.weight)
    torch.testing.assert_close(mlm.eval()(input_ids=batch["input_ids"]).logits[0], ours)


def test_model_card_states_objective_corpus_steps_and_tokens(tmp_path, tokenizer):
    out = save_pretrained(make("spanbert"), tokenizer, tmp_path / "model", card_info())
    card = (out / "README.md").read_text()
    for needle in ("spanbert", "sha256:abc", "steps: 7", "tokens seen: 1,234", "sbo.*"):
        assert needle in card
    assert json.loads((out / "pretraining.json").read_text())["tokens_seen"] == 1234
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]


def test_continued_pretraining_loads_heads_where_present(tmp_path, tokenizer):
    source = make("spanbert")
    out = save_pretrained(source, tokenizer, tmp_path / "model", card_info())
    cfg = small_cfg()
    heads = (cfg.sbo_max_targets, cfg.sbo_position_dim)  # as `source` was built
    same, report = load_for_continued_pretraining(out, get_objective("spanbert"), *heads)
    assert report == {"loaded": ["cls.predictions", "sbo"], "new": []}
    torch.testing.assert_close(same.sbo.linear1.weight, source.sbo.linear1.weight)
    nsp, report = load_for_continued_pretraining(out, get_objective("bert-nsp"), *heads)
    assert report == {"loaded": ["cls.predictions"], "new": ["cls.seq_relationship"]}
    torch.testing.assert_close(
        nsp.bert.embeddings.word_embeddings.weight, source.bert.embeddings.word_embeddings.weight
    )


def test_continued_pretraining_from_a_bare_encoder_initialises_all_heads(tmp_path):
    torch.manual_seed(0)
    encoder = BertModel(make("spanbert").bert.config, add_pooling_layer=False)
    encoder.save_pretrained(tmp_path / "enc")
    cfg = small_cfg()
    heads = (cfg.sbo_max_targets, cfg.sbo_position_dim)
    _, report = load_for_continued_pretraining(tmp_path / "enc", get_objective("spanbert"), *heads)
    assert report == {"loaded": [], "new": ["cls.predictions", "sbo"]}


# ----------------------------------------------------------------------------- presets


def test_presets_resolve_and_base_is_the_papers_setting():
    for name in PRESETS:
        resolve_config(name)
    base = resolve_config("base")
    assert (base.learning_rate, base.warmup_steps, base.max_steps) == (1e-4, 10_000, 2_400_000)
    assert (base.batch_size, base.seq_len, base.dropout, base.max_grad_norm) == (256, 512, 0.1, 1.0)
    assert (base.adam_beta1, base.adam_beta2, base.adam_eps) == (0.9, 0.999, 1e-8)


def test_weight_decay_names():
    assert weight_decay_value("released") == 0.01
    assert weight_decay_value("paper") == 0.1
    assert weight_decay_value("0.05") == 0.05
    with pytest.raises(ConfigError, match="released"):
        resolve_config("tiny", {"weight_decay": "papr"})


def test_bad_overrides_are_errors_naming_the_key():
    with pytest.raises(ConfigError, match="learning_rate"):
        resolve_config("tiny", {"learning_rat": "1e-3"})
    with pytest.raises(ConfigError, match="micro_batch_size"):
        resolve_config("tiny", {"batch_size": "10", "micro_batch_size": "4"})
    with pytest.raises(UnknownNameError, match="tiny"):
        resolve_config("tiyn")
