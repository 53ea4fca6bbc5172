"""The prediction rows of the QA tasks: how they are shown (and named) in the example browser."""

from __future__ import annotations

from spaneval.tasks import qa_rows


def test_every_gold_answer_is_placed_and_numbered():
    row = {
        "context": "the Denver Broncos won in Denver",
        "gold": [
            {"text": "Denver Broncos", "start": 4},
            {"text": "the Denver Broncos", "start": 0},
            {"text": "Denver Broncos", "start": 4},  # a second annotator: counted once
            {"text": "Denver", "start": -1},  # no offset: placed at its first occurrence
            {"text": "Boston", "start": 3},  # not in the context
        ],
        "prediction": "Denver",
        "start_char": 26,
        "end_char": 32,
    }
    assert qa_rows.gold_spans(row) == [
        ("Denver Broncos", (4, 18)),
        ("the Denver Broncos", (0, 18)),
        ("Denver", (4, 10)),
        ("Boston", None),
    ]
    out = qa_rows.example_html(row)
    assert out.count("<sup style='color:#2ca02c'>") == 3 and "(not in the context)" in out


def test_prediction_span_handles_inclusive_end():
    row = {"context": "hello world", "prediction": "world", "start_char": 6, "end_char": 10}
    assert qa_rows.prediction_span(row) == (6, 11)
    assert qa_rows.prediction_span(row | {"end_char": 11}) == (6, 11)
    assert qa_rows.prediction_span(row | {"prediction": ""}) is None


def test_label_and_right():
    assert qa_rows.label({"id": "q1", "question": " Who\nwon? "}) == "Who won? · q1"
    assert qa_rows.is_right({"exact": 1.0}) and not qa_rows.is_right({"exact": 0.0})
