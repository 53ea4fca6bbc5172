"""QA fine-tuning throughput: our loop's step against Hugging Face BertForQuestionAnswering.

Both train on the same real SQuAD windows (384/128), the same batch size, SDPA attention and bf16
autocast on GPU. Ours trims each batch to its longest window (dynamic padding) and uses fused
AdamW; the baseline pads every window to max_seq_len as run_qa.py does (pad_to_max_length=True).
Prints one JSON line with examples/s of both and the ratio. Usage:
    python -m spaneval bench finetune [--size base|tiny] [--batch 32] [--data SQUAD.json]
Ours batches windows of similar length (the loop's default group_by_length); both time the same
50 batches' examples after 3 warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spaneval.train import LENGTH_GROUP_BATCHES, batch_indices

BUNDLED_TRAIN = Path(__file__).resolve().parents[1] / "data" / "squad" / "train-sample.json"


def _windows(data: Path, max_seq_len: int):
    from spaneval.models import bundled_tokenizer
    from tasks.qa_data import read_squad
    from tasks.qa_windows import encode_windows

    examples, _ = read_squad(data, strict=False)
    return encode_windows(examples, bundled_tokenizer(), max_seq_len=max_seq_len, doc_stride=128)


def _time_steps(step, batches, device: torch.device, warmup: int = 3) -> float:
    for b in batches[:warmup]:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for b in batches[warmup:]:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _stepper(model, device: torch.device):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, fused=device.type == "cuda" or None)
    amp = device.type == "cuda"

    def step(batch: dict) -> None:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(**batch)
        loss = out["loss"] if isinstance(out, dict) else out.loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main(argv: list[str] | None = None) -> dict:
    from transformers import BertForQuestionAnswering

    from spaneval.models import encoder_config, random_encoder
    from tasks.qa import SQUAD
    from tasks.qa_model import SpanExtractionModel

    p = argparse.ArgumentParser(prog="spaneval bench finetune")
    p.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-seq-len", type=int, default=384)
    p.add_argument("--data", default=str(BUNDLED_TRAIN))
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    feats = _windows(Path(args.data), args.max_seq_len)
    lengths = feats.attention_mask.sum(axis=1)
    # timed: steps 0..49 (one length group; the same examples in both); warm-up: 3 later batches
    steps = [*range(LENGTH_GROUP_BATCHES, LENGTH_GROUP_BATCHES + 3), *range(LENGTH_GROUP_BATCHES)]
    ours_batches = [
        SQUAD.collate(_rows(feats, batch_indices(s, len(feats), args.batch, 0, lengths))) for s in steps
    ]
    hf_batches = [
        _pad_full(SQUAD.collate(_rows(feats, batch_indices(s, len(feats), args.batch, 0))), args.max_seq_len)
        for s in steps
    ]
    cfg = encoder_config(args.size)
    torch.manual_seed(0)
    ours = SpanExtractionModel(random_encoder(args.size)).to(device).train()
    ours_s = _time_steps(_stepper(ours, device), ours_batches, device)
    del ours
    torch.manual_seed(0)
    hf = BertForQuestionAnswering._from_config(cfg, attn_implementation="sdpa").to(device).train()
    hf_s = _time_steps(_stepper(hf, device), hf_batches, device)
    timed = LENGTH_GROUP_BATCHES * args.batch
    mean_len = float(np.mean([b["input_ids"].shape[1] for b in ours_batches]))
    result = {
        "bench": "finetune",
        "size": args.size,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "batch": args.batch,
        "steps": LENGTH_GROUP_BATCHES,
        "max_seq_len": args.max_seq_len,
        "windows": len(feats),
        "ours_examples_per_s": round(timed / ours_s, 2),
        "hf_examples_per_s": round(timed / hf_s, 2),
        "speedup": round(hf_s / ours_s, 3),
        "mean_batch_len_ours": round(mean_len, 1),
        "precision": "bf16-autocast" if device.type == "cuda" else "fp32",
    }
    print(json.dumps(result), flush=True)
    return result


def _rows(feats, idx) -> list[dict]:
    return [feats[int(i)] for i in idx]


def _pad_full(batch: dict, max_seq_len: int) -> dict:
    out = {}
    for k, v in batch.items():
        if v.dim() == 2:
            v = torch.nn.functional.pad(v, (0, max_seq_len - v.shape[1]))
        out[k] = v
    return out
