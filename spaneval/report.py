"""Reproducibility reports (`python -m spaneval report`): Markdown, LaTeX (booktabs) or HTML.

`build_report(runs)` collects the tables (main table with the published numbers beside it,
significance tests, span-level breakdowns, per-run provenance); `report_blocks` lays them out as a
format-neutral list of blocks (heading, paragraph, list, table, chart, code) and one small renderer
per format writes the blocks. Every piece of text is escaped for its format, so data (run ids,
paths, configs) can never inject markup.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spaneval import atomic, charts, names, published, report_latex, results_tables, seed_tables, significance
from spaneval.errors import SpanevalError

FORMATS = ("md", "latex", "html")
LIBRARIES = ("python", "torch", "transformers", "tokenizers", "numpy", "spaneval", "platform")
NO_RESULTS = "No finished runs found. Produce some with e.g. `python -m spaneval run squad --model tiny`."
SIGNIFICANCE_NOTE = (
    "Each model against the BERT-like baseline (by name or pretraining objective; without one, every pair "
    "of models) on the same evaluation examples, "
    "per seed both ran: paired bootstrap over examples (documents for coreference), 1000 resamples, "
    "two-sided p-value. A−B is in points of the metric."
)
NO_PAIRS = "No significance tests: no two models have runs with the same seed on the same evaluation data."
MAIN_NOTE = (
    "Mean ± sample standard deviation over seeds (n = number of seeds) of each task's main metric. "
    "Rows marked 'published' are numbers reported by the SpanBERT authors, not measured here; "
    "their sources are listed below. Published numbers are mostly test-set, spaneval's are dev-set."
)
MATRIX_TABLES = frozenset({"confusion_matrix"})  # {gold: {predicted: count}}: a matrix, not buckets
APPENDIX_FIELDS = (
    "run_id", "task", "task_version", "model", "model_path", "hub_id", "model_revision", "seed", "command",
    "data_source", "data", "libraries", "git_commit", "hardware", "started_at", "wall_s", "gpu_hours",
)  # fmt: skip


@dataclass
class ReportData:
    results_dir: str
    main: pd.DataFrame  # leaderboard_wide: measured and published rows
    published: pd.DataFrame  # the published rows of leaderboard_long (with their sources)
    significance: pd.DataFrame
    breakdowns: pd.DataFrame
    runs: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def report(results_dir: str | Path, fmt: str, output: str | Path) -> Path:
    """Write the report for all runs under `results_dir` to `output` (atomically) and return its path."""
    if fmt not in FORMATS:
        raise SpanevalError(f"unknown report format {fmt!r}; known: {', '.join(FORMATS)}")
    runs = results_tables.load_runs(results_dir)
    data = build_report(runs)
    text = RENDERERS[fmt](report_blocks(data))
    atomic.write_text(output, text)
    return Path(output)


def build_report(runs: results_tables.Runs, seed: int = 0, n_resamples: int = 1000) -> ReportData:
    """All tables of a report (pure apart from reading prediction files through results_tables)."""
    metrics = results_tables.metrics_table(runs)
    summary = seed_tables.seed_summary(metrics)
    pairs = set(zip(metrics["task"], metrics["data_source"], strict=True))
    long = seed_tables.leaderboard_long(summary, published.published_table(pairs))
    return ReportData(
        results_dir=str(runs.root),
        main=seed_tables.leaderboard_wide(long),
        published=long[long["kind"] == "published"],
        significance=significance_table(runs, np.random.default_rng(seed), n_resamples),
        breakdowns=seed_tables.breakdown_summary(results_tables.breakdowns_table(runs)),
        runs=[provenance(r) for r in runs.records],
        problems=[str(p) for p in runs.problems],
    )


def significance_table(
    runs: results_tables.Runs, rng: np.random.Generator, n_resamples: int = 1000
) -> pd.DataFrame:
    """Paired tests on each task's main metric, per seed both models ran on the same data: every
    model (group label) against the task's first BERT-like one when there is one, else every pair."""
    table = results_tables.runs_table(runs)
    rows: list[dict[str, Any]] = []
    for _, part in table.groupby("task", sort=True) if not table.empty else []:
        models = part.sort_values("label").drop_duplicates("label")
        labels = list(models["label"])
        families = [names.model_family(m, o) for m, o in zip(labels, models["objective"], strict=True)]
        if "bert" in families:
            reference = labels[families.index("bert")]
            pairs = [(m, reference) for m in labels if m != reference]
        else:
            pairs = list(itertools.combinations(labels, 2))
        for model_a, model_b in pairs:
            rows += compare_models(runs, part, model_a, model_b, rng, n_resamples)
    return pd.DataFrame(rows)


