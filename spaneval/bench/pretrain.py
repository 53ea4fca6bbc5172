"""Benchmark `pretrain`: training throughput of our pretraining step with the real data loader.

    python -m spaneval bench pretrain                       # GPU: spanbert, base preset, 512 tokens, bf16
    python -m spaneval bench pretrain --device cpu --preset tiny --steps 3 --warmup 1   # CPU smoke run

Each timed step is what `pretrain.train` does: take the next micro-batch from the BlockStream
(blocks cut from the corpus shards, packed into full rows unless pack_blocks=false, masked on the
CPU), move it to the device, forward with bf16 autocast + SDPA (MLM and SBO losses at the targets
only, chunked linear + cross-entropy), backward, clip, fused AdamW; losses stay on the device.

The baseline runs in the same process on the same device: Hugging Face `BertForMaskedLM` (SDPA,
the same shape, vocabulary, micro-batch, sequence length, precision, clipping, fused AdamW and
warm-up) on full blocks of random tokens with 15% MLM labels, as ../shared/bench/hf_mlm_baseline.py
runs it. `--compile` compiles both (ours: model + heads + losses with fixed target slots, as the training
loop's `compile` option; Hugging Face: the whole model), so each ratio compares like with like;
run once with and once without to report both ways. Rounds of `--steps` steps alternate which
side runs first; each round is timed as a whole, with one wait for the device at its end.
`--no-baseline` times ours alone. Prints one JSON line (and writes it to `--out`): median step
time per side with its spread, tokens/s, the ratio, peak GPU memory, MFU and each side's options.

MFU uses the formula of ../shared/bench/hf_mlm_baseline.py (`mfu_useful`), so the figures compare:
    flops/token = 6 * (L * (4 d^2 + 2 d ff) + d^2 + 0.15 d V) + 12 L s d
(d width, L layers, ff feed-forward width, V vocabulary, s sequence length; fwd+bwd = 3x fwd;
MLM vocabulary projection at 15% of tokens). It does not count the SBO head, which is extra work
the baseline does not do; `mfu_with_sbo` adds 6 * 0.15 * ((2d + 200) d + d^2 + d V) per token.
Run it in the same device job as the baseline so both figures share one GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from spaneval.bench.pairs import alternated, ratios, spread
from spaneval.run_writer import cpu_name

BUNDLED_CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
# Dense bf16 peak FLOP/s by device name (datasheets; SXM parts). Unknown devices: MFU is null.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
FLOPS_FORMULA = "6*(L*(4*d^2 + 2*d*ff) + d^2 + 0.15*d*V) + 12*L*s*d per token (hf_mlm_baseline.py)"


def flops_per_token(hidden: int, layers: int, ff: int, vocab: int, seq_len: int) -> float:
    """Useful training FLOPs per token, exactly as hf_mlm_baseline.py's `flops_per_token(..., False)`."""
    weights = layers * (4 * hidden * hidden + 2 * hidden * ff) + hidden * hidden
    return 6 * (weights + hidden * vocab * 0.15) + 12 * layers * seq_len * hidden


def sbo_flops_per_token(hidden: int, vocab: int, position_dim: int = 200, mask_ratio: float = 0.15) -> float:
    """Extra training FLOPs per token of the SBO head (two layers + tied vocabulary projection)."""
    per_target = (2 * hidden + position_dim) * hidden + hidden * hidden + hidden * vocab
    return 6 * mask_ratio * per_target


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def cpu_description() -> str:
    """The CPU model name and the number of threads torch uses."""
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spaneval bench pretrain")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--objective", default="spanbert")
    parser.add_argument("--corpus", default=str(BUNDLED_CORPUS), help="text files (default: bundled sample)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, caches)")
    parser.add_argument("--compile", action="store_true", help="torch.compile ours and the baseline")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side, order alternated")
    parser.add_argument("--no-baseline", action="store_true", help="time ours only")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON line here")
    parser.add_argument("overrides", nargs="*", help="key=value preset overrides (e.g. micro_batch_size=64)")
    return parser.parse_args(argv)


