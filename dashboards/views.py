"""Pure functions behind the dashboard views: tables (pandas) and escaped HTML for examples.

Nothing here touches Streamlit or files. How one task's examples look is the task's own
(tasks/*_rows.py, PredictionRows); what is here is shared by every task. All text from data
sets goes through `html.escape`, so a context that contains HTML or markdown shows as text. The
HTML is rendered with `st.html`, which does not interpret markdown.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from spaneval import names, seed_tables

FILTERS = ("all", "wrong only", "A right, B wrong", "B right, A wrong")


# --- tables ------------------------------------------------------------------------------------


MISSING = "–"  # what a cell without a value shows (never "None" or "nan")
MATRIX_TABLES = frozenset({"confusion_matrix"})  # breakdowns that are {gold: {predicted: count}}


def for_display(frame: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """A copy in which no cell is missing: gaps show MISSING; a float column with gaps becomes text
    with `digits` decimals (a column without gaps keeps its type, so it still sorts numerically)."""
    out = frame.copy()
    for column in out.columns:
        missing = out[column].isna()
        if not missing.any():
            continue
        if out[column].dtype.kind == "f":
            values = [MISSING if m else f"{v:.{digits}f}" for v, m in zip(out[column], missing, strict=True)]
            out[column] = values
        else:
            out[column] = out[column].astype(object).where(~missing, MISSING)
    return out


def leaderboard_table(wide: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as the report prints it: 'mean ± std (n=k)' per task, MISSING where absent."""
    from spaneval.report import main_rows

    header, rows = main_rows(wide)
    return pd.DataFrame(rows, columns=header)


def task_metrics_table(summary: pd.DataFrame, task: str) -> pd.DataFrame:
    """Every metric of `task`: one row per model (group label), mean / std / n columns per metric."""
    part = summary[summary["task"] == task]
    if part.empty:
        return pd.DataFrame()
    wide = part.pivot_table(index="label", columns="metric", values=["mean", "std", "n"], dropna=False)
    wide.columns = [f"{metric} {stat}" for stat, metric in wide.columns]
    ordered = sorted(
        wide.columns, key=lambda c: (c.rsplit(" ", 1)[0], ["mean", "std", "n"].index(c.rsplit(" ", 1)[1]))
    )
    return wide[ordered].reset_index().rename(columns={"label": "model"})


def breakdown_charts(breakdowns: pd.DataFrame, task: str) -> list[tuple[str, str, pd.DataFrame, list[str]]]:
    """(table, metric, frame of bucket/model/value, bucket order) per bar chart of `task`; buckets in
    the order the task declared (lowest rank first), matrices left out."""
    part = breakdowns[(breakdowns["task"] == task) & ~breakdowns["table"].isin(MATRIX_TABLES)]
    out = []
    for (table, metric), chart in part.groupby(["table", "metric"], sort=True):
        order = seed_tables.bucket_order(chart)
        frame = chart[["bucket", "label", "mean"]].rename(columns={"label": "model", "mean": "value"})
        out.append((table, metric, frame, order))
    return out


def confusion_frame(breakdowns: pd.DataFrame, task: str, label: str) -> tuple[pd.DataFrame, list[str]]:
    """The confusion matrix of one model (group label) of `task` as gold/predicted/count rows over
    every label pair (zeros filled in), and the label order."""
    matrices = breakdowns[breakdowns["table"].isin(MATRIX_TABLES)]
    part = matrices[(matrices["task"] == task) & (matrices["label"] == label)]
    return seed_tables.matrix_frame(part)


def loss_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The training loss per optimizer step from a record ("training.losses"); empty when absent."""
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    losses = [v for v in training.get("losses") or [] if isinstance(v, (int, float))]
    return pd.DataFrame({"step": range(1, len(losses) + 1), "loss": losses})


def run_heading(record: dict[str, Any]) -> str:
    """The run view's heading: display name, with the full model path underneath (escaped HTML)."""
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    path = str(model.get("path") or model.get("name") or "")
    name, run_id = html.escape(names.display_name(record)), html.escape(record["run_id"])
    return (
        f"<h3 title='{html.escape(path, quote=True)}'>{name}</h3>"
        f"<div style='color:#666'>model: <code>{html.escape(path)}</code> · run {run_id}</div>"
    )


