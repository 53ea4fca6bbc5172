"""spaneval leaderboard (Streamlit). Run: `python -m spaneval dashboard --results DIR`.

Renders tables built by `spaneval.results_tables`, `spaneval.seed_tables` and `dashboards.views`; reads the
results directory only through `spaneval.results_tables` and writes nothing. Text that comes from data
is shown in dataframes, code blocks or escaped HTML (`st.html`), never as markdown.
The results directory comes from `-- --results DIR` after the script name, else $SPANEVAL_RESULTS.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from spaneval import charts, names, results_tables
from spaneval.dashboards import views
from spaneval.dashboards.data import dashboard_data
from spaneval.errors import SpanevalError

VIEWS = ("Leaderboard", "Task", "Run", "Examples")
HOW_TO = (
    "python -m spaneval run squad --model spanbert --seeds 1,2,3\n"
    "python -m spaneval run squad --model bert --seeds 1,2,3\n"
    "python -m spaneval dashboard --results results"
)


def results_dir() -> Path:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results", default=os.environ.get("SPANEVAL_RESULTS", "results"))
    args, _ = parser.parse_known_args(sys.argv[1:])
    return Path(args.results)


@st.cache_data(show_spinner="Loading results ...")
def load(root: str, signature: tuple) -> dict:
    return dashboard_data(root)


@st.cache_data(show_spinner=False)
def predictions(root: str, signature: tuple, run_id: str) -> list[dict]:
    return results_tables.load_predictions(results_tables.find_record(load(root, signature)["runs"], run_id))


def leaderboard_page(data: dict) -> None:
    st.header("Leaderboard")
    st.caption(
        "Main score of each task: mean ± sample std over seeds (n = distinct seeds). A model is a group of "
        "runs with the same model, tokenizer settings, config and data. Rows of kind 'published' are "
        "numbers reported by the SpanBERT authors (not measured here; mostly test sets, ours are dev). "
        "Hover a bar for the full model path."
    )
    st.dataframe(views.leaderboard_table(data["leaderboard"]), hide_index=True, width="stretch")
    measured = data["long"][data["long"]["kind"] == "measured"]
    if not measured.empty:
        st.altair_chart(charts.score_bars(measured, "Main score per task (mean ± std over seeds)"))
    if not data["published"].empty:
        st.subheader("Published reference numbers: sources")
        sources = data["published"][["row", "task", "metric", "mean", "source"]]
        st.dataframe(sources.rename(columns={"mean": "value"}), hide_index=True, width="stretch")


def task_page(data: dict, root: str, signature: tuple) -> None:
    tasks = sorted(data["summary"]["task"].unique())
    task = st.selectbox("Task", tasks, key="task")
    st.subheader("All metrics (mean, std and n over seeds)")
    metrics = views.for_display(views.task_metrics_table(data["summary"], task))
    st.dataframe(metrics, hide_index=True, width="stretch")
    for table, metric, frame, order in views.breakdown_charts(data["breakdowns"], task):
        integer = metric in charts.COUNT_METRICS
        st.altair_chart(charts.grouped_bars(frame, "bucket", "model", "value", order, table, metric, integer))
    confusion_section(data, task)
    significance_section(data, task, root, signature)


def confusion_section(data: dict, task: str) -> None:
    matrices = data["breakdowns"][
        (data["breakdowns"]["task"] == task) & data["breakdowns"]["table"].isin(views.MATRIX_TABLES)
    ]
    if matrices.empty:
        return
    st.subheader("Confusion matrix (gold rows, predicted columns; mean count over seeds)")
    label = st.selectbox("Model", sorted(matrices["label"].unique()), key="cm_model")
    frame, order = views.confusion_frame(data["breakdowns"], task, label)
    st.altair_chart(charts.heatmap(frame, "gold", "predicted", "count", order, label))


def significance_section(data: dict, task: str, root: str, signature: tuple) -> None:
    st.subheader("Significance of the difference between two models")
    runs = data["runs_table"][data["runs_table"]["task"] == task]
    groups = runs.sort_values("label").drop_duplicates("label")
    models = list(groups["label"])
    pair = names.default_pair(list(zip(models, groups["objective"], strict=True)))
    if pair is None:
        st.info("Only one model has runs for this task.")
        return
    left, mid, right = st.columns(3)
    model_a = left.selectbox("Model A", models, index=pair[0], key="sig_a")
    model_b = mid.selectbox("Model B", models, index=pair[1], key="sig_b")
    method = right.radio("Test", ["bootstrap", "randomization"], horizontal=True, key="sig_method")
    if model_a == model_b:
        st.info("Choose two different models.")
        return
    table = significance(root, signature, task, model_a, model_b, method)
    if table.empty:
        st.info("The two models share no seed on the same evaluation data.")
    st.dataframe(views.for_display(table), hide_index=True, width="stretch")


@st.cache_data(show_spinner="Resampling ...")
def significance(
    root: str, signature: tuple, task: str, model_a: str, model_b: str, method: str
) -> pd.DataFrame:
    from spaneval.report import compare_models

    data = load(root, signature)
    runs = data["runs_table"][data["runs_table"]["task"] == task]
    rows = compare_models(data["runs"], runs, model_a, model_b, np.random.default_rng(0), 1000, method)
    return pd.DataFrame(rows)


def run_page(data: dict) -> None:
    runs = data["runs_table"].sort_values(["task", "label", "seed"])
    labels = {run["run_id"]: views.run_label(run) for run in runs.to_dict("records")}
    ids = list(labels)
    run_a = st.selectbox("Run", ids, format_func=labels.get, key="run_a")
    record = results_tables.find_record(data["runs"], run_a)
    st.html(views.run_heading(record))
    st.subheader("Training loss")
    losses = views.loss_frame(record)
    if losses.empty:
        st.info("This record has no per-step training losses.")
    else:
        st.altair_chart(charts.line_chart(losses, "step", "loss", None, "Loss per optimizer step", "loss"))
    st.subheader("Provenance")
    st.dataframe(views.run_summary(record), hide_index=True, width="stretch")
    st.subheader("Metrics")
    metrics = pd.DataFrame(record["metrics"].items(), columns=["metric", "value"])
    st.dataframe(views.for_display(metrics), hide_index=True)
    st.subheader("Config")
    st.json(record.get("config") or {})
    st.subheader("Config diff with another run")
    run_b = st.selectbox("Compare with", ids, index=min(1, len(ids) - 1), format_func=labels.get, key="run_b")
    diff = views.config_diff(
        record.get("config"), results_tables.find_record(data["runs"], run_b).get("config")
    )
    if diff.empty:
        st.info("The two configs are identical.")
    else:
        st.dataframe(diff, hide_index=True, width="stretch")


def examples_page(data: dict, root: str, signature: tuple) -> None:
    runs = data["runs_table"]
    task = st.selectbox("Task", sorted(runs["task"].unique()), key="ex_task")
    part = runs[runs["task"] == task].sort_values(["label", "seed"])
    labels = {run["run_id"]: views.run_label(run) for run in part.to_dict("records")}
    ids = list(labels)
    default_a, default_b = views.default_runs(part)
    left, right = st.columns(2)
    run_a = left.selectbox("Run A", ids, index=default_a, format_func=labels.get, key="ex_a")
    run_b = right.selectbox("Run B", ids, index=default_b, format_func=labels.get, key="ex_b")
    mode = st.radio("Show", views.FILTERS, horizontal=True, key="ex_filter")
    try:
        rows_a = predictions(root, signature, run_a)
        rows_b = predictions(root, signature, run_b)
    except SpanevalError as err:
        st.error(str(err))
        return
    from spaneval.tasks.registry import TASKS  # on first use: the task modules import torch

    shown = TASKS[task].rows
    chosen = views.filter_ids(rows_a, rows_b, mode, shown.is_right)
    st.caption(f"{len(chosen)} of {len(rows_a)} examples")
    if not chosen:
        st.info("No example matches this filter.")
        return
    by_id_a, by_id_b = {r["id"]: r for r in rows_a}, {r["id"]: r for r in rows_b}
    example_id = st.selectbox(
        "Example", chosen[:500], format_func=lambda i: shown.label(by_id_a[i]), key="ex_id"
    )
    for column, letter, run_id, row in zip(
        st.columns(2), "AB", (run_a, run_b), (by_id_a[example_id], by_id_b.get(example_id)), strict=True
    ):
        with column:
            heading = f"<h4>{letter}: {html.escape(labels[run_id])}</h4>"
            if row is None:
                st.html(heading + "<p><i>This run has no prediction for this example.</i></p>")
                continue
            st.html(heading + shown.html(row))
            if row.get("nbest"):
                st.dataframe(views.for_display(views.nbest_table(row)), hide_index=True)


def main() -> None:
    st.set_page_config(page_title="spaneval", layout="wide")
    root = results_dir()
    signature = results_tables.signature(root)
    data = load(str(root), signature)
    st.sidebar.title("spaneval")
    st.sidebar.caption("Results directory")
    st.sidebar.code(str(root), language=None)
    view = st.sidebar.radio("View", VIEWS, key="view")
    if not data["problems"].empty:
        st.warning(f"{len(data['problems'])} results file(s) skipped or rejected; see the table below.")
        st.dataframe(data["problems"], hide_index=True, width="stretch")
    if data["runs"].empty:
        st.info("No finished runs in this results directory yet. Produce some, for example:")
        st.code(HOW_TO, language="bash")
        return
    if view == "Leaderboard":
        leaderboard_page(data)
    elif view == "Task":
        task_page(data, str(root), signature)
    elif view == "Run":
        run_page(data)
    else:
        examples_page(data, str(root), signature)


main()