def _setup(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from spaneval.config import parse_overrides
    from spaneval.distributed import DistInfo
    from spaneval.pretrain import components
    from spaneval.pretrain.corpus import build_shards
    from spaneval.pretrain.loader import load_pretraining_tokenizer
    from spaneval.pretrain.objectives import get_objective
    from spaneval.pretrain.presets import resolve_config

    cfg = resolve_config(args.preset, {**parse_overrides(args.overrides), "compile": str(args.compile)})
    obj = get_objective(args.objective)
    tokenizer = load_pretraining_tokenizer(None)
    shards = build_shards(args.corpus, tokenizer, components.shard_cache_dir(cfg))
    loader = components.build_loader(shards, tokenizer, obj, cfg, DistInfo(0, 1, 0, device))
    torch.manual_seed(cfg.seed)
    model = components.build_model(cfg, obj, len(tokenizer), tokenizer.pad_token_id).to(device).train()
    if args.compile:
        model.compile()  # as pretrain.train: model, heads and losses in one graph
    optimizer = components.build_optimizer(model, cfg)
    return {
        "cfg": cfg,
        "obj": obj,
        "stream": loader.stream,
        "loader": loader,
        "model": model,
        "optimizer": optimizer,
    }


def _time_steps(parts: dict[str, Any], device: torch.device, n: int, bf16: bool) -> tuple[float, int]:
    """Seconds per step over `n` full steps (data included, as in pretrain.train) and their tokens.

    As in the training loop, the losses stay on the device (summed there) and are read once, at
    the end, like a log point: no step waits for the host.
    """
    model, optimizer, loader = parts["model"], parts["optimizer"], parts["loader"]
    tokens, total = 0, torch.zeros((), device=device)
    start = time.perf_counter()
    for _ in range(n):
        batch = loader.take()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch.inputs)["loss"]
        loss.backward()
        loader.refill()  # the next batch is masked (and copied) while the device computes
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total += loss.detach()
        tokens += batch.n_tokens
    float(total)  # the log point: waits for the device
    return (time.perf_counter() - start) / max(n, 1), tokens


