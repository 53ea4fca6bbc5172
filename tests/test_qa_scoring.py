"""tasks/qa_scoring.py: decoded predictions scored into the official SQuAD metrics and per-question rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from spaneval.tasks.qa_data import read_squad
from spaneval.tasks.qa_decode import QAPrediction
from spaneval.tasks.qa_scoring import score_examples

SQUAD = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "squad"


def _prediction(example, text: str, null_score_diff: float | None = None) -> QAPrediction:
    start = example.context.find(text) if text else -1
    end = start + len(text) if start >= 0 else -1
    return QAPrediction(example.qid, text, text, start, end, 1.0, null_score_diff)


def test_gold_predictions_score_100_and_rows_carry_what_the_browser_shows():
    examples, _ = read_squad(SQUAD / "dev-sample.json")
    examples = examples[:10]
    predictions = [_prediction(ex, ex.gold_texts[0]) for ex in examples]
    scores = score_examples(examples, predictions, version_2=False, na_threshold=None)
    assert scores.metrics == {"exact_match": pytest.approx(100.0), "f1": pytest.approx(100.0)}
    row = scores.per_example[0]
    assert row["id"] == examples[0].qid and row["exact"] == 1.0 and row["question"] == examples[0].question
    assert row["context"][row["start_char"] : row["end_char"]] == row["prediction"]


def test_a_missing_prediction_scores_zero():
    examples, _ = read_squad(SQUAD / "dev-sample.json")
    examples = examples[:4]
    predictions = [_prediction(ex, ex.gold_texts[0]) for ex in examples[1:]]
    scores = score_examples(examples, predictions, version_2=False, na_threshold=None)
    assert scores.per_example[0]["prediction"] == "" and scores.per_example[0]["f1"] == 0.0
    assert scores.metrics["exact_match"] == pytest.approx(75.0)


def test_v2_null_answer_wins_above_the_threshold():
    examples, _ = read_squad(SQUAD / "dev-v2-sample.json")
    impossible = next(ex for ex in examples if ex.is_impossible)
    answerable = next(ex for ex in examples if not ex.is_impossible)
    predictions = [
        _prediction(impossible, impossible.context.split()[0], null_score_diff=2.0),
        _prediction(answerable, answerable.gold_texts[0], null_score_diff=-2.0),
    ]
    scores = score_examples([impossible, answerable], predictions, version_2=True, na_threshold=0.0)
    rows = {r["id"]: r for r in scores.per_example}
    assert rows[impossible.qid]["prediction"] == "" and rows[impossible.qid]["exact"] == 1
    assert rows[answerable.qid]["exact"] == 1
    assert scores.metrics["na_threshold_applied"] == 0.0
