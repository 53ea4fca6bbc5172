"""The LaTeX renderer of reports: booktabs tables that fit the text width, kept under their headings.

Fitting rules (checked by compiling with pdflatex and reading the log for overfull boxes):
- Every table is a `tabularx` of \\linewidth: the first column and every column with a cell longer
  than WRAP_CHARS are X columns that wrap; short columns keep their natural width.
- Long values (paths, hashes, command lines, JSON) get a line-break point after / _ - . , = : and
  every BREAK_EVERY characters of a word, so they wrap inside their cell instead of running off.
- A table whose short columns alone would not fit the portrait width is set in landscape.
- Tables are `[H]` floats (float package): they stay under their heading instead of drifting pages
  away; tables longer than ROWS_PER_TABLE rows are split into continued parts.
- Code (a run's config JSON) is set as wrapped typewriter lines, not `verbatim`, which never wraps.
"""

from __future__ import annotations

import re
from typing import Any

WRAP_CHARS = 14
BREAK_EVERY = 16
ROWS_PER_TABLE = 40
TEXT_WIDTH_CM = 17.0  # A4 with 2 cm margins
CHAR_CM = 0.14  # a \scriptsize character, generously
COLUMN_PAD_CM = 0.4
MIN_X_CM = 1.8
_BREAK_AFTER = frozenset("/_-.,=:;|")
_NUMERIC = re.compile(r"[\d\s.,±–\-−+<>()\[\]n=%]*")

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "±": r"$\pm$", "–": "--", "−": "$-$",
}  # fmt: skip
PREAMBLE = (
    "\\documentclass[a4paper]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
    "\\usepackage{booktabs}\n\\usepackage{tabularx}\n\\usepackage{array}\n\\usepackage{float}\n"
    "\\usepackage{pdflscape}\n\\usepackage[margin=2cm]{geometry}\n"
    "\\setlength{\\emergencystretch}{3em}\n"
    "\\newcolumntype{L}{>{\\raggedright\\arraybackslash}X}\n"
    "\\newcolumntype{R}{>{\\raggedleft\\arraybackslash}X}\n"
    "\\begin{document}\n"
)


def latex_escape(text: Any) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_breakable(text: Any) -> str:
    """Escaped text with a break point after separators and inside long words."""
    out, run = [], 0
    for ch in str(text):
        out.append(_LATEX_SPECIAL.get(ch, ch))
        run = 0 if ch.isspace() else run + 1
        if run and (ch in _BREAK_AFTER or run >= BREAK_EVERY):
            out.append("\\allowbreak{}")
            run = 0
    return "".join(out)


def column_kinds(header: list[str], rows: list[list[str]]) -> list[str]:
    """Per column: 'L' / 'R' (wrapping X, text / numbers) or 'l' / 'r' (natural width)."""
    kinds = []
    for j, head in enumerate(header):
        cells = [str(r[j]) for r in rows]
        numeric = bool(cells) and all(_NUMERIC.fullmatch(c) for c in cells)
        wide = j == 0 or max(len(c) for c in [head, *cells]) > WRAP_CHARS
        kinds.append(("R" if numeric else "L") if wide else ("r" if numeric else "l"))
    return kinds


def needs_landscape(header: list[str], rows: list[list[str]], kinds: list[str]) -> bool:
    """True when the natural-width columns plus a minimum for each X column exceed the text width."""
    width = 0.0
    for j, kind in enumerate(kinds):
        if kind in "LR":
            width += MIN_X_CM
        else:
            width += max(len(str(c)) for c in [header[j], *(r[j] for r in rows)]) * CHAR_CM + COLUMN_PAD_CM
    return width > TEXT_WIDTH_CM


def latex_table(header: list[str], rows: list[list[str]], caption: str) -> str:
    """A booktabs tabularx table at the text width (split into parts past ROWS_PER_TABLE rows)."""
    kinds = column_kinds(header, rows)
    chunks = [rows[i : i + ROWS_PER_TABLE] for i in range(0, len(rows), ROWS_PER_TABLE)] or [[]]
    parts = []
    for k, chunk in enumerate(chunks):
        title = caption if k == 0 else f"{caption} (continued)"
        parts.append(_one_table(header, chunk, kinds, title))
    text = "\n".join(parts)
    if needs_landscape(header, rows, kinds):
        return f"\\begin{{landscape}}\n{text}\n\\end{{landscape}}"
    return text


def _cell(text: str, kind: str) -> str:
    return latex_breakable(text) if kind in "LR" else latex_escape(text)


def _one_table(header: list[str], rows: list[list[str]], kinds: list[str], caption: str) -> str:
    lines = [
        "\\begin{table}[H]\n\\centering\n\\scriptsize",
        f"\\begin{{tabularx}}{{\\linewidth}}{{{''.join(kinds)}}}",
        "\\toprule",
        " & ".join(_cell(h, k) for h, k in zip(header, kinds, strict=True)) + r" \\",
        "\\midrule",
        *(" & ".join(_cell(c, k) for c, k in zip(row, kinds, strict=True)) + r" \\" for row in rows),
        "\\bottomrule\n\\end{tabularx}",
        f"\\caption{{{latex_breakable(caption)}}}\n\\end{{table}}",
    ]
    return "\n".join(lines)


def latex_code(text: str) -> str:
    """Typewriter lines that keep their indentation and wrap where they are too long."""
    lines = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        lines.append(f"\\noindent\\hspace*{{{indent * 0.5}em}}{latex_breakable(line.strip())}\\par")
    body = "\n".join(lines)
    return f"{{\\scriptsize\\ttfamily\\raggedright\\setlength{{\\parskip}}{{0pt}}\n{body}\n}}"


def render_latex(blocks: list[tuple]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            command = {"h1": "section*", "h2": "subsection*", "h3": "subsubsection*"}[kind]
            out.append(f"\\{command}{{{latex_escape(rest[0])}}}")
        elif kind == "p":
            out.append(latex_breakable(rest[0]))
        elif kind == "list":
            items = "\n".join(f"\\item {latex_breakable(item)}" for item in rest[0])
            out.append(f"\\begin{{itemize}}\\small\n{items}\n\\end{{itemize}}")
        elif kind == "table":
            out.append(latex_table(*rest))
        elif kind == "code":
            out.append(latex_code(rest[0]))
    return PREAMBLE + "\n\n".join(out) + "\n\\end{document}\n"
