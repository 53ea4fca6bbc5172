"""Span extraction head: one linear layer giving start and end logits per token (BERT, SpanBERT).

The loss is the mean of the start and end cross-entropies, as in BERT and SpanBERT's QA code.
Positions outside the window's [CLS]+context are still scored here; the decoder restricts spans to
context tokens, and [CLS] (index 0) is the no-answer target.
"""

from __future__ import annotations

import torch
from torch import nn


class SpanExtractionModel(nn.Module):
    label_free = True  # start/end scores mean the same in any checkpoint: a saved head can be continued

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.qa_outputs = nn.Linear(encoder.config.hidden_size, 2)
        nn.init.normal_(self.qa_outputs.weight, std=encoder.config.initializer_range)
        nn.init.zeros_(self.qa_outputs.bias)

    def forward(
        self,
        input_ids: torch.Tensor,  # [B, L]
        attention_mask: torch.Tensor,  # [B, L]
        token_type_ids: torch.Tensor,  # [B, L]
        start_positions: torch.Tensor | None = None,  # [B]
        end_positions: torch.Tensor | None = None,  # [B]
    ) -> dict[str, torch.Tensor]:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state  # [B, L, H]
        start_logits, end_logits = self.qa_outputs(hidden).float().unbind(-1)  # [B, L] each
        out = {"start_logits": start_logits, "end_logits": end_logits}
        if start_positions is not None and end_positions is not None:
            loss_fn = nn.functional.cross_entropy
            out["loss"] = (loss_fn(start_logits, start_positions) + loss_fn(end_logits, end_positions)) / 2
        return out

    def hf_layout(self) -> tuple[str, dict[str, str]]:
        """(transformers class, {our key prefix: its key prefix}): BertForQuestionAnswering's head."""
        return "BertForQuestionAnswering", {"encoder.": "bert.", "qa_outputs.": "qa_outputs."}
