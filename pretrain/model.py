"""The pretraining model: a transformers `BertModel` plus the heads its objective needs.

Saved as a standard Hugging Face directory (config.json, model.safetensors, tokenizer, README.md
model card): `AutoModel.from_pretrained(DIR)` loads the encoder, `AutoModelForMaskedLM` loads
the MLM head too (names match BertForMaskedLM), and `spaneval run squad --model DIR` works.
The SBO head is stored under `sbo.*`; Hugging Face loaders report it as unused and skip it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import BertConfig, BertModel

from spaneval.atomic import write_dir, write_json, write_text
from spaneval.errors import SpanevalError
from spaneval.pretrain.heads import MaskedLMHead, SpanBoundaryHead, init_head_weights
from spaneval.pretrain.objectives import Objective
from spaneval.pretrain.targets import gather_targets
from spaneval.pretrain.vocab_loss import linear_cross_entropy

IGNORE = -100


class PretrainingHeads(nn.Module):
    """`cls.predictions` (MLM) and, for NSP, `cls.seq_relationship`: BertForPreTraining's names."""

    def __init__(self, config: BertConfig, nsp: bool):
        super().__init__()
        self.predictions = MaskedLMHead(config.hidden_size, config.vocab_size, config.layer_norm_eps)
        self.seq_relationship = nn.Linear(config.hidden_size, 2) if nsp else None


