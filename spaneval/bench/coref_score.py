"""Benchmark: score all LitBank documents against a perturbed copy of themselves.

    python -m spaneval bench coref-score [--data DIR] [--seed 0] [--repeat 3]

The response drops mentions, merges clusters and splits clusters (fixed seed), so every metric
does real work: CEAF alignments over many candidates, BLANC link sets, LEA link counts. Prints
one JSON line: documents, mentions, read time, best scoring time over the repeats, documents/s.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import numpy as np

from spaneval.metrics.coref import aggregate, document_counts, sum_counts
from spaneval.rng import generator
from spaneval.run_writer import cpu_name
from spaneval.tasks.coref_data import Span, read_conll
from spaneval.tasks.litbank import litbank_dir


def perturb_clusters(
    clusters: Sequence[Sequence[Span]],
    rng: np.random.Generator,
    drop_p: float = 0.1,
    merge_p: float = 0.1,
    split_p: float = 0.1,
) -> list[list[Span]]:
    """A noisy response: each mention dropped with drop_p, each cluster split in two with
    split_p, then each cluster merged into a random other one with merge_p."""
    kept = [[m for m in c if rng.random() >= drop_p] for c in clusters]
    split: list[list[Span]] = []
    for cluster in (c for c in kept if c):
        if len(cluster) > 1 and rng.random() < split_p:
            cut = int(rng.integers(1, len(cluster)))
            split.extend([cluster[:cut], cluster[cut:]])
        else:
            split.append(cluster)
    merged: list[list[Span]] = []
    for cluster in split:
        if merged and rng.random() < merge_p:
            merged[int(rng.integers(len(merged)))].extend(cluster)
        else:
            merged.append(list(cluster))
    return merged


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="spaneval bench coref-score", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", default=None, help="LitBank directory (default: ../shared/data/coref/litbank)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbation")
    parser.add_argument("--repeat", type=int, default=3, help="scoring passes; the fastest is reported")
    args = parser.parse_args(argv)

    root = litbank_dir(args.data)
    t0 = time.perf_counter()
    docs = [doc for path in sorted((root / "conll").glob("*.conll")) for doc in read_conll(path)]
    read_s = time.perf_counter() - t0
    rng = generator(args.seed)
    pairs = [(doc.clusters, perturb_clusters(doc.clusters, rng)) for doc in docs]

    times, scores = [], {}
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        scores = aggregate(sum_counts(document_counts(key, response) for key, response in pairs))
        times.append(time.perf_counter() - t0)
    score_s = min(times)
    result = {
        "bench": "coref-score",
        "documents": len(docs),
        "tokens": sum(len(doc.words) for doc in docs),
        "key_mentions": sum(len(c) for doc in docs for c in doc.clusters),
        "response_mentions": sum(len(c) for _, response in pairs for c in response),
        "seed": args.seed,
        "read_s": round(read_s, 3),
        "score_s": round(score_s, 3),
        "documents_per_s": round(len(docs) / score_s, 1),
        "conll_f1": round(100 * scores["conll_f1"], 2),
        "machine": cpu_name(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return result
