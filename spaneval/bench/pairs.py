"""Shared by the benchmarks: both sides of a comparison timed in one process, order alternated.

A shared machine drifts; timing ours then theirs in every round would hand one side the quieter
half. Round r runs the sides in the given order when r is even and reversed when odd, and the
figures are medians over rounds with their spread, never a single best.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable


def alternated(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """{side: [value per round]}: each callable returns its own measurement (seconds, a rate...)."""
    names = list(sides)
    values: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            values[name].append(sides[name]())
    return values


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    """Median, minimum and maximum of repeated measurements."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def ratios(numerator: list[float], denominator: list[float], digits: int = 2) -> dict[str, float]:
    """Spread of the per-round ratios numerator / denominator (each round's pair ran back to back)."""
    return spread([a / b for a, b in zip(numerator, denominator, strict=True)], digits)
