"""Reproducibility reports in Markdown, LaTeX and HTML."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings

import pytest

from spaneval import report as report_mod
from spaneval import results_tables
from spaneval.cli import main as cli_main
from spaneval.errors import SpanevalError
from tests.records import build_results

INJECTED = "<script>alert(1)</script> | *bold* \\textbf{x} & 100% $x_1$"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = build_results(tmp_path_factory.mktemp("results"))
    # data-set text and config values may hold markup: it must come out as text in every format
    record_path = next(root.glob("squad/spanbert/*/record.json"))
    record = json.loads(record_path.read_text())
    record["config"]["task"]["note"] = INJECTED
    record["command"] = f"python -m spaneval run squad {INJECTED}"
    record_path.write_text(json.dumps(record))
    return root


@pytest.fixture(scope="module")
def rendered(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_tables.ResultsWarning)
        return {
            fmt: report_mod.report(results, fmt, out / f"report.{fmt}").read_text()
            for fmt in report_mod.FORMATS
        }


def test_markdown_has_gfm_tables_and_all_sections(rendered):
    text = rendered["md"]
    for heading in ("## Main results", "## Significance", "## Span-level breakdowns", "## Appendix"):
        assert heading in text
    main = text.split("## Main results")[1].split("###")[0]
    lines = [line for line in main.splitlines() if line.startswith("|")]
    assert lines[1] == "|---|---|---|---|---|"  # model, kind, three tasks
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert re.search(r"\| spanbert \| measured \| \d+\.\d ± \d+\.\d \(n=3\)", text)
    assert "| published |" in text and "Joshi et al. (2020), TACL, Table 1" in text


def test_markdown_escapes_data(rendered):
    text = re.sub(r"```json\n.*?\n```", "", rendered["md"], flags=re.S)  # code blocks show text as is
    assert "<script>" not in text
    assert "&lt;script&gt;" in text and "\\*bold\\*" in text and "\\| \\*bold" in text


def test_significance_rows_per_seed(rendered):
    text = rendered["md"].split("## Significance")[1].split("## Span-level")[0]
    rows = [line for line in text.splitlines() if line.startswith("| squad |")]
    assert len(rows) == 3  # seeds 1, 2, 3 of spanbert vs bert
    assert all(
        re.search(r"\| 0\.\d{3} \|$|\| 1\.000 \|$|\| <0\.001 \|$", r.replace("\\<", "<")) for r in rows
    )


def test_appendix_has_everything_to_reproduce(rendered):
    appendix = rendered["md"].split("## Appendix")[1]
    for needle in (
        "python -m spaneval run squad --model bert --seed 1",
        "sha256:",
        "git\\_commit",
        "transformers 5.24.0",
        "hub\\_id",
        "wall\\_s",
        "gpu\\_hours",
        '"learning_rate"',
    ):
        assert needle in appendix


def test_latex_uses_booktabs_and_escapes(rendered):
    text = rendered["latex"]
    assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
    assert "\\usepackage{booktabs}" in text
    assert text.count("\\toprule") == text.count("\\bottomrule") == text.count("\\midrule") > 3
    assert "$\\pm$" in text and "\\hline" not in text
    table_part = re.sub(r"\\begin\{verbatim\}.*?\\end\{verbatim\}", "", text, flags=re.S)
    assert "\\textbackslash{}textbf" in table_part and "100\\%" in table_part and "\\&" in table_part


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base)")
def test_latex_compiles(rendered, tmp_path):
    _compile(rendered["latex"], tmp_path)
    assert (tmp_path / "report.pdf").stat().st_size > 0


def test_html_is_self_contained_with_charts(rendered):
    text = rendered["html"]
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    breakdown_headings = [
        line
        for line in rendered["md"].splitlines()
        if line.startswith(("### coref", "### squad", "### tacred"))
    ]
    assert text.count("<figure><svg") == len(breakdown_headings) > 3  # a chart per breakdown and matrix
    assert ">percent</text>" in text  # the y axis has a title
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script" not in text and "&lt;script&gt;" in text


def test_empty_results_say_how_to_produce_them(tmp_path):
    for fmt in report_mod.FORMATS:
        text = report_mod.report(tmp_path, fmt, tmp_path / f"r.{fmt}").read_text()
        assert "spaneval run squad" in text


def test_unknown_format(tmp_path):
    with pytest.raises(SpanevalError, match="unknown report format"):
        report_mod.report(tmp_path, "docx", tmp_path / "r.docx")


def test_cli_report(results, tmp_path):
    out = tmp_path / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_tables.ResultsWarning)
        code = cli_main(["report", "--results", str(results), "--format", "html", "--output", str(out)])
    assert code == 0 and out.read_text().startswith("<!DOCTYPE html>")


# --- the LaTeX report fits the page ------------------------------------------------------------

LONG_PATH = "/home/someone/experiments/" + "a-long-nested-directory-name/" * 5 + "model"
OVERFULL = re.compile(r"Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)")


@pytest.fixture(scope="module")
def wide_results(tmp_path_factory):
    """Runs with what made tables run off the page: a long local model path without a model card,
    long data paths and commands, a 19-label confusion matrix (SemEval) and several models."""
    from spaneval.synthetic_runs import write_run

    root = build_results(tmp_path_factory.mktemp("wide"), tasks=("squad", "semeval2010"), bad_files=False)
    for seed in (1, 2):
        record_path = write_run(root, "squad", "local", seed) / "record.json"
        record = json.loads(record_path.read_text())
        record["model"] |= {"name": LONG_PATH, "path": LONG_PATH, "hub_id": None, "card_name": None}
        record["data"]["eval"]["path"] = LONG_PATH + "/dev-v1.1.json"
        record["command"] = f"python -m spaneval run squad --model {LONG_PATH} --seed {seed} " + "x=1 " * 30
        record_path.write_text(json.dumps(record))
    semeval_path = next(root.glob("semeval2010/spanbert/*/record.json"))
    record = json.loads(semeval_path.read_text())
    record["breakdowns"]["confusion_matrix"] = {
        g: {p: 100 + i if g == p else i for i, p in enumerate(SEMEVAL_LABELS)} for g in SEMEVAL_LABELS
    }
    semeval_path.write_text(json.dumps(record))
    return root


RELATIONS = ("Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination", "Entity-Origin")
RELATIONS += ("Instrument-Agency", "Member-Collection", "Message-Topic", "Product-Producer")
SEMEVAL_LABELS = [f"{r}({a},{b})" for r in RELATIONS for a, b in (("e1", "e2"), ("e2", "e1"))] + ["Other"]


def _compile(tex: str, folder) -> str:
    (folder / "report.tex").write_text(tex)
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    return (folder / "report.log").read_text(errors="replace")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base)")
def test_latex_report_fits_the_page(wide_results, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_tables.ResultsWarning)
        tex = report_mod.report(wide_results, "latex", tmp_path / "report.tex").read_text()
    log = _compile(tex, tmp_path)
    boxes = [float(points) for points in OVERFULL.findall(log)]
    assert max(boxes, default=0.0) <= 10.0, f"overfull boxes (pt): {sorted(boxes)[-5:]}"
    assert "\\begin{table}[H]" in tex and "[ht]" not in tex  # tables stay under their headings
    assert "gold \\textbackslash{} predicted" in tex  # the confusion matrix is there as a table
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (poppler-utils): rendered-page check skipped")
    _assert_right_margins_blank(tmp_path)


def _assert_right_margins_blank(folder) -> None:
    """Render every page and check that the right margin (the outer 1.5 cm of the 2 cm margin) has
    no ink: nothing runs off the text block."""
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", "report.pdf", "page"], cwd=folder, check=True)
    pages = sorted(folder.glob("page*.png"))
    assert pages
    for page in pages:
        image = Image.open(page).convert("L")
        width, height = image.size
        page_cm = 21.0 if width < height else 29.7
        strip = image.crop((int(width * (1 - 1.5 / page_cm)), 0, width, height))
        assert strip.getextrema()[0] > 200, f"{page.name}: ink in the right margin"


def test_chart_specs_follow_the_chart_rules():
    import pandas as pd

    from spaneval import charts

    frame = pd.DataFrame({"bucket": list("baba"), "model": list("xxyy"), "value": [3, 1, 4, 2]})
    chart = charts.grouped_bars(frame, "bucket", "model", "value", ["b", "a"], "t", "count", True)
    spec = chart.to_dict()
    y = spec["encoding"]["y"]
    assert y["axis"]["format"] == "d" and y["axis"]["title"] == "count"
    assert y["scale"] == {"zero": True, "nice": True}  # fitted to the data, not a fixed 0-100
    assert spec["encoding"]["x"]["sort"] == ["b", "a"]  # the task's order, not alphabetical
    legend = spec["encoding"]["color"]["legend"]
    assert legend["labelLimit"] == 0 and legend["orient"] == "bottom"
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg") and ">count</text>" in svg
