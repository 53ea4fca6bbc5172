"""Per-example sufficient statistics and the percentile bootstrap over examples (pure).

Every metric resampled is a function of column sums of per-example "sufficient statistics", so one
resample is a weighted sum, and thousands of resamples are one matrix product. Each task declares
its MetricSpecs beside its prediction rows (tasks/*_rows.py: PredictionRows.resampling), e.g. QA:
per question [exact or f1 (0..1), 1], metric = 100 * sum / count.

`bootstrap_ci`: percentile bootstrap over examples (Efron & Tibshirani 1993). Randomness comes only
from the numpy Generator the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spaneval.errors import SpanevalError, excerpt

CHUNK = 256  # resamples drawn per matrix product (bounds memory at CHUNK x n_examples)


@dataclass(frozen=True)
class MetricSpec:
    """How to turn prediction rows into sufficient statistics and their sums into the metric."""

    name: str
    row_stats: Callable[[dict[str, Any]], Sequence[float]]
    from_sums: Callable[[np.ndarray], np.ndarray]  # sums [..., k] -> metric [...]
    description: str


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def f1_from(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    return safe_ratio(2 * recall * precision, recall + precision)


def unsupported_metric(metric: str, task: str, supported: Sequence[str]) -> SpanevalError:
    """The error for a metric a task cannot resample; names the ones it can."""
    return SpanevalError(
        f"no resampling test for metric {metric!r} of a {task} task; supported: {', '.join(supported)}"
    )


def stats_matrix(rows: Sequence[dict[str, Any]], spec: MetricSpec) -> np.ndarray:
    """[n_examples, k] sufficient statistics; a missing field names the row id."""
    try:
        return np.asarray([spec.row_stats(row) for row in rows], dtype=float).reshape(len(rows), -1)
    except KeyError as err:
        bad = next(r.get("id") for r in rows if not _has_stats(r, spec))
        problem = f"prediction row {excerpt(bad)} lacks {err} needed to resample {spec.name}"
        raise SpanevalError(problem) from None


def _has_stats(row: dict[str, Any], spec: MetricSpec) -> bool:
    try:
        spec.row_stats(row)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float
    n_examples: int
    n_resamples: int


def _bootstrap_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """[size, n] counts of each example in `size` bootstrap resamples of n examples."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)


def resampled(stats: list[np.ndarray], rng: np.random.Generator, n_resamples: int) -> list[np.ndarray]:
    """Metric sums of each stats matrix under the same bootstrap resamples: [n_resamples, k] each."""
    n = stats[0].shape[0]
    out: list[list[np.ndarray]] = [[] for _ in stats]
    for start in range(0, n_resamples, CHUNK):
        weights = _bootstrap_weights(rng, n, min(CHUNK, n_resamples - start))
        for i, matrix in enumerate(stats):
            out[i].append(weights @ matrix)
    return [np.concatenate(parts) for parts in out]


def check_size(stats: np.ndarray, n_resamples: int) -> None:
    if stats.shape[0] == 0:
        raise SpanevalError("no examples to resample")
    if n_resamples < 1:
        raise SpanevalError(f"n_resamples must be positive, got {n_resamples}")


def bootstrap_ci(
    stats: np.ndarray,
    spec: MetricSpec,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of the metric over examples."""
    check_size(stats, n_resamples)
    (sums,) = resampled([stats], rng, n_resamples)
    values = spec.from_sums(sums)
    tail = 100 * (1 - confidence) / 2
    point = float(spec.from_sums(stats.sum(axis=0)))
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high), stats.shape[0], n_resamples)
