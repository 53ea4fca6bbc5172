"""Benchmark `dashboard-load`: load 500 run records and build the leaderboard tables.

`python -m spaneval bench dashboard-load [--runs 500]` writes synthetic runs to a temporary
directory, then times what the dashboard does on start: `results_tables.load_runs`, the tidy metrics
table, the seed summary and the leaderboard. Prints one JSON line. The goal is under 3 s
for 500 records.

The synthetic runs come from spaneval/synthetic_runs.py, which the tests use too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from spaneval.run_writer import cpu_name
from spaneval.synthetic_runs import write_results


def load_leaderboard(root: Path) -> pd.DataFrame:
    """What the dashboard computes on start (without Streamlit)."""
    from spaneval.dashboards.data import dashboard_data

    return dashboard_data(root)["leaderboard"]


def app_render_s(root: Path) -> float:
    """Seconds for the Streamlit app's first full render of the leaderboard (AppTest, no browser)."""
    import os

    from streamlit.testing.v1 import AppTest

    from spaneval.dashboard_server import APP

    previous = os.environ.get("SPANEVAL_RESULTS")
    os.environ["SPANEVAL_RESULTS"] = str(root)
    try:
        start = time.perf_counter()
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        elapsed = time.perf_counter() - start
    finally:
        os.environ.pop("SPANEVAL_RESULTS") if previous is None else os.environ.update(
            SPANEVAL_RESULTS=previous
        )
    if at.exception:
        raise RuntimeError(f"dashboard failed: {at.exception[0].value}")
    return elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="spaneval bench dashboard-load")
    parser.add_argument("--runs", type=int, default=500, help="number of run records")
    parser.add_argument("--repeats", type=int, default=3, help="timed loads; the best is reported")
    parser.add_argument("--no-app", action="store_true", help="skip timing the Streamlit app's first render")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write_results(Path(tmp), args.runs)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            board = load_leaderboard(Path(tmp))
            times.append(time.perf_counter() - start)
        app_s = None if args.no_app else round(app_render_s(Path(tmp)), 3)
    result = {
        "bench": "dashboard-load",
        "runs": args.runs,
        "load_s": round(min(times), 3),
        "load_s_all": [round(t, 3) for t in times],
        "app_first_render_s": app_s,
        "leaderboard_rows": len(board),
        "goal_s": 3.0,
        "machine": cpu_name(),
    }
    print(json.dumps(result))
    return result
