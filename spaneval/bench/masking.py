"""Benchmark: our span / subword / whole-word masking against Hugging Face's MLM collator, one thread.

`python -m spaneval bench masking [--corpus PATH] [--batch-size 64] [--batches 20] [--repeats 3]`
cuts the corpus (default: ../shared/data/corpus/gutenberg if present, else the bundled sample) into
512-token blocks, prepares `--batches` padded batches of random blocks once (untimed), then times
`--repeats` passes of every variant over the same batches, order alternated, and reports medians:

- ours: `pretrain.masking.mask_batch` with scheme span, subword and whole_word;
- Hugging Face `DataCollatorForLanguageModeling(mlm_probability=0.15)` three ways: dict rows that
  already carry `special_tokens_mask` (padded through `tokenizer.pad`), plain tensor rows, and its
  masking function `torch_mask_tokens` alone on the stacked batch (pad-free, its fastest use);
  the headline ratio is against the fastest of the three;
- Hugging Face whole-word masking, `DataCollatorForLanguageModeling(whole_word_mask=True)` (the
  transformers 5 replacement of `DataCollatorForWholeWordMask`); it finds words from
  `offset_mapping`, which is synthesised from our word-start flags (untimed);
- the full `BlockStream` (block gather + masking + tensors) for `spanbert` and `bert-nsp` batches.

Tokens counted are batch x seq_len per batch (padding included, the same for every masker).
Prints one JSON line with tokens/s, ratios and the masking statistics of our span masking.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spaneval.bench.pairs import alternated, spread
from spaneval.data_paths import default_shared_path
from spaneval.pretrain.blocks import BlockStream, Rows, TokenizerSpecials, block_table, single_rows
from spaneval.pretrain.corpus import BUNDLED_CORPUS, build_shards
from spaneval.pretrain.masking import IGNORE_INDEX, MaskingConfig, mask_batch, mask_batch_with_spans
from spaneval.run_writer import cpu_name

SHARED_CORPUS = default_shared_path("corpus", "gutenberg")
SPAN_GOAL_TOKENS_PER_S = 5e6  # the goal: span masking >= 5 M tokens/s on one core
SPAN_GOAL_RATIO = 3.0  # ... and >= 3x the Hugging Face token collator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spaneval bench masking", description=__doc__.split("\n")[0])
    default = SHARED_CORPUS if SHARED_CORPUS.is_dir() else BUNDLED_CORPUS
    p.add_argument("--corpus", default=str(default), help="text corpus (default: %(default)s)")
    p.add_argument("--cache-dir", default=None, help="shard cache (default: the spaneval cache)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=20, help="distinct batches timed per pass")
    p.add_argument("--repeats", type=int, default=3, help="passes per variant (medians reported)")
    p.add_argument("--hf-wwm-batches", type=int, default=2, help="batches for HF whole-word (slow)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One core for the timed code: torch intra-op threads and every BLAS/OpenMP pool numpy uses."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(previous)


def best_seconds(fn: Callable[[Any], Any], batches: list, repeats: int) -> float:
    """Seconds of the fastest of `repeats` passes of `fn` over `batches` (after one warm-up call)."""
    fn(batches[0])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            fn(batch)
        best = min(best, time.perf_counter() - start)
    return best


def prepare_batches(shards, specials: TokenizerSpecials, args: argparse.Namespace) -> list[Rows]:
    blocks = block_table(shards, args.seq_len - 2)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(blocks["start"]), size=(args.batches, args.batch_size), replace=True)
    return [single_rows(shards, blocks, ids, args.seq_len, specials) for ids in picks]


def ours(scheme: str, specials: TokenizerSpecials, seed: int) -> Callable[[Rows], Any]:
    cfg, rng = MaskingConfig(scheme=scheme), np.random.default_rng(seed)

    def run(rows: Rows) -> Any:
        return mask_batch(
            rows.ids, rows.word_starts, rows.lengths, ~rows.content, rng, cfg,
            specials.vocab_size, specials.mask_id, specials.special_ids,
        )  # fmt: skip

    return run


def hf_examples(rows: Rows, with_offsets: bool) -> list[dict]:
    """HF collator inputs: per-row tensors with special_tokens_mask (and offsets for whole words)."""
    import torch

    special = (~rows.content).astype(np.int64)
    # A word start opens a gap of one character; continuation pieces touch the previous piece.
    begin = np.arange(rows.ids.shape[1]) + np.cumsum(rows.word_starts, axis=1)
    offsets = np.stack([begin, begin + 1], axis=-1)
    examples = []
    for r in range(len(rows.ids)):
        example = {
            "input_ids": torch.from_numpy(rows.ids[r]),
            "special_tokens_mask": torch.from_numpy(special[r]),
        }
        if with_offsets:
            example["offset_mapping"] = torch.from_numpy(offsets[r])
        examples.append(example)
    return examples


def hf_collator(tokenizer: Any, whole_word: bool, seed: int) -> Callable[[list[dict]], Any]:
    import warnings

    from transformers.data.data_collator import DataCollatorForLanguageModeling

    with warnings.catch_warnings():  # whole-word mode warns that it disables random replacement
        warnings.simplefilter("ignore", UserWarning)
        return DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=0.15, whole_word_mask=whole_word, seed=seed
        )


def span_statistics(batches: list[Rows], specials: TokenizerSpecials, seed: int) -> dict[str, float]:
    """Mask fraction, mean span length in words and 80/10/10 shares of our span masking."""
    rng, cfg = np.random.default_rng(seed), MaskingConfig()
    masked = content = 0
    words: list[np.ndarray] = []
    for rows in batches:
        out, spans = mask_batch_with_spans(
            rows.ids, rows.word_starts, rows.lengths, ~rows.content, rng, cfg,
            specials.vocab_size, specials.mask_id, specials.special_ids,
        )  # fmt: skip
        masked += int((out["mlm_labels"] != IGNORE_INDEX).sum())
        content += int(rows.content.sum())
        words.append(spans.n_words[spans.selected])
    lengths = np.concatenate(words)
    return {
        "mask_fraction": round(masked / content, 5),
        "mean_span_words": round(float(lengths.mean()), 4),
        "n_spans": len(lengths),
    }


def stream_blocks_per_s(shards, specials: TokenizerSpecials, args: argparse.Namespace, kind: str) -> float:
    scheme = "span" if kind == "single" else "subword"
    stream = BlockStream(
        shards, seq_len=args.seq_len, objective_kind=kind, batch_size=args.batch_size,
        tokenizer_specials=specials, masking=MaskingConfig(scheme=scheme), seed=args.seed,
    )  # fmt: skip
    n = min(args.batches, stream.batches_per_epoch)
    return round(n * args.batch_size / best_seconds(lambda _: next(stream), list(range(n)), args.repeats), 1)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from spaneval.models import bundled_tokenizer, cache_root

    tokenizer = bundled_tokenizer()
    cache_dir = Path(args.cache_dir) if args.cache_dir else cache_root() / "shards"
    shards = build_shards(args.corpus, tokenizer, cache_dir)  # tokenises once, in parallel, untimed
    with one_thread():
        result = measure(args, tokenizer, shards)
    print(json.dumps(result))
    return result


def hf_variants(tokenizer: Any, batches: list[Rows], seed: int) -> dict[str, tuple[Callable, list]]:
    """Hugging Face's token collator fed three ways, slowest to fastest: list-of-dict rows (it pads
    them through `tokenizer.pad`), tensor rows (stacked, special tokens looked up per row), and its
    masking function alone on a ready [B, L] batch with its special-token mask (pad-free)."""
    import torch

    collator = hf_collator(tokenizer, False, seed)
    mask_only = collator.torch_mask_tokens
    dict_rows = [hf_examples(rows, with_offsets=False) for rows in batches]
    tensor_rows = [[torch.from_numpy(r) for r in rows.ids] for rows in batches]
    stacked = [(torch.from_numpy(rows.ids), torch.from_numpy(~rows.content)) for rows in batches]
    return {
        "hf_token_dict_rows": (collator, dict_rows),
        "hf_token_tensor_rows": (collator, tensor_rows),
        "hf_token_pad_free": (lambda b: mask_only(b[0].clone(), special_tokens_mask=b[1]), stacked),
    }


def pass_rate(fn: Callable[[Any], Any], batches: list, tokens_per_batch: int) -> Callable[[], float]:
    """A callable timing one pass of `fn` over `batches`, returning tokens/s (after one warm-up call)."""
    fn(batches[0])

    def run() -> float:
        start = time.perf_counter()
        for batch in batches:
            fn(batch)
        return len(batches) * tokens_per_batch / (time.perf_counter() - start)

    return run


def measure(args: argparse.Namespace, tokenizer: Any, shards: Any) -> dict:
    specials = TokenizerSpecials.from_tokenizer(tokenizer)
    batches = prepare_batches(shards, specials, args)
    tokens = args.batch_size * args.seq_len
    sides = {
        scheme: pass_rate(ours(scheme, specials, args.seed), batches, tokens)
        for scheme in ("span", "subword", "whole_word")
    }
    for name, (fn, inputs) in hf_variants(tokenizer, batches, args.seed).items():
        sides[name] = pass_rate(fn, inputs, tokens)
    rates = alternated(sides, args.repeats)
    wwm_examples = [hf_examples(rows, with_offsets=True) for rows in batches[: args.hf_wwm_batches]]
    rates["hf_whole_word"] = [
        pass_rate(hf_collator(tokenizer, True, args.seed), wwm_examples, tokens)()
    ]  # seconds per batch: one pass is enough for the ratio
    speed = {k: statistics.median(v) for k, v in rates.items()}
    best_hf = max(("hf_token_dict_rows", "hf_token_tensor_rows", "hf_token_pad_free"), key=speed.get)
    return {
        "bench": "masking",
        "machine": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "corpus": args.corpus,
        "corpus_tokens": shards.n_tokens,
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "passes": args.repeats,
        "tokens_per_s": {k: round(v) for k, v in speed.items()},
        "tokens_per_s_spread": {k: spread(v, 0) for k, v in rates.items()},
        "fastest_hf_token": best_hf,
        "ratios": {
            "span_vs_fastest_hf_token": round(speed["span"] / speed[best_hf], 2),
            "subword_vs_fastest_hf_token": round(speed["subword"] / speed[best_hf], 2),
            "subword_vs_hf_pad_free": round(speed["subword"] / speed["hf_token_pad_free"], 2),
            "span_vs_hf_dict_rows": round(speed["span"] / speed["hf_token_dict_rows"], 2),
            "whole_word_vs_hf_whole_word": round(speed["whole_word"] / speed["hf_whole_word"], 2),
        },
        "options": {
            "both": "same batches of 512-token blocks (prepared untimed), one thread, medians over "
            "passes with order alternated",
            "ours": "pretrain.masking.mask_batch on numpy rows",
            "hf": "DataCollatorForLanguageModeling(mlm_probability=0.15) fed dict rows with "
            "special_tokens_mask, tensor rows, or torch_mask_tokens on the stacked batch (pad-free)",
        },
        "stream_blocks_per_s": {
            "spanbert_single_span": stream_blocks_per_s(shards, specials, args, "single"),
            "bert_nsp_pair_subword": stream_blocks_per_s(shards, specials, args, "pair"),
        },
        "span_stats": span_statistics(batches, specials, args.seed),
        "goals": {
            "span_tokens_per_s_at_least_5M": speed["span"] >= SPAN_GOAL_TOKENS_PER_S,
            "span_at_least_3x_fastest_hf_token": speed["span"] >= SPAN_GOAL_RATIO * speed[best_hf],
        },
    }


if __name__ == "__main__":
    main()
