"""Pretraining configuration: one frozen dataclass, named presets, and the weight-decay names.

Presets are plain dicts of overrides applied on top of the dataclass defaults (which are the
paper's base settings). `base` and `large` follow the SpanBERT paper, Appendix A / Section 4:
AdamW, peak learning rate 1e-4, 10k warmup steps then linear decay, betas (0.9, 0.999), eps 1e-8,
dropout 0.1, GeLU, gradient clipping 1.0, batch 256 sequences of 512 tokens, 2.4M steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from spaneval.config import apply_overrides, check_ranges, option
from spaneval.errors import ConfigError
from spaneval.registry import lookup

# Weight decay differs between the paper text (0.1, Appendix A) and the released scripts
# (`--weight-decay 0.01` in facebookresearch/SpanBERT pretraining/all_slurm/*.sh).
WEIGHT_DECAY: dict[str, float] = {"released": 0.01, "paper": 0.1}


@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run needs besides the objective, corpus and output directory."""

    # encoder shape (BERT base by default)
    hidden_size: int = option(768, "encoder width", min=1)
    num_layers: int = option(12, "transformer layers", min=1)
    num_heads: int = option(12, "attention heads", min=1)
    intermediate_size: int = option(3072, "feed-forward width", min=1)
    dropout: float = option(0.1, "dropout on all layers and attention probabilities", min=0, below=1)
    max_position_embeddings: int = option(512, "learned positions (>= seq_len)", min=8)
    # span boundary objective head (released code: pair_bert.py BertPairTargetPredictionHead)
    sbo_max_targets: int = option(15, "SBO targets per span: the first N tokens of a longer span", min=1)
    sbo_position_dim: int = option(200, "width of the SBO relative-position embedding", min=1)
    # data and masking
    seq_len: int = option(512, "tokens per block, [CLS] and [SEP] included", min=8)
    batch_size: int = option(256, "sequences per optimizer step, over all processes and accumulation", min=1)
    micro_batch_size: int = option(32, "sequences per forward pass on one process", min=1)
    mask_ratio: float = option(0.15, "fraction of tokens masked", above=0, below=1)
    geometric_p: float = option(
        0.2, "span masking: p of the geometric span-length distribution", above=0, max=1
    )
    max_span_words: int = option(10, "span masking: longest span in words", min=1)
    pack_blocks: bool = option(
        True,
        "pack several document-bounded blocks into each row, each attending only to itself "
        "(single-sequence objectives; bert-nsp rows stay one pair each)",
    )
    replacement: Literal["span", "token"] = option(
        "span", "80/10/10 decision once per span (paper) or per token (released code's default option)"
    )
    shard_cache: str = option("", "directory for tokenised corpus shards ('' = $SPANEVAL_CACHE/shards)")
    # optimisation
    learning_rate: float = option(1e-4, "peak AdamW learning rate", above=0, max=1)
    warmup_steps: int = option(10_000, "linear warmup steps, then linear decay to 0 at max_steps", min=0)
    max_steps: int = option(2_400_000, "optimizer steps", min=1)
    weight_decay: str = option(
        "paper", "'paper' (0.1, Appendix A), 'released' (0.01, launch scripts) or a number"
    )
    adam_beta1: float = option(0.9, "AdamW beta1", min=0, below=1)
    adam_beta2: float = option(0.999, "AdamW beta2", min=0, below=1)
    adam_eps: float = option(1e-8, "AdamW epsilon", above=0, max=1)
    max_grad_norm: float = option(1.0, "gradient clipping norm (0: off)", min=0)
    # run
    seed: int = option(1, "seed of model initialisation, masking and dropout", min=0)
    precision: Literal["auto", "fp32", "bf16"] = option("auto", "auto: bf16 autocast on GPU, float32 on CPU")
    compile: bool = option(False, "torch.compile the encoder (GPU)")
    log_every_steps: int = option(10, "progress line and TensorBoard every N steps", min=1)
    checkpoint_every_steps: int = option(1000, "resumable checkpoint every N steps (and at the end)", min=1)
    tensorboard: bool = option(True, "log to OUTPUT/tensorboard when tensorboard is installed")
    num_threads: int = option(
        0, "CPU threads for torch (0: torch's default); 1 is fastest on a busy machine", min=0
    )

    def __post_init__(self) -> None:
        check_ranges(self)