def compare_models(
    runs: results_tables.Runs,
    task_runs: pd.DataFrame,
    model_a: str,
    model_b: str,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    method: str = "bootstrap",
) -> list[dict[str, Any]]:
    """Paired tests of two groups (their labels) for every seed and eval set both have (latest run each)."""
    latest = task_runs.sort_values("run_id").drop_duplicates(
        ["label", "seed", "data_fingerprint"], keep="last"
    )
    a = latest[latest["label"] == model_a]
    b = latest[latest["label"] == model_b]
    both = a.merge(b, on=["seed", "data_fingerprint"], suffixes=("_a", "_b"))
    from spaneval.tasks.registry import TASKS

    rows = []
    for _, pair in both.sort_values("seed").iterrows():
        row = {
            "task": pair["task_a"],
            "metric": pair["main_metric_a"],
            "model_a": model_a,
            "model_b": model_b,
            "seed": pair["seed"],
            "run_a": pair["run_id_a"],
            "run_b": pair["run_id_b"],
        }
        try:
            rows_a = results_tables.load_predictions(results_tables.find_record(runs, pair["run_id_a"]))
            rows_b = results_tables.load_predictions(results_tables.find_record(runs, pair["run_id_b"]))
            spec_of = TASKS[row["task"]].rows.resampling
            result = significance.compare_rows(
                rows_a, rows_b, spec_of, row["metric"], rng, method, n_resamples
            )
        except SpanevalError as err:
            rows.append(row | {"note": str(err)})
            continue
        rows.append(
            row
            | {
                "n": result.n_examples,
                "score_a": result.score_a,
                "score_b": result.score_b,
                "delta": result.delta,
                "delta_low": result.delta_low,
                "delta_high": result.delta_high,
                "p_value": result.p_value,
                "test": f"{result.method}, {result.n_resamples} resamples",
                "note": "",
            }
        )
    return rows


def provenance(record: dict[str, Any]) -> dict[str, Any]:
    """What is needed to reproduce one run, flattened for the appendix."""
    env, model, data = record.get("environment") or {}, record.get("model") or {}, record.get("data") or {}
    splits = {k: v for k, v in data.items() if isinstance(v, dict)}
    libraries = {k: env[k] for k in LIBRARIES if k in env}
    hardware = ", ".join(str(env[k]) for k in ("device", "device_name") if env.get(k))
    return {
        "run_id": record["run_id"],
        "task": record["task"],
        "task_version": record.get("task_version"),
        "model": names.display_name(record),
        "model_path": model.get("path") or model.get("name"),
        "hub_id": model.get("hub_id"),
        "model_revision": model.get("revision"),
        "seed": record["seed"],
        "command": record.get("command"),
        "config": json.dumps(record.get("config"), sort_keys=True, indent=1),
        "data": "; ".join(
            f"{k}: {v.get('path')} {v.get('fingerprint')} rev {v.get('revision')}" for k, v in splits.items()
        ),
        "data_source": data.get("source"),
        "libraries": ", ".join(f"{k} {v}" for k, v in libraries.items()),
        "git_commit": env.get("git_commit"),
        "hardware": f"{hardware} x{env.get('num_processes', 1)}",
        "started_at": record.get("started_at"),
        "wall_s": record.get("wall_s"),
        "gpu_hours": record.get("gpu_hours"),
    }


# --- tables as text ---------------------------------------------------------------------------

Table = tuple[list[str], list[list[str]]]


