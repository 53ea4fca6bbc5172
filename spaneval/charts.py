"""Charts of results as altair (Vega-Lite) specifications, shared by the dashboard and the HTML report.

Each function takes a tidy pandas frame and returns an `altair.Chart`; the dashboard shows it with
`st.altair_chart`, the HTML report turns it into inline SVG (`to_svg`, via vl-convert, offline).
Rules every chart follows: a titled y axis whose scale starts at zero and fits the data (no fixed
0-100), integer ticks for counts, categories in the order given (never alphabetical by accident),
and legends below the plot with labels never truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

COUNT_METRICS = frozenset({"count"})  # breakdown values that are counts: integer ticks
MAX_WIDTH_PX = 900
BAR_PX = 16
_LEGEND = {"orient": "bottom", "direction": "vertical", "labelLimit": 0, "titleLimit": 0}


def _alt():
    import altair as alt

    return alt


def _y_axis(title: str, integer: bool) -> Any:
    alt = _alt()
    if integer:
        return alt.Axis(title=title, format="d", tickMinStep=1)
    return alt.Axis(title=title)


def _width(n_bars: int) -> int:
    return max(320, min(MAX_WIDTH_PX, BAR_PX * n_bars + 40))


def grouped_bars(
    frame: pd.DataFrame,
    category: str,
    series: str,
    value: str,
    order: Sequence[str],
    title: str,
    y_title: str,
    integer: bool = False,
) -> Any:
    """One group of bars per `category` (in `order`), one bar per `series` value, side by side."""
    alt = _alt()
    n_series = max(frame[series].nunique(), 1)
    return (
        alt.Chart(frame, title=alt.Title(title, anchor="start"))
        .mark_bar()
        .encode(
            x=alt.X(
                f"{category}:N", sort=list(order), title=None, axis=alt.Axis(labelAngle=-30, labelLimit=0)
            ),
            xOffset=alt.XOffset(f"{series}:N"),
            y=alt.Y(f"{value}:Q", axis=_y_axis(y_title, integer), scale=alt.Scale(zero=True, nice=True)),
            color=alt.Color(f"{series}:N", title=series, legend=alt.Legend(**_LEGEND)),
            tooltip=[category, series, alt.Tooltip(f"{value}:Q", format="d" if integer else ".2f")],
        )
        .properties(width=_width(len(order) * n_series), height=220)
    )


def heatmap(frame: pd.DataFrame, row: str, column: str, value: str, order: Sequence[str], title: str) -> Any:
    """A matrix of counts (e.g. a confusion matrix): rows and columns in `order`, counts printed."""
    alt = _alt()
    base = alt.Chart(frame, title=alt.Title(title, anchor="start")).encode(
        x=alt.X(f"{column}:N", sort=list(order), axis=alt.Axis(labelAngle=-45, labelLimit=0)),
        y=alt.Y(f"{row}:N", sort=list(order), axis=alt.Axis(labelLimit=0)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues"), legend=alt.Legend(format="d")),
        tooltip=[row, column, alt.Tooltip(f"{value}:Q", format="d")],
    )
    text = base.mark_text(fontSize=9).encode(
        text=alt.Text(f"{value}:Q", format="d"),
        color=alt.condition(f"datum['{value}'] > 0", alt.value("black"), alt.value("#bbb")),
    )
    side = max(240, min(MAX_WIDTH_PX, 22 * len(order)))
    return (cells + text).properties(width=side, height=side)


def line_chart(frame: pd.DataFrame, x: str, y: str, series: str | None, title: str, y_title: str) -> Any:
    """Lines of `y` over `x` (e.g. the training loss over optimizer steps), one per `series`."""
    alt = _alt()
    encoding: dict[str, Any] = {
        "x": alt.X(f"{x}:Q", axis=alt.Axis(title=x, format="d", tickMinStep=1)),
        "y": alt.Y(f"{y}:Q", axis=alt.Axis(title=y_title), scale=alt.Scale(zero=False, nice=True)),
        "tooltip": [x, alt.Tooltip(f"{y}:Q", format=".4f")],
    }
    if series:
        encoding["color"] = alt.Color(f"{series}:N", legend=alt.Legend(**_LEGEND))
    chart = alt.Chart(frame, title=alt.Title(title, anchor="start")).mark_line(point=len(frame) <= 50)
    return chart.encode(**encoding).properties(width=MAX_WIDTH_PX // 2 + 200, height=220)


def score_bars(frame: pd.DataFrame, title: str) -> Any:
    """Leaderboard chart: per task, each model's mean main score with a ± std whisker.

    `frame` columns: task, row (the model's label), model (its full path, shown on hover), metric,
    mean, std (NaN for one seed), n.
    """
    alt = _alt()
    spread = frame["std"].fillna(0)
    frame = frame.assign(low=frame["mean"] - spread, high=frame["mean"] + spread)
    rows = list(dict.fromkeys(frame["row"]))
    base = alt.Chart().encode(
        x=alt.X("row:N", sort=rows, title=None, axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("row:N", sort=rows, title="model", legend=alt.Legend(**_LEGEND)),
    )
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title="main metric (mean over seeds)", scale=alt.Scale(zero=True, nice=True)),
        tooltip=[
            "task",
            "row",
            alt.Tooltip("model:N", title="model path"),
            "metric",
            *(alt.Tooltip(f"{c}:Q", format=".2f") for c in ("mean", "std")),
            alt.Tooltip("n:Q", format="d", title="seeds"),
        ],
    )
    whiskers = base.mark_rule().encode(y="low:Q", y2="high:Q", color=alt.value("black"))
    width = max(120, BAR_PX * 2 * len(rows))
    return (
        alt.layer(bars, whiskers, data=frame)
        .properties(width=width, height=220)
        .facet(column=alt.Column("task:N", title=None), title=alt.Title(title, anchor="start"))
        .resolve_scale(y="independent")
    )


def to_svg(chart: Any) -> str:
    """The chart as a standalone SVG string (rendered offline by vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_dict())