def default_runs(runs: pd.DataFrame) -> tuple[int, int]:
    """Positions in `runs` (a runs table of one task, in picker order) of the pair to show first:
    SpanBERT-like against BERT-like on a seed both ran, else the first two runs."""
    groups = runs.drop_duplicates("label")
    pair = names.default_pair(list(zip(groups["label"], groups["objective"], strict=True)))
    if pair is None:
        return 0, min(1, len(runs) - 1)
    label_a, label_b = groups["label"].iloc[pair[0]], groups["label"].iloc[pair[1]]
    ids = list(runs["run_id"])
    a = runs[runs["label"] == label_a]
    b = runs[runs["label"] == label_b]
    shared = [s for s in a["seed"] if s in set(b["seed"])]
    seed_a = shared[0] if shared else a["seed"].iloc[0]
    run_a = a[a["seed"] == seed_a]["run_id"].iloc[0]
    run_b = (b[b["seed"] == seed_a] if shared else b)["run_id"].iloc[0]
    return ids.index(run_a), ids.index(run_b)


def run_label(run: dict[str, Any] | pd.Series) -> str:
    """How a run is named in pickers: model label, task, seed and run id."""
    return f"{run['label']} · {run['task']} · seed {run['seed']} · {run['run_id']}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'train.learning_rate': 2e-05, ...} from nested dicts."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out |= flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    return out


def config_diff(config_a: dict[str, Any], config_b: dict[str, Any]) -> pd.DataFrame:
    """Keys whose values differ between two configs (missing shown as '<absent>'), sorted by key."""
    flat_a, flat_b = flatten(config_a or {}), flatten(config_b or {})
    rows = [
        {"key": k, "run A": repr(flat_a.get(k, "<absent>")), "run B": repr(flat_b.get(k, "<absent>"))}
        for k in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(k, "<absent>") != flat_b.get(k, "<absent>")
    ]
    return pd.DataFrame(rows, columns=["key", "run A", "run B"])


def run_summary(record: dict[str, Any]) -> pd.DataFrame:
    """Provenance of one run as (field, value) rows: model revision, data fingerprints, environment."""
    model, env, data = record.get("model") or {}, record.get("environment") or {}, record.get("data") or {}
    rows = [
        ("run_id", record["run_id"]),
        ("model (display name)", names.display_name(record)),
        ("task", record["task"]),
        ("task_version", record.get("task_version")),
        ("seed", record["seed"]),
        ("command", record.get("command")),
        ("started_at", record.get("started_at")),
        ("wall_s", record.get("wall_s")),
        ("gpu_hours", record.get("gpu_hours")),
    ]
    rows += [(f"model.{k}", v) for k, v in flatten(model).items()]
    rows += [(f"data.{k}", v) for k, v in flatten(data).items()]
    rows += [(f"environment.{k}", v) for k, v in env.items()]
    return pd.DataFrame([(k, MISSING if v is None else str(v)) for k, v in rows], columns=["field", "value"])


# --- examples: right / wrong and filters -------------------------------------------------------


def filter_ids(
    rows_a: Sequence[dict], rows_b: Sequence[dict] | None, mode: str, is_right: Callable[[dict], bool]
) -> list[str]:
    """Example ids of run A (in order) passing `mode` (one of FILTERS); B filters need run B.
    is_right: the task's PredictionRows.is_right."""
    if mode not in FILTERS:
        raise ValueError(f"unknown filter {mode!r}; known: {', '.join(FILTERS)}")
    right_b = {r["id"]: is_right(r) for r in rows_b or []}
    out = []
    for row in rows_a:
        a_right, b_right = is_right(row), right_b.get(row["id"])
        keep = {
            "all": True,
            "wrong only": not a_right,
            "A right, B wrong": a_right and b_right is False,
            "B right, A wrong": not a_right and b_right is True,
        }[mode]
        if keep:
            out.append(row["id"])
    return out


# --- examples: escaped HTML --------------------------------------------------------------------


def nbest_table(row: dict[str, Any]) -> pd.DataFrame:
    columns = ["text", "start_char", "end_char", "score", "probability"]
    return pd.DataFrame([{k: c.get(k) for k in columns} for c in row.get("nbest") or []], columns=columns)