def _num(value: Any, digits: int = 1) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def _p(value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def main_rows(main: pd.DataFrame) -> Table:
    """Main table from `seed_tables.leaderboard_wide`: one row per model (and published reference), one
    'mean ± std (n=k)' cell per task, '–' where a model has no result."""
    tasks = [c.removesuffix(" n") for c in main.columns if c.endswith(" n")]
    metric_cols = [
        next(c for c in main.columns if c.startswith(t + " ") and c not in (f"{t} std", f"{t} n"))
        for t in tasks
    ]
    rows = []
    for _, r in main.iterrows():
        cells = []
        for task, col in zip(tasks, metric_cols, strict=True):
            if pd.isna(r[col]):
                cells.append("–")
            elif r["kind"] == "published":
                cells.append(_num(r[col]))
            else:
                cells.append(seed_tables.format_mean_std(r[col], r[f"{task} std"], int(r[f"{task} n"])))
        rows.append([str(r["row"]), str(r["kind"]), *cells])
    return ["model", "kind", *metric_cols], rows


def significance_rows(data: ReportData) -> Table:
    header = ["task", "metric", "A", "B", "seed", "n", "A score", "B score", "A−B", "95% CI of A−B", "p"]
    rows = []
    for _, r in data.significance.iterrows():
        ids = [str(r["task"]), str(r["metric"]), str(r["model_a"]), str(r["model_b"]), str(r["seed"])]
        if r.get("note"):
            rows.append([*ids, "–", "–", "–", "–", str(r["note"]), "–"])
            continue
        interval = f"[{_num(r['delta_low'], 2)}, {_num(r['delta_high'], 2)}]"
        scores = [_num(r["score_a"], 2), _num(r["score_b"], 2), _num(r["delta"], 2)]
        rows.append([*ids, str(int(r["n"])), *scores, interval, _p(r["p_value"])])
    return header, rows


# (title, header, rows, chart frame, bucket order)
TableWithChart = tuple[str, list[str], list[list[str]], pd.DataFrame, list[str]]


def breakdown_tables(data: ReportData) -> list[TableWithChart]:
    """One (title, header, rows, chart frame, bucket order) per (task, breakdown, metric): buckets x
    models (group labels), mean over seeds. Matrices (MATRIX_TABLES) are left to `matrix_tables`."""
    out = []
    tables = data.breakdowns[~data.breakdowns["table"].isin(MATRIX_TABLES)]
    for (task, table, metric), part in tables.groupby(["task", "table", "metric"], sort=True):
        models = sorted(part["label"].unique())
        order = seed_tables.bucket_order(part)
        rows = []
        for bucket in order:
            cells = part[part["bucket"] == bucket].drop_duplicates("label").set_index("label")
            counts = cells["count"].dropna()
            values = [_num(cells["mean"].get(m)) if m in cells.index else "–" for m in models]
            rows.append([bucket, *values, _num(int(counts.iloc[0])) if len(counts) else "–"])
        frame = part[["bucket", "label", "mean"]].rename(columns={"label": "model", "mean": "value"})
        out.append((f"{task}: {table} ({metric})", ["bucket", *models, "count"], rows, frame, order))
    return out


def matrix_tables(data: ReportData) -> list[TableWithChart]:
    """Confusion matrices, one per (task, model): rows gold, columns predicted (numbered, the row
    label names each number), cells the count (mean over seeds)."""
    out = []
    matrices = data.breakdowns[data.breakdowns["table"].isin(MATRIX_TABLES)]
    for (task, table, label), part in matrices.groupby(["task", "table", "label"], sort=True):
        frame, labels = seed_tables.matrix_frame(part)
        counts = frame.set_index(["gold", "predicted"])["count"]
        rows = [
            [f"{i} {gold}", *(_count(counts[(gold, p)]) for p in labels)]
            for i, gold in enumerate(labels, start=1)
        ]
        header = ["gold \\ predicted", *map(str, range(1, len(labels) + 1))]
        out.append((f"{task}: {table}, {label}", header, rows, frame, labels))
    return out


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def published_source_lines(data: ReportData) -> list[str]:
    """One line per published number in the main table, with its source (table / section)."""
    return [
        f"{r['row']}: {r['task']} {r['metric']} = {_num(r['mean'])}. Source: {r['source']}"
        for _, r in data.published.iterrows()
    ]


def totals(data: ReportData) -> str:
    wall = sum(float(r["wall_s"] or 0) for r in data.runs)
    gpu = sum(float(r["gpu_hours"] or 0) for r in data.runs)
    return f"{len(data.runs)} runs, total wall time {wall / 3600:.2f} h, total GPU hours {gpu:.2f}"


# --- layout ------------------------------------------------------------------------------------

# A block is ("h1" | "h2" | "h3" | "p" | "code", text), ("list", items), ("table", header, rows,
# caption), or a chart that only HTML draws: ("bars", frame, order, title, y title, integer counts)
# and ("heatmap", frame, order, title, value).
Block = tuple


def report_blocks(data: ReportData) -> list[Block]:
    """The report as format-neutral blocks."""
    if not data.runs:
        return [("h1", "spaneval report"), ("p", NO_RESULTS)]
    blocks: list[Block] = [
        ("h1", "spaneval report"),
        ("p", f"Results: {data.results_dir}. {totals(data)}."),
        ("h2", "Main results"),
        ("p", MAIN_NOTE),
        ("table", *main_rows(data.main), "Main results (mean ± std over seeds, n seeds)"),
        ("h3", "Published numbers: sources"),
        ("list", published_source_lines(data) or ["No task here has a published reference number."]),
        ("h2", "Significance"),
        *_significance_blocks(data),
        ("h2", "Span-level breakdowns"),
    ]
    for title, header, rows, frame, order in breakdown_tables(data):
        metric = title.rsplit("(", 1)[-1].rstrip(")")
        integer = metric in charts.COUNT_METRICS
        chart = ("bars", frame, order, title, metric, integer)
        blocks += [("h3", title), chart, ("table", header, rows, title)]
    for title, header, rows, frame, order in matrix_tables(data):
        blocks += [("h3", title), ("heatmap", frame, order, title, "count"), ("table", header, rows, title)]
    blocks.append(("h2", "Appendix: reproducing each number"))
    for run in data.runs:
        fields = [[k, str(run[k])] for k in APPENDIX_FIELDS]
        blocks += [
            ("h3", run["run_id"]),
            ("table", ["field", "value"], fields, run["run_id"]),
            ("code", run["config"]),
        ]
    if data.problems:
        blocks += [("h2", "Skipped files"), ("list", data.problems)]
    return blocks


def _significance_blocks(data: ReportData) -> list[Block]:
    if data.significance.empty:
        return [("p", NO_PAIRS)]
    return [("p", SIGNIFICANCE_NOTE), ("table", *significance_rows(data), "Paired significance tests")]


# --- Markdown (GitHub-flavoured) ---------------------------------------------------------------


def md_escape(text: Any) -> str:
    """Text that renders literally in GFM: HTML, pipes and markdown markup escaped, one line."""
    text = html.escape(str(text), quote=False).replace("\n", " ")
    return re.sub(r"([\\`*_\[\]{}|#~<>])", r"\\\1", text)


def render_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + md_escape(rest[0]))
        elif kind == "p":
            out.append(md_escape(rest[0]))
        elif kind == "list":
            out.append("\n".join(f"- {md_escape(item)}" for item in rest[0]))
        elif kind == "table":
            header, rows = rest[0], rest[1]
            lines = ["| " + " | ".join(map(md_escape, header)) + " |", "|" + "---|" * len(header)]
            out.append("\n".join(lines + ["| " + " | ".join(map(md_escape, r)) + " |" for r in rows]))
        elif kind == "code":
            out.append("```json\n" + rest[0].replace("```", "` ` `") + "\n```")
    return "\n\n".join(out) + "\n"