def _data_ms(stream: Any, n: int = 10) -> float:
    """Median time to cut and mask one micro-batch on the CPU (the loader's share of a step)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        next(stream)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _peak_mem_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    threads = torch.get_num_threads()
    try:
        return _run(args, device)
    finally:
        torch.set_num_threads(threads)


def _hf_side(cfg: Any, vocab: int, device: torch.device, bf16: bool, compile_: bool) -> Callable[[], float]:
    """One round of the baseline: `BertForMaskedLM` steps on full random blocks, seconds per step."""
    from transformers import BertForMaskedLM

    from spaneval.pretrain.components import bert_config

    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM._from_config(bert_config(cfg, vocab, 0), attn_implementation="sdpa")
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, fused=True)
    step_model = torch.compile(model) if compile_ else model
    shape = (cfg.micro_batch_size, cfg.seq_len)
    ids = torch.randint(1000, vocab, shape, device=device)
    labels = torch.where(torch.rand(shape, device=device) < 0.15, ids, -100)
    mask = torch.ones_like(ids)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = step_model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def round_(n: int) -> float:
        # Timed like ours: n steps queued back to back, one wait for the device at the end.
        start = time.perf_counter()
        for _ in range(n):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) / max(n, 1)

    return round_


def _options(args: argparse.Namespace, cfg: Any, parts: dict[str, Any]) -> dict[str, Any]:
    """What each side had: the shared settings, then ours and Hugging Face's own."""
    packed = parts["stream"].packed is not None
    ours = (
        "pretrain.train step with the real BlockStream: "
        + ("packed rows, block-diagonal attention from segment ids" if packed else "one block per row")
        + f", {parts['obj'].name} masking and heads, chunked linear + cross-entropy at the targets"
        + (f", {parts['loader'].slots} fixed target slots" if parts["loader"].slots else ", exact targets")
        + (", whole model + heads + losses compiled" if args.compile else "")
        + ", losses summed on the device, read once per round"
    )
    hf = (
        "BertForMaskedLM on full random blocks, 15% labels, full-vocabulary logits for every token"
        + (", torch.compile(model)" if args.compile else "")
        + ", one wait for the device per round"
    )
    return {
        "both": "same device, shape, vocabulary, micro-batch, seq_len, precision, SDPA, clip 1.0, "
        f"fused AdamW, {args.warmup} warm-up steps, torch.compile "
        + ("on both" if args.compile else "on neither"),
        "ours": ours,
        "hf": None if args.no_baseline else hf,
        "ours_config": {
            "pack_blocks": packed,
            "target_slots": parts["loader"].slots,
            "compile": args.compile,
            "objective": parts["obj"].name,
        },
    }


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    parts = _setup(args, device)
    cfg = parts["cfg"]
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    bf16 = device.type == "cuda" and cfg.precision != "fp32"
    vocab = parts["model"].bert.config.vocab_size
    _time_steps(parts, device, args.warmup, bf16)
    tokens: list[int] = []

    def ours_round() -> float:
        step_s, n_tokens = _time_steps(parts, device, args.steps, bf16)
        tokens.append(n_tokens)
        return step_s

    sides: dict[str, Callable[[], float]] = {"ours": ours_round}
    if not args.no_baseline:
        hf = _hf_side(cfg, vocab, device, bf16, args.compile)
        hf(args.warmup)
        sides["hf"] = lambda: hf(args.steps)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step_s = alternated(sides, args.rounds)
    ours_tokens = sum(tokens) / (len(tokens) * args.steps)  # non-padding tokens per step
    rate = {"ours": [ours_tokens / s for s in step_s["ours"]]}
    if "hf" in step_s:
        rate["hf"] = [cfg.micro_batch_size * cfg.seq_len / s for s in step_s["hf"]]
    tokens_per_s = statistics.median(rate["ours"])
    fpt = flops_per_token(cfg.hidden_size, cfg.num_layers, cfg.intermediate_size, vocab, cfg.seq_len)
    sbo = sbo_flops_per_token(cfg.hidden_size, vocab, cfg.sbo_position_dim) if parts["obj"].sbo else 0.0
    peak = peak_flops(device)
    result = {
        "bench": "pretrain",
        "objective": parts["obj"].name,
        "preset": args.preset,
        "seq_len": cfg.seq_len,
        "micro_batch": cfg.micro_batch_size,
        "precision": "bf16" if bf16 else "fp32",
        "compile": args.compile,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_description(),
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "step_ms": round(statistics.median(step_s["ours"]) * 1e3, 2),
        "step_ms_spread": spread([s * 1e3 for s in step_s["ours"]], 2),
        "tokens_per_s": round(tokens_per_s),
        "hf_step_ms": round(statistics.median(step_s["hf"]) * 1e3, 2) if "hf" in step_s else None,
        "hf_tokens_per_s": round(statistics.median(rate["hf"])) if "hf" in rate else None,
        "speedup_vs_hf": ratios(rate["ours"], rate["hf"]) if "hf" in rate else None,
        "data_ms_per_batch": round(_data_ms(parts["stream"]), 2),
        "peak_mem_gib": _peak_mem_gib(device),
        "mfu": round(tokens_per_s * fpt / peak, 3) if peak else None,
        "mfu_with_sbo": round(tokens_per_s * (fpt + sbo) / peak, 3) if peak else None,
        "flops_formula": FLOPS_FORMULA,
        "params_m": round(sum(p.numel() for p in parts["model"].parameters()) / 1e6, 1),
        "torch": torch.__version__,
        "options": _options(args, cfg, parts),
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.out:
        args.out.write_text(line + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
