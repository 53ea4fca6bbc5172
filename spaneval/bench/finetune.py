"""QA fine-tuning throughput: our loop's step against Hugging Face as a competent Trainer user runs it.

    python -m spaneval bench finetune [--size base|tiny] [--batch 32] [--data SQUAD.json]
        [--rounds 3] [--compile] [--out FILE.json]

Both sides train on the same real SQuAD windows (384/128), one epoch per round, the same batch
size, float32 on CPU and bf16 autocast on GPU, SDPA attention, the same threads, gradient
clipping at 1.0, collation inside the timed loop, and `torch.compile` on both sides or neither.

- ours: `spaneval.finetune` — length-grouped batches (`batch_indices`), `SQUAD.collate` trimming each
  batch to its longest window, the loop's `forward_backward` and optimizer;
- Hugging Face, configured as `Trainer(group_by_length=True)` does it: `LengthGroupedSampler`
  order, `DataCollatorWithPadding` (dynamic padding to the batch's longest row, from unpadded
  rows as `datasets` hands them over), `BertForQuestionAnswering`, the Trainer's default optimizer
  on torch >= 2.8 (`adamw_torch_fused`).

Warm-up: 3 steps per side (eager) or one untimed epoch (compiled: every shape traced first).
Rounds alternate which side runs first; the JSON reports medians with their spread and each
side's options. The figures that matter are examples/s; mean padded lengths show that the two
samplers leave about the same padding.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spaneval.bench.pairs import alternated, ratios, spread

BUNDLED_TRAIN = Path(__file__).resolve().parents[1] / "data" / "squad" / "train-sample.json"
WARMUP_STEPS = 3


def _windows(data: Path, max_seq_len: int):
    from spaneval.models import bundled_tokenizer
    from spaneval.tasks.qa_data import read_squad
    from spaneval.tasks.qa_windows import encode_windows

    examples, _ = read_squad(data, strict=False)
    return encode_windows(examples, bundled_tokenizer(), max_seq_len=max_seq_len, doc_stride=128)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spaneval bench finetune", description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-seq-len", type=int, default=384)
    p.add_argument("--data", default=str(BUNDLED_TRAIN))
    p.add_argument("--rounds", type=int, default=3, help="timed epochs per side, order alternated")
    p.add_argument("--steps", type=int, default=0, help="steps per epoch (0: windows // batch)")
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument("--out", default=None, help="also write the JSON here")
    return p.parse_args(argv)


def _ours(feats, lengths, args, device: torch.device):
    """(one-epoch step list, mean padded length): our loop's batching, collation and step."""
    from spaneval.distributed import DistInfo
    from spaneval.finetune import TrainConfig, batch_indices, forward_backward
    from spaneval.models import random_encoder
    from spaneval.tasks.qa import SQUAD
    from spaneval.tasks.qa_model import SpanExtractionModel
    from spaneval.training_core import autocast_dtype, default_param_groups, make_optimizer

    torch.manual_seed(0)
    model = SpanExtractionModel(random_encoder(args.size)).to(device).train()
    cfg = TrainConfig()
    groups = default_param_groups(model, 3e-5, 0.01)
    optimizer = make_optimizer(groups, (cfg.adam_beta1, cfg.adam_beta2), cfg.adam_eps)
    train_model = torch.compile(model) if args.compile else model
    dist, amp = DistInfo(0, 1, 0, device), autocast_dtype("auto", device)
    batches = [batch_indices(s, len(feats), args.batch, 0, lengths) for s in range(args.steps)]

    def step(idx: np.ndarray) -> None:
        forward_backward(train_model, [[feats[int(i)] for i in idx]], SQUAD.collate, dist, amp)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, batches, float(np.mean([lengths[b].max() for b in batches]))


def _hf(feats, lengths, args, device: torch.device):
    """(step, one-epoch index batches, mean padded length) as Trainer(group_by_length=True) runs it."""
    from transformers import BertForQuestionAnswering, DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from spaneval.models import bundled_tokenizer, encoder_config

    rows = [_unpadded_row(feats[i], int(lengths[i])) for i in range(len(feats))]
    collator = DataCollatorWithPadding(bundled_tokenizer())  # pads to the longest row of the batch
    sampler = LengthGroupedSampler(
        args.batch, lengths=lengths.tolist(), generator=torch.Generator().manual_seed(0)
    )
    order = np.fromiter(sampler, dtype=np.int64)
    batches = [order[s * args.batch : (s + 1) * args.batch] for s in range(args.steps)]
    torch.manual_seed(0)
    model = BertForQuestionAnswering._from_config(encoder_config(args.size), attn_implementation="sdpa")
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01, fused=True)
    train_model = torch.compile(model) if args.compile else model
    amp = device.type == "cuda"

    def step(idx: np.ndarray) -> None:
        batch = {k: v.to(device, non_blocking=True) for k, v in collator([rows[i] for i in idx]).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = train_model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, batches, float(np.mean([lengths[b].max() for b in batches]))


def _unpadded_row(feature: dict, length: int) -> dict:
    """A window as `datasets` gives it to the collator: unpadded int lists and two labels."""
    row = {k: feature[k][:length].tolist() for k in ("input_ids", "token_type_ids", "attention_mask")}
    for key in ("start_positions", "end_positions"):
        row[key] = int(feature[key])
    return row


def _epoch_timer(step, batches, device: torch.device):
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def epoch() -> float:
        sync()
        t0 = time.perf_counter()
        for b in batches:
            step(b)
        sync()
        return time.perf_counter() - t0

    return epoch


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    feats = _windows(Path(args.data), args.max_seq_len)
    lengths = feats.attention_mask.sum(axis=1)
    args.steps = args.steps or len(feats) // args.batch
    sides, mean_len = {}, {}
    for name, build in (("ours", _ours), ("hf", _hf)):
        step, batches, mean_len[name] = build(feats, lengths, args, device)
        for b in batches if args.compile else batches[:WARMUP_STEPS]:
            step(b)
        sides[name] = _epoch_timer(step, batches, device)
    seconds = alternated(sides, args.rounds)
    examples = args.steps * args.batch
    rate = {name: [examples / s for s in values] for name, values in seconds.items()}
    result = {
        "bench": "finetune",
        "size": args.size,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else _cpu(),
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "max_seq_len": args.max_seq_len,
        "windows": len(feats),
        "precision": "bf16-autocast" if device.type == "cuda" else "fp32",
        "compile": args.compile,
        "ours_examples_per_s": spread(rate["ours"], 2),
        "hf_examples_per_s": spread(rate["hf"], 2),
        "speedup": ratios(rate["ours"], rate["hf"]),
        "mean_padded_len": {k: round(v, 1) for k, v in mean_len.items()},
        "options": {
            "ours": "spaneval.finetune: batch_indices(group_by_length), SQUAD.collate (trim to longest), "
            "forward_backward, make_optimizer, clip 1.0",
            "hf": "LengthGroupedSampler + DataCollatorWithPadding (Trainer group_by_length=True), "
            "BertForQuestionAnswering sdpa, AdamW fused (Trainer default optim), clip 1.0",
            "both": f"same windows, batch, precision, threads, {WARMUP_STEPS}-step warm-up (an epoch "
            "when compiled), torch.compile " + ("on both" if args.compile else "on neither"),
        },
    }
    _emit(result, args.out)
    return result


def _cpu() -> str:
    from spaneval.run_writer import cpu_name

    return f"cpu: {cpu_name()}"


def _emit(result: dict, out: str | None) -> None:
    line = json.dumps(result)
    print(line, flush=True)
    if out:
        Path(out).write_text(line + "\n", encoding="utf-8")
