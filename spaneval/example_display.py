"""How one example is shown: its one-line label in pickers and its text with spans highlighted.

Pure functions over text, used by each task's prediction rows (`tasks/*_rows.py`) and rendered by
the dashboard; they live here so tasks do not depend on the dashboard package.
"""

from __future__ import annotations

import html
import itertools
from typing import Any


def short_label(text: str, example_id: Any, max_chars: int = 90) -> str:
    """How an example is named in the picker: `text` (the task's choice: question, sentence, ...)
    on one line, shortened, with its id."""
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return f"{text} · {example_id}" if text else str(example_id)


def highlight_spans(
    text: str,
    spans: dict[str, list[tuple[int, int]]],
    styles: dict[str, str],
    markers: dict[int, str] | None = None,
) -> str:
    """`text` with character spans ({class: [(start, end_exclusive)]}) wrapped in styled <span>s.

    Overlapping spans of different classes are split at every boundary; each piece is escaped.
    `markers` ({offset: trusted HTML}) are inserted at their character offsets (e.g. the number
    of the gold answer that ends there).
    """
    markers = markers or {}
    cuts = {0, len(text)} | {max(0, min(m, len(text))) for m in markers}
    for ranges in spans.values():
        for start, end in ranges:
            cuts |= {max(0, min(start, len(text))), max(0, min(end, len(text)))}
    bounds = sorted(cuts)
    out = [markers.get(0, "")]
    for lo, hi in itertools.pairwise(bounds):
        piece = html.escape(text[lo:hi]).replace("\n", "<br>")
        classes = [c for c, ranges in spans.items() if any(s <= lo and hi <= e for s, e in ranges)]
        style = ";".join(styles[c] for c in classes)
        out.append(f'<span class="{" ".join(classes)}" style="{style}">{piece}</span>' if classes else piece)
        out.append(markers.get(hi, ""))
    return "".join(out)
