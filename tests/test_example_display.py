"""How an example is shown: picker labels and highlighted spans (pure text/HTML functions)."""

from spaneval.example_display import highlight_spans, short_label
from spaneval.tasks import qa_rows


def test_highlight_spans_escapes_and_splits_overlaps():
    out = highlight_spans("a <b>x</b> c", {"gold": [(2, 10)], "pred": [(0, 5)]}, qa_rows.QA_STYLES)
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert 'class="gold pred"' in out and 'class="pred"' in out and 'class="gold"' in out
    assert out.count("</span>") == 3  # "a " pred, "<b>" gold+pred, "x</b>" gold


def test_highlight_spans_places_markers_at_offsets():
    out = highlight_spans("ab", {}, {}, markers={1: "<sup>1</sup>"})
    assert out == "a<sup>1</sup>b"


def test_short_label():
    assert short_label(" Who\nwon? ", "q1") == "Who won? · q1"
    assert short_label("a " * 100, "r1", max_chars=10).endswith("… · r1")
    assert short_label("", "d1") == "d1"
