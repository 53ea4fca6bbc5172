"""Everything the dashboard shows, computed once from a results directory (no Streamlit here).

The app caches this; the load benchmark times exactly this function.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from spaneval import published, results_tables, seed_tables


def dashboard_data(root: str | Path) -> dict:
    """Runs, seed summaries, the leaderboard with published reference rows, breakdowns, problems."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_tables.ResultsWarning)
        runs = results_tables.load_runs(root)
    metrics = results_tables.metrics_table(runs)
    summary = seed_tables.seed_summary(metrics)
    pairs = set(zip(metrics["task"], metrics["data_source"], strict=True))
    long = seed_tables.leaderboard_long(summary, published.published_table(pairs))
    return {
        "runs": runs,
        "summary": summary,
        "leaderboard": seed_tables.leaderboard_wide(long),
        "long": long,
        "published": long[long["kind"] == "published"],
        "breakdowns": seed_tables.breakdown_summary(results_tables.breakdowns_table(runs)),
        "runs_table": results_tables.runs_table(runs),
        "problems": pd.DataFrame([vars(p) for p in runs.problems], columns=["path", "problem"]),
    }
