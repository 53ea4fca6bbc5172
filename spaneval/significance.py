"""Paired significance tests of two runs on the same examples (pure).

- `paired_bootstrap`: both models resampled with the same example indices; the two-sided p-value
  is the share of resampled differences at least |observed| away from the observed difference
  (the resampled distribution shifted to the null; cf. Berg-Kirkpatrick et al. 2012, Koehn 2004).
- `approximate_randomization`: each example's pair of outputs swapped with probability 1/2
  (Noreen 1989; Riezler & Maxwell 2005); p = (1 + #{|d_perm| >= |d_obs|}) / (1 + R).
Randomness comes only from the numpy Generator the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spaneval.errors import SpanevalError
from spaneval.resampling import CHUNK, MetricSpec, check_size, resampled, stats_matrix


def paired_rows(
    rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both runs' rows in the same id order; runs scored on different examples are an error."""
    by_id_b = {r["id"]: r for r in rows_b}
    ids_a = [r["id"] for r in rows_a]
    only_a, only_b = set(ids_a) - set(by_id_b), set(by_id_b) - set(ids_a)
    if only_a or only_b:
        sample = sorted(map(str, only_a | only_b))[:3]
        raise SpanevalError(
            f"the two runs were scored on different examples ({len(only_a)} ids only in the first, "
            f"{len(only_b)} only in the second, e.g. {sample}); a paired test needs the same examples"
        )
    return list(rows_a), [by_id_b[i] for i in ids_a]


@dataclass(frozen=True)
class Significance:
    metric: str
    method: str
    n_examples: int
    score_a: float
    score_b: float
    delta: float  # score_a - score_b
    delta_low: float  # 95% paired-bootstrap interval of delta (NaN for randomization)
    delta_high: float
    p_value: float
    n_resamples: int


def paired_bootstrap(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    spec: MetricSpec,
    rng: np.random.Generator,
    n_resamples: int = 1000,
) -> Significance:
    """Paired bootstrap test of metric(A) - metric(B) over the same (aligned) examples."""
    _check_pair(stats_a, stats_b, n_resamples)
    score_a, score_b = float(spec.from_sums(stats_a.sum(0))), float(spec.from_sums(stats_b.sum(0)))
    delta = score_a - score_b
    sums_a, sums_b = resampled([stats_a, stats_b], rng, n_resamples)
    deltas = spec.from_sums(sums_a) - spec.from_sums(sums_b)
    extreme = np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-9)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Significance(
        spec.name,
        "paired bootstrap",
        stats_a.shape[0],
        score_a,
        score_b,
        delta,
        float(low),
        float(high),
        float((1 + extreme) / (1 + n_resamples)),
        n_resamples,
    )


def approximate_randomization(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    spec: MetricSpec,
    rng: np.random.Generator,
    n_permutations: int = 1000,
) -> Significance:
    """Approximate randomization test: swap each example's pair of outputs with probability 1/2."""
    _check_pair(stats_a, stats_b, n_permutations)
    sum_a, sum_b = stats_a.sum(0), stats_b.sum(0)
    delta = float(spec.from_sums(sum_a) - spec.from_sums(sum_b))
    diff = stats_b - stats_a
    extreme = 0
    for start in range(0, n_permutations, CHUNK):
        swaps = rng.integers(0, 2, size=(min(CHUNK, n_permutations - start), stats_a.shape[0]))
        moved = swaps @ diff
        perm = spec.from_sums(sum_a + moved) - spec.from_sums(sum_b - moved)
        extreme += int(np.sum(np.abs(perm) >= abs(delta) - 1e-9))
    return Significance(
        spec.name,
        "approximate randomization",
        stats_a.shape[0],
        float(spec.from_sums(sum_a)),
        float(spec.from_sums(sum_b)),
        delta,
        float("nan"),
        float("nan"),
        float((1 + extreme) / (1 + n_permutations)),
        n_permutations,
    )


def _check_pair(stats_a: np.ndarray, stats_b: np.ndarray, n_resamples: int) -> None:
    check_size(stats_a, n_resamples)
    if stats_a.shape != stats_b.shape:
        raise SpanevalError(f"paired statistics differ in shape: {stats_a.shape} vs {stats_b.shape}")


def compare_rows(
    rows_a: Sequence[dict[str, Any]],
    rows_b: Sequence[dict[str, Any]],
    resampling: Callable[[str, Sequence[dict[str, Any]]], MetricSpec],
    metric: str,
    rng: np.random.Generator,
    method: str = "bootstrap",
    n_resamples: int = 1000,
) -> Significance:
    """Significance of metric(A) - metric(B) from two runs' prediction rows (aligned by id).

    resampling: the task's PredictionRows.resampling (tasks/base.py), which knows its rows.
    """
    rows_a, rows_b = paired_rows(rows_a, rows_b)
    spec = resampling(metric, list(rows_a) + list(rows_b))
    stats_a, stats_b = stats_matrix(rows_a, spec), stats_matrix(rows_b, spec)
    if method == "bootstrap":
        return paired_bootstrap(stats_a, stats_b, spec, rng, n_resamples)
    if method == "randomization":
        return approximate_randomization(stats_a, stats_b, spec, rng, n_resamples)
    raise SpanevalError(f"unknown test {method!r}; known: bootstrap, randomization")