# --- HTML (one self-contained file; charts are inline SVG) -------------------------------------

_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border-bottom:1px solid #ccc;padding:4px 8px;"
    "text-align:right}th:first-child,td:first-child{text-align:left}"
    "pre{background:#f5f5f5;padding:8px;overflow:auto}"
)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_chart(block: tuple) -> str:
    """An inline SVG chart (altair, rendered offline) for a "bars" or "heatmap" block."""
    kind, frame, order, title, y_title = block[:5]
    if kind == "heatmap":
        chart = charts.heatmap(frame, "gold", "predicted", "count", order, title)
    else:
        chart = charts.grouped_bars(frame, "bucket", "model", "value", order, title, y_title, block[5])
    return f"<figure>{charts.to_svg(chart)}</figure>"


def render_html(blocks: list[Block]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3", "p"):
            out.append(f"<{kind}>{html.escape(rest[0])}</{kind}>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in rest[0]) + "</ul>")
        elif kind == "table":
            out.append(html_table(rest[0], rest[1]))
        elif kind in ("bars", "heatmap"):
            out.append(html_chart((kind, *rest)))
        elif kind == "code":
            out.append(f"<pre>{html.escape(rest[0])}</pre>")
    head = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>spaneval report</title><style>{_CSS}"
    return head + "</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"


RENDERERS: dict[str, Callable[[list[Block]], str]] = {
    "md": render_markdown,
    "latex": report_latex.render_latex,
    "html": render_html,
}