class PretrainingModel(nn.Module):
    """BertModel + MLM head (+ SBO head, + NSP head), returning the summed loss and its parts."""

    def __init__(self, config: BertConfig, objective: Objective, sbo_max_targets: int, sbo_position_dim: int):
        super().__init__()
        self.objective = objective
        self.bert = BertModel(config, add_pooling_layer=objective.nsp)
        self.cls = PretrainingHeads(config, nsp=objective.nsp)
        self.sbo = (
            SpanBoundaryHead(
                config.hidden_size,
                config.vocab_size,
                sbo_max_targets,
                sbo_position_dim,
                config.layer_norm_eps,
            )
            if objective.sbo
            else None
        )
        init_head_weights(self.cls, config.initializer_range)
        if self.sbo is not None:
            init_head_weights(self.sbo, config.initializer_range)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        mlm_labels: Tensor | None = None,
        sbo_left: Tensor | None = None,
        sbo_right: Tensor | None = None,
        sbo_pos: Tensor | None = None,
        nsp_labels: Tensor | None = None,
        position_ids: Tensor | None = None,
        segment_ids: Tensor | None = None,
        targets: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Losses of one batch ([B, L] inputs).

        targets: `gather_targets` of the batch, as the loader sends it (found on the CPU, padded
        to a fixed size); derived here from mlm_labels and sbo_* when absent. segment_ids: packed
        rows (pretrain/packing.py), whose tokens attend only within their own segment.
        """
        if segment_ids is not None:
            # [B, 1, L, L] block-diagonal, built on the device from [B, L] (no 4D copy from the host).
            attention_mask = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
        # attention_mask None: every block is full, and SDPA can use its fastest (unmasked) kernel.
        out = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
        )
        if targets is None:
            targets = self._targets(mlm_labels, sbo_left, sbo_right, sbo_pos)
        losses = self._vocabulary_losses(out.last_hidden_state, targets)
        if self.cls.seq_relationship is not None:
            nsp_logits = self.cls.seq_relationship(out.pooler_output)  # [B, 2]
            losses["nsp_loss"] = F.cross_entropy(nsp_logits.float(), nsp_labels)
        # Each loss is a mean over its own targets; the total is their plain sum (see docs/pretraining.md).
        losses["loss"] = sum(losses.values())
        return losses

    def _vocabulary_losses(self, last_hidden: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """MLM (and SBO) losses at the targets only, through the tied, chunked vocabulary loss."""
        hidden = last_hidden.reshape(-1, last_hidden.shape[-1])  # [B*L, H]
        embeddings = self.bert.embeddings.word_embeddings.weight  # [V, H], tied output projection
        predictions = self.cls.predictions
        mlm_inputs = predictions.transform(hidden[targets["mlm_index"]])  # [M, H]
        losses = {
            "mlm_loss": linear_cross_entropy(mlm_inputs, embeddings, predictions.bias, targets["mlm_label"])
        }
        if self.sbo is not None:
            left, right = hidden[targets["sbo_left"]], hidden[targets["sbo_right"]]  # [N, H] each
            sbo_inputs = self.sbo.features(left, right, targets["sbo_rel"])  # [N, H]
            losses["sbo_loss"] = linear_cross_entropy(
                sbo_inputs, embeddings, self.sbo.bias, targets["sbo_label"]
            )
        return losses

    def _targets(
        self,
        mlm_labels: Tensor | None,
        sbo_left: Tensor | None,
        sbo_right: Tensor | None,
        sbo_pos: Tensor | None,
    ) -> dict[str, Tensor]:
        if mlm_labels is None:
            raise SpanevalError("the model needs mlm_labels (or the loader's targets) in every batch")
        if self.sbo is None:
            return gather_targets(mlm_labels, None, None, None, 0)
        if sbo_left is None or sbo_right is None or sbo_pos is None:
            raise SpanevalError("the SBO objective needs sbo_left, sbo_right and sbo_pos in every batch")
        return gather_targets(mlm_labels, sbo_left, sbo_right, sbo_pos, self.sbo.max_targets)


def load_for_continued_pretraining(
    model_dir: Path, objective: Objective, sbo_max_targets: int, sbo_position_dim: int
) -> tuple[PretrainingModel, dict[str, list[str]]]:
    """A model initialised from a save_pretrained directory; heads it lacks are newly initialised.

    The encoder shape comes from the checkpoint's config.json (the preset's shape is ignored).
    Returns the model and {"loaded": [...], "new": [...]} naming the heads.
    """
    config = BertConfig.from_pretrained(model_dir, attn_implementation="sdpa")
    model = PretrainingModel(config, objective, sbo_max_targets, sbo_position_dim)
    model.bert = BertModel.from_pretrained(
        model_dir, add_pooling_layer=objective.nsp, attn_implementation="sdpa", local_files_only=True
    )
    stored = read_head_tensors(model_dir)
    report: dict[str, list[str]] = {"loaded": [], "new": []}
    heads = {"cls.predictions": model.cls.predictions, "cls.seq_relationship": model.cls.seq_relationship}
    heads["sbo"] = model.sbo
    for prefix, head in heads.items():
        if head is None:
            continue
        own = {k[len(prefix) + 1 :]: v for k, v in stored.items() if k.startswith(prefix + ".")}
        if own.keys() >= head.state_dict().keys():
            head.load_state_dict({k: own[k] for k in head.state_dict()})
            report["loaded"].append(prefix)
        else:
            report["new"].append(prefix)
    return model, report


def read_head_tensors(model_dir: Path) -> dict[str, Tensor]:
    """Every `cls.*` and `sbo.*` tensor stored in a model directory (safetensors or pytorch_model.bin)."""
    wanted = ("cls.", "sbo.")
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if files:
        from safetensors import safe_open

        out = {}
        for path in files:
            with safe_open(str(path), framework="pt") as f:
                out.update({k: f.get_tensor(k) for k in f.keys() if k.startswith(wanted)})  # noqa: SIM118
        return out
    bin_file = Path(model_dir) / "pytorch_model.bin"
    if bin_file.is_file():
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
        return {k: v for k, v in state.items() if k.startswith(wanted)}
    return {}


def save_pretrained(model: PretrainingModel, tokenizer: Any, out_dir: Path, info: Mapping[str, Any]) -> Path:
    """Write a Hugging Face model directory atomically: config, safetensors, tokenizer, model card."""
    from safetensors.torch import save_file

    def fill(tmp: Path) -> None:
        config = copy.deepcopy(model.bert.config)
        config.architectures = ["BertForMaskedLM"]
        config.save_pretrained(tmp)
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "pretraining.json", dict(info))
        write_text(tmp / "README.md", model_card(info))

    write_dir(out_dir, fill)
    return Path(out_dir)


def model_card(info: Mapping[str, Any]) -> str:
    """README.md of a pretrained model: what it was trained on, how long, and how to load it."""
    objective = info["objective"]
    parts = info.get("final_losses") or {"loss": info["final_loss"]}
    losses = ", ".join(f"{name} {value:.4f}" for name, value in parts.items())
    lines = [
        "---",
        "library_name: transformers",
        f"tags: [spaneval, {objective}, fill-mask]",
        "---",
        f"# {objective} ({info['preset']} preset), pretrained with spaneval",
        "",
        f"- objective: `{objective}`: {info['objective_description']}",
        f"- corpus: `{info['corpus']}`, fingerprint `{info['corpus_fingerprint']}`",
        f"- steps: {info['steps']:,}; tokens seen: {info['tokens_seen']:,}",
        f"- final step's losses: {losses}",
        f"- initialised from: {info.get('init') or 'scratch'}",
        f"- processes: {info['world_size']}; wall time: {info['wall_s']:.1f} s",
        f"- finished: {info['finished_at']}",
        "",
        "Load the encoder with `transformers.AutoModel.from_pretrained(DIR)`, the MLM head with",
        "`AutoModelForMaskedLM`, or evaluate it with `python -m spaneval run squad --model DIR`.",
        "The pooler was trained by next-sentence prediction."
        if info.get("nsp")
        else "No pooler weights are stored (no NSP): loaders that build a pooler initialise it randomly.",
    ]
    if info.get("sbo"):
        lines.append("The span boundary (SBO) head is stored under `sbo.*`; Hugging Face loaders skip it.")
    lines += ["", "Full configuration: `pretraining.json`.", "", "```json"]
    lines += [json.dumps(info.get("config", {}), indent=1), "```", ""]
    return "\n".join(lines)
