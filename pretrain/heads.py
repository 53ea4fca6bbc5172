"""Pretraining heads: BERT's masked-LM head and SpanBERT's span boundary objective (SBO) head.

Both project onto the vocabulary with the input word-embedding matrix (weight tying, BERT and
SpanBERT alike), which the caller passes in: the heads own no copy of it, so a state dict holds
each tensor once and safetensors can store it. Both compute logits only for the rows they are
given (masked positions), never for the whole sequence: at 15% masking that is ~7x less work in
the vocabulary projection, the largest single matrix product of a small BERT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PredictionTransform(nn.Module):
    """dense -> GeLU -> LayerNorm (BERT's `cls.predictions.transform`; names match Hugging Face)."""

    def __init__(self, hidden_size: int, layer_norm_eps: float = 1e-12):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(self.dense(hidden)))


class MaskedLMHead(nn.Module):
    """BERT's MLM head with the decoder tied to the input embeddings.

    Parameter names match `BertForMaskedLM.cls.predictions`, so a saved checkpoint loads its MLM
    head in any Hugging Face tool (the tied decoder weight is not stored; HF re-ties it).
    """

    def __init__(self, hidden_size: int, vocab_size: int, layer_norm_eps: float = 1e-12):
        super().__init__()
        self.transform = PredictionTransform(hidden_size, layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, masked_hidden: Tensor, word_embeddings: Tensor) -> Tensor:
        # masked_hidden [N, H], word_embeddings [V, H] -> logits [N, V]
        return F.linear(self.transform(masked_hidden), word_embeddings, self.bias)


SBO_POSITIONS = 200


class SpanBoundaryHead(nn.Module):
    """SpanBERT's SBO head (paper, Section 3.2, eq. 1-2).

    For a masked token x_i in span (x_s..x_e): h0 = [x_{s-1}; x_{e+1}; p_{i-s+1}],
    h1 = LayerNorm(GeLU(W1 h0)), y_i = LayerNorm(GeLU(W2 h1)), logits = E y_i + b with E the
    input embeddings. The relative position embedding has 200 entries (the 200 positions of the
    project's reading of the paper) and is `position_dim` wide (200 in the released code,
    pair_bert.py: nn.Embedding(max_targets, position_embedding_size=200)). Only the first
    `max_targets` (15) rows are ever looked up, because later tokens of a long span are not SBO
    targets, so the extra rows change nothing but the parameter count.
    """

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        max_targets: int = 15,
        position_dim: int = 200,
        layer_norm_eps: float = 1e-12,
    ):
        super().__init__()
        self.max_targets = max_targets
        self.position_embeddings = nn.Embedding(max(SBO_POSITIONS, max_targets), position_dim)
        self.linear1 = nn.Linear(2 * hidden_size + position_dim, hidden_size)
        self.layer_norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.linear2 = nn.Linear(hidden_size, hidden_size)
        self.layer_norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, left: Tensor, right: Tensor, relative_pos: Tensor, word_embeddings: Tensor) -> Tensor:
        # left, right [N, H] boundary states; relative_pos [N] in [0, max_targets) -> logits [N, V]
        return F.linear(self.features(left, right, relative_pos), word_embeddings, self.bias)

    def features(self, left: Tensor, right: Tensor, relative_pos: Tensor) -> Tensor:
        """y_i [N, H], what the tied projection turns into logits (the loss takes it from here)."""
        h0 = torch.cat([left, right, self.position_embeddings(relative_pos)], dim=-1)
        h1 = self.layer_norm1(F.gelu(self.linear1(h0)))
        return self.layer_norm2(F.gelu(self.linear2(h1)))


def sbo_targets(sbo_pos: Tensor, max_targets: int) -> Tensor:
    """Flat indices [N] into B*L of the positions that are SBO targets (0 <= sbo_pos < max_targets)."""
    flat = sbo_pos.reshape(-1)
    return ((flat >= 0) & (flat < max_targets)).nonzero().squeeze(1)


def init_head_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: normal(0, std) weights, zero biases, unit LayerNorm."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, mean=0.0, std=std)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
