"""The prediction rows of the relation tasks: how they are shown (and named) in the example browser."""

from __future__ import annotations

from spaneval.tasks import relation_rows


def test_relation_html_marks_entities_and_escapes():
    row = {
        "tokens": ["<b>Ann</b>", "founded", "Acme"],
        "subj": [0, 0],
        "obj": [2, 2],
        "subj_type": "PERSON",
        "obj_type": "ORG",
        "gold": "org:founded_by",
        "predicted": "no_relation",
    }
    out = relation_rows.example_html(row)
    assert "&lt;b&gt;Ann" in out and "subj:PERSON" in out and "obj:ORG" in out and "wrong" in out
    assert "not recorded" in relation_rows.example_html({"gold": "a", "predicted": "a"})


def test_label_and_right():
    assert relation_rows.label({"id": "r1", "tokens": ["a"] * 100}).endswith("… · r1")
    assert relation_rows.is_right({"gold": "x", "predicted": "x"})
