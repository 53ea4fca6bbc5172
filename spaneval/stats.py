"""Aggregation over seeds, bootstrap confidence intervals and paired significance tests (pure).

Every metric the tests resample is a function of column sums of per-example "sufficient
statistics", so one resample is a weighted sum, and thousands of resamples are one matrix product.
Each task declares its MetricSpecs beside its prediction rows (tasks/*_rows.py: PredictionRows.
resampling), e.g. QA: per question [exact or f1 (0..1), 1], metric = 100 * sum / count.

Tests:
- `bootstrap_ci`: percentile bootstrap over examples (Efron & Tibshirani 1993).
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
import pandas as pd

from spaneval.errors import SpanevalError, excerpt

# Runs of one `group` (resultsdb.group_key: model, tokenizer settings, config, data) are seeds of one
# experiment; the descriptive columns are constant within a group and carried along.
GROUP_KEYS = ("task", "group", "metric")
GROUP_COLUMNS = ("label", "model", "data_source", "data_fingerprint", "config_key")
_CHUNK = 256  # resamples drawn per matrix product (bounds memory at CHUNK x n_examples)


# --- aggregation over seeds -------------------------------------------------------------------


def seed_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and number of distinct seeds per group.

    `metrics` is `resultsdb.metrics_table(...)`; a seed listed twice in a group (the same run read
    twice) counts once, its last row kept. Columns: GROUP_KEYS, GROUP_COLUMNS, mean, std, n, seeds,
    is_main.
    """
    columns = [*GROUP_KEYS, *GROUP_COLUMNS, "mean", "std", "n", "seeds", "is_main"]
    if metrics.empty:
        return pd.DataFrame(columns=columns)
    distinct = metrics.drop_duplicates([*GROUP_KEYS, "seed"], keep="last")
    grouped = distinct.groupby(list(GROUP_KEYS), dropna=False, sort=True)
    out = grouped["value"].agg(mean="mean", std="std", n="count").reset_index()
    for column in GROUP_COLUMNS:
        out[column] = grouped[column].first().to_numpy()
    out["seeds"] = grouped["seed"].agg(lambda s: tuple(sorted(s))).to_numpy()
    out["is_main"] = grouped["is_main"].any().to_numpy()
    return out[columns]


def format_mean_std(mean: float, std: float, n: int, digits: int = 1) -> str:
    """'88.5 ± 0.3 (n=3)'; one seed has no std: '88.5 (n=1)'."""
    if pd.isna(std):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {std:.{digits}f} (n={n})"


def leaderboard_long(summary: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Main score per (row, task): measured groups from `seed_summary`, plus published reference rows.

    A row is a group's label (resultsdb.group_labels: the display name, plus what sets it apart when
    one model has several configs, tokenizer settings or data sets for a task). Published rows
    (kind "published") are kept only for a task's main metric.
    Columns: row, kind, task, metric, mean, std, n, source, model (the full model name or path).
    """
    columns = ["row", "kind", "task", "metric", "mean", "std", "n", "source", "model"]
    main = summary[summary["is_main"]].copy()
    if main.empty:
        return pd.DataFrame(columns=columns)
    main["row"] = main["label"]
    main["kind"], main["source"] = "measured", "spaneval results"
    parts = [main[columns]]
    if published is not None and not published.empty:
        metric_of_task = dict(zip(main["task"], main["metric"], strict=False))
        ref = published[published["metric"] == published["task"].map(metric_of_task)]
        ref = ref.assign(row=ref["label"], kind="published", mean=ref["value"], std=float("nan"), n=pd.NA)
        ref = ref.assign(model=ref["label"])
        parts.append(ref[columns])
    return pd.concat(parts, ignore_index=True)


def leaderboard_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Rows x tasks: for each task numeric columns '<task> <metric>', '<task> std', '<task> n'."""
    if long.empty:
        return pd.DataFrame(columns=["row", "kind"])
    out = long[["row", "kind"]].drop_duplicates().set_index("row")
    for (task, metric), part in long.groupby(["task", "metric"], sort=True):
        part = part.drop_duplicates("row").set_index("row")
        out[f"{task} {metric}"] = part["mean"]
        out[f"{task} std"] = part["std"]
        out[f"{task} n"] = part["n"].astype("Int64")
    measured_first = out["kind"].map({"measured": 0, "published": 1})
    return (
        out.assign(_order=measured_first).sort_values(["_order", "row"]).drop(columns="_order").reset_index()
    )


def breakdown_summary(breakdowns: pd.DataFrame) -> pd.DataFrame:
    """Span-level breakdowns averaged over distinct seeds per (task, group, table, bucket, metric)."""
    keys = ["task", "group", "label", "model", "config_key", "table", "bucket", "metric"]
    if breakdowns.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "n", "count", "rank"])
    distinct = breakdowns.drop_duplicates(["group", "table", "bucket", "metric", "seed"], keep="last")
    grouped = distinct.groupby(keys, sort=False, dropna=False)
    out = grouped["value"].agg(mean="mean", std="std", n="count").reset_index()
    out["count"] = grouped["count"].first().to_numpy()
    out["rank"] = grouped["rank"].min().to_numpy()
    return out


def bucket_order(part: pd.DataFrame) -> list[str]:
    """The buckets of one breakdown table in the order the task declared (lowest "rank" first)."""
    return list(part.groupby("bucket", sort=False)["rank"].min().sort_values(kind="stable").index)


def matrix_frame(part: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One model's confusion matrix (breakdown rows: bucket = gold, metric = predicted, mean = count)
    as gold/predicted/count rows over every label pair, zeros filled in, and the sorted labels."""
    labels = sorted(set(part["bucket"]) | set(part["metric"]))
    cells = {(r.bucket, r.metric): r.mean for r in part.itertuples()}
    rows = [{"gold": g, "predicted": p, "count": cells.get((g, p), 0.0)} for g in labels for p in labels]
    return pd.DataFrame(rows, columns=["gold", "predicted", "count"]), labels


# --- per-example sufficient statistics ---------------------------------------------------------


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


# --- resampling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float
    n_examples: int
    n_resamples: int


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


def _bootstrap_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """[size, n] counts of each example in `size` bootstrap resamples of n examples."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)


def _resampled(stats: list[np.ndarray], rng: np.random.Generator, n_resamples: int) -> list[np.ndarray]:
    """Metric sums of each stats matrix under the same bootstrap resamples: [n_resamples, k] each."""
    n = stats[0].shape[0]
    out: list[list[np.ndarray]] = [[] for _ in stats]
    for start in range(0, n_resamples, _CHUNK):
        weights = _bootstrap_weights(rng, n, min(_CHUNK, n_resamples - start))
        for i, matrix in enumerate(stats):
            out[i].append(weights @ matrix)
    return [np.concatenate(parts) for parts in out]


def _check_size(stats: np.ndarray, n_resamples: int) -> None:
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
    _check_size(stats, n_resamples)
    (sums,) = _resampled([stats], rng, n_resamples)
    values = spec.from_sums(sums)
    tail = 100 * (1 - confidence) / 2
    point = float(spec.from_sums(stats.sum(axis=0)))
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high), stats.shape[0], n_resamples)


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
    sums_a, sums_b = _resampled([stats_a, stats_b], rng, n_resamples)
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
    for start in range(0, n_permutations, _CHUNK):
        swaps = rng.integers(0, 2, size=(min(_CHUNK, n_permutations - start), stats_a.shape[0]))
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
    _check_size(stats_a, n_resamples)
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
