"""Reproducibility reports in Markdown, LaTeX and HTML."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings

import pytest

from spaneval import report as report_mod
from spaneval import resultsdb
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
        warnings.simplefilter("ignore", resultsdb.ResultsWarning)
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
    (tmp_path / "report.tex").write_text(rendered["latex"])
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "report.pdf").stat().st_size > 0


def test_html_is_self_contained_with_charts(rendered):
    text = rendered["html"]
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
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
        warnings.simplefilter("ignore", resultsdb.ResultsWarning)
        code = cli_main(["report", "--results", str(results), "--format", "html", "--output", str(out)])
    assert code == 0 and out.read_text().startswith("<!DOCTYPE html>")
