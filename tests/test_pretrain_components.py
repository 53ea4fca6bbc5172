"""The resolved pretraining config turned into components: each setting reaches its component."""

from __future__ import annotations

import pytest
import torch
from transformers import BertModel

from spaneval.distributed import DistInfo
from spaneval.errors import ConfigError
from spaneval.models import bundled_tokenizer
from spaneval.pretrain import components
from spaneval.pretrain.corpus import build_shards
from spaneval.pretrain.objectives import get_objective
from spaneval.pretrain.presets import resolve_config

SMALL = {"hidden_size": "32", "num_layers": "1", "num_heads": "2", "intermediate_size": "64"}
CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


class FakeTokenizer:
    """What building a model asks of a tokenizer: its size and padding id."""

    pad_token_id = 0

    def __init__(self, size: int = 100):
        self.size = size

    def __len__(self) -> int:
        return self.size


def small_cfg(**extra: str):
    return resolve_config("tiny", {**SMALL, **extra})


def test_grad_accumulation_fills_the_global_batch():
    cfg = resolve_config("base")
    assert components.grad_accum_steps(cfg, world_size=1) == 8
    assert components.grad_accum_steps(cfg, world_size=8) == 1
    with pytest.raises(ConfigError, match="processes"):
        components.grad_accum_steps(cfg, world_size=3)


def test_masking_takes_the_objectives_scheme_and_the_runs_settings():
    cfg = small_cfg(mask_ratio="0.2", geometric_p="0.3", max_span_words="5", replacement="token")
    span = components.masking_config(get_objective("spanbert"), cfg)
    assert (span.scheme, span.mask_ratio, span.geometric_p) == ("span", 0.2, 0.3)
    assert (span.max_span_words, span.replacement, span.max_sbo_targets) == (5, "token", 15)
    assert components.masking_config(get_objective("bert-1seq"), cfg).scheme == "subword"


def test_loader_yields_micro_batches_of_the_configured_shape(tmp_path):
    (tmp_path / "doc.txt").write_text("The river ran past the old mill where Anna met her brother. " * 40)
    tokenizer = bundled_tokenizer()
    shards = build_shards(tmp_path / "doc.txt", tokenizer, tmp_path / "shards")
    cfg = small_cfg(seq_len="32", micro_batch_size="2", batch_size="2")
    batch = components.build_loader(shards, tokenizer, get_objective("spanbert"), cfg, CPU).take()
    assert batch.inputs["input_ids"].shape == (2, 32)
    assert {"sbo_left", "sbo_right", "sbo_label"} <= set(batch.inputs["targets"])  # SBO targets
    bert = components.build_loader(shards, tokenizer, get_objective("bert-1seq"), cfg, CPU).take()
    assert set(bert.inputs["targets"]) == {"mlm_index", "mlm_label"}


def test_fresh_model_has_the_configured_shape_and_the_tokenizers_vocabulary():
    cfg = small_cfg(max_position_embeddings="64", seq_len="64")
    model, heads = components.initial_model(cfg, get_objective("bert-nsp"), FakeTokenizer(100), None)
    config = model.bert.config
    assert heads is None
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (100, 32, 1)
    assert config.max_position_embeddings == 64 and model.cls.seq_relationship is not None


def test_init_model_must_fit_the_tokenizer_and_seq_len(tmp_path):
    encoder = BertModel(components.bert_config(small_cfg(max_position_embeddings="16", seq_len="16"), 100, 0))
    encoder.save_pretrained(tmp_path / "enc")
    obj = get_objective("spanbert")
    _, heads = components.initial_model(small_cfg(seq_len="16"), obj, FakeTokenizer(100), tmp_path / "enc")
    assert heads == {"loaded": [], "new": ["cls.predictions", "sbo"]}
    with pytest.raises(ConfigError, match="vocabulary has 100 entries but its tokenizer 90"):
        components.initial_model(small_cfg(seq_len="16"), obj, FakeTokenizer(90), tmp_path / "enc")
    with pytest.raises(ConfigError, match="seq_len=32 exceeds the 16 positions"):
        components.initial_model(small_cfg(seq_len="32"), obj, FakeTokenizer(100), tmp_path / "enc")


def test_optimizer_uses_the_named_weight_decay_and_the_adam_settings():
    cfg = small_cfg(weight_decay="paper", learning_rate="2e-4", adam_beta2="0.98", adam_eps="1e-6")
    model, _ = components.initial_model(cfg, get_objective("spanbert"), FakeTokenizer(), None)
    decay, no_decay = components.build_optimizer(model, cfg).param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)  # paper, Appendix A
    assert (decay["lr"], decay["betas"], decay["eps"]) == (2e-4, (0.9, 0.98), 1e-6)
    released = components.build_optimizer(model, small_cfg(weight_decay="released"))
    assert released.param_groups[0]["weight_decay"] == 0.01


def test_schedule_warms_up_over_warmup_steps_and_ends_at_max_steps():
    cfg = small_cfg(learning_rate="1e-3", warmup_steps="4", max_steps="8")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    scheduler = components.build_schedule(optimizer, cfg)
    rates = []
    for _ in range(9):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(cfg.learning_rate / 4)
    assert max(rates) == pytest.approx(cfg.learning_rate) and rates[-1] == 0.0
