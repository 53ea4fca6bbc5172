"""Seeds of one experiment summarised (mean, sample std, n) and the leaderboard tables built on that (pure).

Resampling over examples is spaneval/resampling.py; paired tests between runs spaneval/significance.py.
"""

from __future__ import annotations

import pandas as pd

# Runs of one `group` (results_tables.group_key: model, tokenizer settings, config, data) are seeds of one
# experiment; the descriptive columns are constant within a group and carried along.
GROUP_KEYS = ("task", "group", "metric")
GROUP_COLUMNS = ("label", "model", "data_source", "data_fingerprint", "config_key")


def seed_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and number of distinct seeds per group.

    `metrics` is `results_tables.metrics_table(...)`; a seed listed twice in a group (the same run read
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

    A row is a group's label (results_tables.group_labels: the display name, plus what sets it apart when
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