PRESETS: dict[str, dict[str, Any]] = {
    # CPU, seconds: the quickstart pretrains two of these and fine-tunes them in minutes.
    "tiny": {
        "hidden_size": 128,
        "num_layers": 2,
        "num_heads": 2,
        "intermediate_size": 512,
        "max_position_embeddings": 128,
        "seq_len": 128,
        "batch_size": 8,
        "micro_batch_size": 8,
        "learning_rate": 1e-3,
        "warmup_steps": 20,
        "max_steps": 200,
        "log_every_steps": 10,
        "checkpoint_every_steps": 100,
        # On a 2-core machine that is busy with anything else, two OpenMP threads are ~3x slower
        # than one on these small matrices (measured: 228 s vs 78 s for 150 steps of 16 x 128).
        "num_threads": 1,
    },
    # One GPU, minutes.
    "small": {
        "hidden_size": 256,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_size": 1024,
        "seq_len": 256,
        "batch_size": 128,
        "micro_batch_size": 64,
        "learning_rate": 5e-4,
        "warmup_steps": 1000,
        "max_steps": 20_000,
        "log_every_steps": 50,
    },
    # SpanBERT paper, Appendix A / Section 4 (= the dataclass defaults, stated for reading).
    "base": {
        "hidden_size": 768,
        "num_layers": 12,
        "num_heads": 12,
        "intermediate_size": 3072,
        "seq_len": 512,
        "batch_size": 256,
        "micro_batch_size": 32,
        "learning_rate": 1e-4,
        "warmup_steps": 10_000,
        "max_steps": 2_400_000,
    },
    # SpanBERT paper, Appendix A: large uses the same optimisation settings as base.
    "large": {
        "hidden_size": 1024,
        "num_layers": 24,
        "num_heads": 16,
        "intermediate_size": 4096,
        "seq_len": 512,
        "batch_size": 256,
        "micro_batch_size": 16,
        "learning_rate": 1e-4,
        "warmup_steps": 10_000,
        "max_steps": 2_400_000,
    },
}


def resolve_config(preset: str, overrides: dict[str, str] | None = None) -> PretrainConfig:
    """The preset's config with `key=value` overrides applied and checked."""
    preset_values = lookup(PRESETS, preset, "preset")
    cfg = apply_overrides({"run": PretrainConfig()}, preset_values)["run"]
    cfg = apply_overrides({"run": cfg}, overrides or {})["run"]
    check_config(cfg)
    return cfg


def weight_decay_value(name_or_number: str) -> float:
    """'released' -> 0.01, 'paper' -> 0.1, '0.05' -> 0.05."""
    if name_or_number in WEIGHT_DECAY:
        return WEIGHT_DECAY[name_or_number]
    try:
        return float(name_or_number)
    except ValueError:
        raise ConfigError(
            f"weight_decay={name_or_number!r}: expected 'released' (0.01), 'paper' (0.1) or a number"
        ) from None


def check_config(cfg: PretrainConfig) -> None:
    """Reject combinations no run can use, naming the keys to change."""
    weight_decay_value(cfg.weight_decay)
    if cfg.hidden_size % cfg.num_heads:
        raise ConfigError(f"hidden_size={cfg.hidden_size} is not divisible by num_heads={cfg.num_heads}")
    if cfg.seq_len > cfg.max_position_embeddings:
        raise ConfigError(
            f"seq_len={cfg.seq_len} exceeds max_position_embeddings={cfg.max_position_embeddings}"
        )
    if cfg.batch_size % cfg.micro_batch_size:
        raise ConfigError(
            f"batch_size={cfg.batch_size} is not a multiple of micro_batch_size={cfg.micro_batch_size}"
        )
