"""Span-level QA analysis: buckets, question words, boundary categories."""

from __future__ import annotations

import pytest

from spaneval.metrics.qa_analysis import (
    AnalysisItem,
    analysis_items,
    analyze,
    answer_length_bucket,
    boundary_category,
    locate_prediction,
    question_word,
    span_relation,
)
from spaneval.tasks.qa_data import Answer, QAExample


@pytest.mark.parametrize(
    ("golds", "bucket"),
    [
        (["Denver"], "1"),
        (["the Denver Broncos", "Broncos team"], "2"),  # shortest gold answer decides
        (["a b c"], "3-4"),
        (["a b c d e f g"], "5-7"),
        (["a b c d e f g h"], "8+"),
        ([], "no_answer"),
    ],
)
def test_answer_length_bucket(golds, bucket):
    assert answer_length_bucket(golds) == bucket


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("What is it?", "what"),
        ("In what year did it end?", "what"),
        ("How many people?", "how"),
        ("Name the team which won, and who lost.", "which"),
        ("Whatever happened?", "other"),
        ("The capital is?", "other"),
    ],
)
def test_question_word(question, word):
    assert question_word(question) == word


@pytest.mark.parametrize(
    ("pred", "gold", "category"),
    [
        ((4, 10), (4, 10), "exact"),
        ((2, 10), (4, 10), "start_off"),
        ((4, 12), (4, 10), "end_off"),
        ((5, 8), (4, 10), "prediction_inside_gold"),
        ((2, 12), (4, 10), "gold_inside_prediction"),
        ((2, 8), (4, 10), "both_off_overlapping"),
        ((10, 14), (4, 10), "disjoint"),  # touching is not overlapping (exclusive ends)
    ],
)
def test_span_relation(pred, gold, category):
    assert span_relation(pred, gold) == category


def _item(pred_text, pred_span, gold_spans=((4, 11),), has_answer=True):
    golds = ("Broncos",) * len(gold_spans) if has_answer else ()
    return AnalysisItem(
        "Who won?", golds, gold_spans if has_answer else (), has_answer, pred_text, pred_span, 0, 0
    )


def test_boundary_category_v2_and_best_gold():
    assert boundary_category(_item("", None, has_answer=False)) == "correct_no_answer"
    assert boundary_category(_item("x", (0, 1), has_answer=False)) == "false_answer"
    assert boundary_category(_item("", None)) == "false_no_answer"
    assert boundary_category(_item("zz", None)) == "unlocated"
    # the gold span with the largest overlap is the reference
    assert boundary_category(_item("Broncos", (30, 37), gold_spans=((4, 11), (30, 37)))) == "exact"


def test_locate_prediction_nearest_gold():
    context = "Broncos x Broncos y Broncos"
    assert locate_prediction(context, "Broncos", [(10, 17)]) == (10, 17)
    assert locate_prediction(context, "Broncos", [(19, 26)]) == (20, 27)
    assert locate_prediction(context, "Seahawks", [(0, 7)]) is None
    assert locate_prediction(context, "", [(0, 7)]) is None


def test_analyze_tables():
    context = "The Denver Broncos beat the Carolina Panthers."
    examples = [
        QAExample("q1", "T", context, "Who won?", (Answer("Denver Broncos", 4),), False),
        QAExample("q2", "T", context, "Which team lost?", (Answer("Carolina Panthers", 28),), False),
        QAExample("q3", "T", context, "When?", (), True),
    ]
    predictions = {"q1": "Broncos", "q2": "Carolina Panthers", "q3": "Panthers"}
    scores = {"q1": (0, 2 / 3), "q2": (1, 1.0), "q3": (0, 0.0)}
    tables = analyze(analysis_items(examples, predictions, scores))
    assert tables["f1_by_answer_length"]["2"] == {"exact": 50.0, "f1": pytest.approx(100 * 5 / 6), "count": 2}
    assert tables["f1_by_answer_length"]["no_answer"]["count"] == 1
    assert set(tables["f1_by_question_word"]) == {"who", "which", "when"}
    boundary = tables["boundary_errors"]
    assert boundary["start_off"]["count"] == 1 and boundary["exact"]["count"] == 1
    assert boundary["false_answer"] == {"count": 1, "percent": pytest.approx(100 / 3)}
