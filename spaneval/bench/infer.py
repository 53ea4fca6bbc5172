"""Inference throughput and peak memory of any task's model at a given encoder size.

The encoder is randomly initialised at BERT base or large shape (speed and memory do not depend on
the weights), the task head is the task's own, the data is the task's evaluation split. Times the
forward passes (and decoding separately). Prints one JSON line. Usage:
    python -m spaneval bench infer --task coref --data litbank [--size base] [--batch 1]
    python -m spaneval bench infer --task squad --size base --batch 64
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch


def main(argv: list[str] | None = None) -> dict:
    from spaneval.finetune import predict
    from spaneval.models import bundled_tokenizer, random_encoder
    from spaneval.registry import lookup
    from spaneval.runner import build_configs
    from spaneval.tasks.registry import TASKS

    p = argparse.ArgumentParser(prog="spaneval bench infer")
    p.add_argument("--task", default="coref")
    p.add_argument("--data", default=None, help="the task's data source (default: its default)")
    p.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="use only the first N evaluation examples")
    args = p.parse_args(argv)
    task = lookup(TASKS, args.task, "task")
    task_cfg = build_configs(task, None, {})["task"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    split = task.load(args.data, "eval", task_cfg)
    examples = split.examples[: args.limit] if args.limit else split.examples
    tokenizer = task.prepare_tokenizer(bundled_tokenizer(), task_cfg)
    features = task.encode(examples, tokenizer, task_cfg, False)
    torch.manual_seed(0)
    model = task.build_model(random_encoder(args.size), tokenizer, task_cfg).to(device)
    predict(
        model, [features[i] for i in range(min(2, len(features)))], task.collate, args.batch, device
    )  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    outputs = predict(model, features, task.collate, args.batch, device)
    forward_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    task.decode(examples, features, outputs, task_cfg)
    decode_s = time.perf_counter() - t1
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    result = {
        "bench": "infer",
        "task": args.task,
        "data": split.source,
        "size": args.size,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "precision": "bf16-autocast" if device.type == "cuda" else "fp32",
        "examples": len(examples),
        "features": len(features),
        "batch": args.batch,
        "forward_s": round(forward_s, 3),
        "decode_s": round(decode_s, 3),
        "examples_per_s": round(len(examples) / (forward_s + decode_s), 2),
        "peak_memory_gib": round(peak, 2),
        "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process max RSS",
    }
    print(json.dumps(result), flush=True)
    return result
