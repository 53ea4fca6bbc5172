"""The prediction rows of the coreference task: how they are shown (and named) in the example browser."""

from __future__ import annotations

from spaneval.tasks import coref_rows


def test_mention_errors_and_coref_html():
    gold = [[[0, 0], [3, 3]], [[5, 6], [8, 8]]]
    predicted = [[[0, 0], [5, 6]], [[9, 9], [3, 3]]]
    errors = coref_rows.mention_errors(gold, predicted)
    assert errors[(8, 8)] == "missed" and errors[(9, 9)] == "spurious"
    assert errors[(0, 0)] == "wrong link" and errors[(5, 6)] == "wrong link"
    row = {
        "sentences": [["<i>He</i>", "said", "*so*", "."], ["x"] * 6],
        "gold_clusters": gold,
        "predicted_clusters": predicted,
    }
    out = coref_rows.example_html(row)
    assert "&lt;i&gt;He&lt;/i&gt;" in out and "<i>He" not in out and "missed" in out and "<br>" in out


def test_label_and_right():
    assert coref_rows.label({"id": "d1", "sentences": [["It", "was"]], "doc_id": None}) == "It was · d1"
    gold = [[[0, 0], [3, 3]]]
    assert coref_rows.is_right({"gold_clusters": gold, "predicted_clusters": [[[3, 3], [0, 0]]]})
    assert not coref_rows.is_right({"gold_clusters": gold, "predicted_clusters": []})
