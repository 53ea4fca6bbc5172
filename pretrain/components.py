"""The one place where a resolved PretrainConfig becomes the pretraining run's components.

The components take plain arguments (torchtune's rule: never a config object): BlockStream the
data settings, MaskingConfig the masking ones, PretrainingModel a BertConfig and head sizes,
BatchLoader a device, the optimizer and schedule (spaneval/training_core.py) rates and step
counts. The functions here read the config and pass those arguments, so that pretrain/train.py
reads top to bottom: data, model, optimizer, schedule, gradient accumulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig

from spaneval.distributed import DistInfo
from spaneval.errors import ConfigError
from spaneval.models import cache_root
from spaneval.pretrain.blocks import BlockStream, TokenizerSpecials
from spaneval.pretrain.loader import BatchLoader
from spaneval.pretrain.masking import MaskingConfig
from spaneval.pretrain.model import PretrainingModel, load_for_continued_pretraining
from spaneval.pretrain.objectives import Objective
from spaneval.pretrain.presets import PretrainConfig, weight_decay_value
from spaneval.pretrain.targets import target_slots
from spaneval.training_core import default_param_groups, linear_warmup_decay, make_optimizer

# ----------------------------------------------------------------------------- data


def shard_cache_dir(cfg: PretrainConfig) -> Path:
    """Where the tokenised corpus shards are kept: `shard_cache`, or $SPANEVAL_CACHE/shards."""
    return Path(cfg.shard_cache) if cfg.shard_cache else cache_root() / "shards"


def masking_config(objective: Objective, cfg: PretrainConfig) -> MaskingConfig:
    """The objective's masking scheme with the run's masking settings."""
    return MaskingConfig(
        scheme=objective.masking_scheme,
        mask_ratio=cfg.mask_ratio,
        geometric_p=cfg.geometric_p,
        max_span_words=cfg.max_span_words,
        replacement=cfg.replacement,
        max_sbo_targets=cfg.sbo_max_targets,
    )


def build_loader(
    shards: Any, tokenizer: Any, obj: Objective, cfg: PretrainConfig, dist: DistInfo
) -> BatchLoader:
    """This rank's masked micro-batches (a disjoint part of the data), prepared on its device."""
    stream = BlockStream(
        shards,
        seq_len=cfg.seq_len,
        objective_kind=obj.block_kind,
        batch_size=cfg.micro_batch_size,
        tokenizer_specials=TokenizerSpecials.from_tokenizer(tokenizer),
        masking=masking_config(obj, cfg),
        seed=cfg.seed,
        rank=dist.rank,
        world_size=dist.world_size,
        pack=cfg.pack_blocks and obj.block_kind == "single",
    )
    # SBO targets only for the SBO head; fixed target slots when compiling (one graph for every step)
    slots = target_slots(cfg.micro_batch_size, cfg.seq_len, cfg.mask_ratio) if cfg.compile else None
    return BatchLoader(stream, dist.device, cfg.sbo_max_targets if obj.sbo else None, slots)


def grad_accum_steps(cfg: PretrainConfig, world_size: int) -> int:
    """Micro-batches per process per optimizer step, so that the global batch is `batch_size`."""
    per_pass = cfg.micro_batch_size * world_size
    if cfg.batch_size % per_pass:
        raise ConfigError(
            f"batch_size={cfg.batch_size} is not a multiple of micro_batch_size x processes "
            f"= {cfg.micro_batch_size} x {world_size}; change batch_size or micro_batch_size"
        )
    return cfg.batch_size // per_pass


# ----------------------------------------------------------------------------- model


def bert_config(cfg: PretrainConfig, vocab_size: int, pad_token_id: int) -> BertConfig:
    """The BertConfig of a freshly initialised encoder of the run's shape."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        hidden_act="gelu",
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=cfg.max_position_embeddings,
        type_vocab_size=2,
        pad_token_id=pad_token_id,
        attn_implementation="sdpa",
    )


def build_model(
    cfg: PretrainConfig, objective: Objective, vocab_size: int, pad_token_id: int
) -> PretrainingModel:
    """A freshly initialised model (seed torch before calling for a reproducible init)."""
    return PretrainingModel(
        bert_config(cfg, vocab_size, pad_token_id), objective, cfg.sbo_max_targets, cfg.sbo_position_dim
    )


def initial_model(
    cfg: PretrainConfig, obj: Objective, tokenizer: Any, init_dir: Path | None
) -> tuple[PretrainingModel, dict[str, list[str]] | None]:
    """A fresh model, or one continued from `init_dir` with the report of which heads it had."""
    if init_dir is None:
        return build_model(cfg, obj, len(tokenizer), tokenizer.pad_token_id), None
    model, report = load_for_continued_pretraining(init_dir, obj, cfg.sbo_max_targets, cfg.sbo_position_dim)
    if model.bert.config.vocab_size != len(tokenizer):
        raise ConfigError(
            f"--init {init_dir}: its vocabulary has {model.bert.config.vocab_size} entries but its "
            f"tokenizer {len(tokenizer)}"
        )
    if cfg.seq_len > model.bert.config.max_position_embeddings:
        raise ConfigError(
            f"seq_len={cfg.seq_len} exceeds the {model.bert.config.max_position_embeddings} positions "
            f"of --init {init_dir}; set seq_len={model.bert.config.max_position_embeddings} or less"
        )
    return model, report


# ----------------------------------------------------------------------------- optimisation


def build_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with BERT's parameter groups and the weight decay `weight_decay` names."""
    groups = default_param_groups(model, cfg.learning_rate, weight_decay_value(cfg.weight_decay))
    return make_optimizer(groups, (cfg.adam_beta1, cfg.adam_beta2), cfg.adam_eps)


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: PretrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """SpanBERT paper, Appendix A: linear warmup over warmup_steps, then linear decay to 0 at max_steps."""
    return linear_warmup_decay(optimizer, cfg.warmup_steps, cfg.max_steps)
