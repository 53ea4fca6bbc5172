"""Everything the dashboard shows, computed once from a results directory (no Streamlit here).

The app caches this; the load benchmark times exactly this function.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from spaneval import published, resultsdb, seed_tables


def dashboard_data(root: str | Path) -> dict:
    """Runs, seed summaries, the leaderboard with published reference rows, breakdowns, problems."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", resultsdb.ResultsWarning)
        runs = resultsdb.load_runs(root)
    metrics = resultsdb.metrics_table(runs)
    summary = seed_tables.seed_summary(metrics)
    pairs = set(zip(metrics["task"], metrics["data_source"], strict=True))
    long = seed_tables.leaderboard_long(summary, published.published_table(pairs))
    return {
        "runs": runs,
        "summary": summary,
        "leaderboard": seed_tables.leaderboard_wide(long),
        "long": long,
        "published": long[long["kind"] == "published"],
        "breakdowns": seed_tables.breakdown_summary(resultsdb.breakdowns_table(runs)),
        "runs_table": resultsdb.runs_table(runs),
        "problems": pd.DataFrame([vars(p) for p in runs.problems], columns=["path", "problem"]),
    }
