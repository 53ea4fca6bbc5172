"""Relation classifier over a BERT-style encoder: [CLS] or concatenated entity-start vectors.

- `cls`: BERT's pooled [CLS] (dense + tanh) -> dropout -> linear, as SpanBERT's released
  run_tacred.py and transformers' BertForSequenceClassification do, so a saved model is a standard
  BertForSequenceClassification folder with every key matched (spaneval/saved_model.py). The pooler
  starts from random weights for every model: SpanBERT is pretrained without next-sentence
  prediction, so it has no trained pooler, and the encoders here are loaded without one.
- `entity_start`: Zhou and Chen (2021) concatenate the vectors at the subject and object start
  tokens and classify with Linear(2h, h) -> ReLU -> dropout -> Linear(h, labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

CLASSIFIERS = ("cls", "entity_start")


class RelationClassifier(nn.Module):
    """forward(**batch) -> {"logits": (batch, labels), "loss" when labels are given}."""

    def __init__(self, encoder: nn.Module, num_labels: int, classifier: str, dropout: float):
        super().__init__()
        if classifier not in CLASSIFIERS:
            raise ValueError(f"classifier {classifier!r} not in {CLASSIFIERS}")
        self.encoder, self.classifier_kind = encoder, classifier
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        if classifier == "cls":
            self.pooler = nn.Linear(hidden, hidden)  # initialised as BERT's pooler
            nn.init.normal_(self.pooler.weight, std=encoder.config.initializer_range)
            nn.init.zeros_(self.pooler.bias)
            self.head = nn.Linear(hidden, num_labels)
        else:
            self.head = nn.Sequential(
                nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_labels)
            )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        subj_index: torch.Tensor,
        obj_index: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = out.last_hidden_state  # (batch, seq, h)
        if self.classifier_kind == "cls":
            features = torch.tanh(self.pooler(hidden[:, 0]))  # (batch, h)
        else:
            rows = torch.arange(hidden.size(0), device=hidden.device)
            features = torch.cat([hidden[rows, subj_index], hidden[rows, obj_index]], dim=-1)  # (batch, 2h)
        logits = self.head(self.dropout(features))  # (batch, labels)
        result = {"logits": logits}
        if labels is not None:
            result["loss"] = nn.functional.cross_entropy(logits, labels)
        return result

    def hf_layout(self) -> tuple[str, dict[str, str]] | None:
        """(transformers class, {our key prefix: its key prefix}) of this head; None for entity_start,
        which transformers has no class for."""
        if self.classifier_kind != "cls":
            return None
        keys = {"encoder.": "bert.", "pooler.": "bert.pooler.dense.", "head.": "classifier."}
        return "BertForSequenceClassification", keys


def collate_features(features: Sequence[dict]) -> dict[str, Any]:
    width = max(len(f["input_ids"]) for f in features)
    input_ids = torch.zeros(len(features), width, dtype=torch.long)  # padding is masked out
    attention = torch.zeros(len(features), width, dtype=torch.long)
    for row, f in enumerate(features):
        input_ids[row, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
        attention[row, : len(f["input_ids"])] = 1
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "token_type_ids": torch.zeros_like(input_ids),
        "subj_index": torch.tensor([f["subj_index"] for f in features]),
        "obj_index": torch.tensor([f["obj_index"] for f in features]),
    }
    if all(f.get("label") is not None for f in features):
        batch["labels"] = torch.tensor([f["label"] for f in features])
    return batch


def argmax_labels(features: Sequence[dict], outputs: list[dict], labels: tuple[str, ...]) -> list[str]:
    logits = np.concatenate([np.asarray(o["logits"]) for o in outputs], axis=0)  # (features, labels)
    if logits.shape[0] != len(features):
        raise ValueError(f"{logits.shape[0]} rows of logits for {len(features)} features")
    return [labels[i] for i in logits.argmax(axis=-1)]
