"""Readers (SQuAD JSON, MRQA jsonl) and the `score squad|squad_v2` entry point."""

from __future__ import annotations

import gzip
import json

import pytest

from spaneval.errors import DataError
from spaneval.tasks.qa_data import Answer, locate_answer, read_mrqa, read_squad
from spaneval.tasks.qa_score_files import score_squad_files

CONTEXT = "The Broncos beat the Panthers. The Broncos won in 2016."


def _squad(tmp_path, qas, context=CONTEXT, name="d.json", version="1.1"):
    data = {"version": version, "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _qa(qid="q1", text="Panthers", start=21, **extra):
    return {"id": qid, "question": "Who lost?", "answers": [{"text": text, "answer_start": start}], **extra}


def test_read_squad_valid(tmp_path):
    examples, warnings = read_squad(_squad(tmp_path, [_qa()]))
    assert warnings == []
    (ex,) = examples
    assert (ex.qid, ex.title, ex.question, ex.is_impossible) == ("q1", "T", "Who lost?", False)
    assert ex.answers == (Answer("Panthers", 21),)


def test_bad_offset_is_repaired_to_nearest_occurrence(tmp_path):
    examples, warnings = read_squad(_squad(tmp_path, [_qa(text="The Broncos", start=30)]))
    assert examples[0].answers == (Answer("The Broncos", 31),)  # nearer than 0
    assert len(warnings) == 1 and "d.json" in warnings[0] and "article T, question q1" in warnings[0]


def test_answer_not_in_context_raises_or_drops(tmp_path):
    path = _squad(tmp_path, [_qa(text="Seahawks", start=0), _qa(qid="q2")])
    with pytest.raises(DataError, match=r"d\.json, record article T, question q1: answer 'Seahawks'"):
        read_squad(path)
    examples, warnings = read_squad(path, strict=False)
    assert [ex.qid for ex in examples] == ["q2"]
    assert any("dropped" in w for w in warnings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ('{"data": [', "malformed JSON at line 1, column 11"),
        ('{"version": "1.1"}', "'data' list"),
        ('{"data": {"title": "x"}}', "'data' must be a list"),
        ('{"data": [{"title": "T"}]}', "missing field 'paragraphs'"),
    ],
)
def test_file_level_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_squad(path)
    assert "bad.json" in str(info.value)


def test_record_level_errors(tmp_path):
    with pytest.raises(DataError, match="empty context"):
        read_squad(_squad(tmp_path, [_qa()], context="   "))
    missing = _qa()
    del missing["question"]
    with pytest.raises(DataError, match="question q1: missing field 'question'"):
        read_squad(_squad(tmp_path, [missing]))
    with pytest.raises(DataError, match="duplicate question id"):
        read_squad(_squad(tmp_path, [_qa(), _qa()]))
    with pytest.raises(DataError, match="'answer_start' must be int"):
        read_squad(_squad(tmp_path, [_qa(start="21")]))
    with pytest.raises(DataError, match="has no answers"):
        read_squad(_squad(tmp_path, [{"id": "q", "question": "?", "answers": []}]))


def test_v2_unanswerable(tmp_path):
    qa = {"id": "q", "question": "Who?", "answers": [], "is_impossible": True}
    qa["plausible_answers"] = [{"text": "Broncos", "answer_start": 4}]
    examples, _ = read_squad(_squad(tmp_path, [qa], version="v2.0"))
    assert examples[0].is_impossible and examples[0].answers == ()


def test_locate_answer():
    assert locate_answer("a b a b", "a", 4) == 4
    assert locate_answer("a b a b", "a", 3) == 4  # nearest occurrence
    assert locate_answer("a b a b", "b", 4) == 2  # tie between 2 and 6: the earlier one
    assert locate_answer("a b", "c", 0) is None


def _mrqa(tmp_path, lines, gz=True):
    path = tmp_path / ("d.jsonl.gz" if gz else "d.jsonl")
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def test_read_mrqa(tmp_path):
    qa = {
        "qid": "m1",
        "question": "who won?",
        "answers": ["Broncos", "the Broncos team"],
        "detected_answers": [{"text": "Broncos", "char_spans": [[4, 10], [35, 41]], "token_spans": []}],
    }
    path = _mrqa(
        tmp_path, [{"header": {"dataset": "SQuAD", "split": "dev"}}, {"context": CONTEXT, "qas": [qa]}]
    )
    (ex,), warnings = read_mrqa(path)
    assert warnings == [] and ex.title == "SQuAD" and ex.qid == "m1"
    assert ex.answers == (Answer("Broncos", 4), Answer("Broncos", 35), Answer("the Broncos team", -1))
    assert ex.gold_texts == ("Broncos", "the Broncos team")


def test_mrqa_scores_against_answers_only_and_trains_on_detected_spans(tmp_path):
    """The official MRQA evaluation takes its gold from `answers`; a detected span's text that is
    not among them is a training label, not a correct answer."""
    from spaneval.tasks.qa_decode import QAPrediction
    from spaneval.tasks.qa_scoring import score_examples
    from spaneval.tasks.qa_windows import _answer_chars

    qa = {
        "qid": "m2",
        "question": "who won in 2016?",
        "answers": ["The Broncos"],
        "detected_answers": [{"text": "Broncos won", "char_spans": [[35, 45]]}],
    }
    path = _mrqa(tmp_path, [{"header": {"dataset": "NewsQA"}}, {"context": CONTEXT, "qas": [qa]}])
    (ex,), _ = read_mrqa(path)
    assert ex.gold_texts == ("The Broncos",)
    assert _answer_chars(ex) == (35, 46)  # the training label: the detected span
    pred = QAPrediction("m2", "Broncos won", "Broncos won", 35, 46, 1.0, None)
    scores = score_examples([ex], [pred], version_2=False, na_threshold=None)
    assert scores.metrics["exact_match"] == 0.0  # was 100 with the detected text as gold
    assert scores.metrics["f1"] == pytest.approx(100 * 2 / 3)
    assert scores.breakdowns["f1_by_answer_length"]["2"]["count"] == 1  # bucketed by "The Broncos"


def test_mrqa_answers_must_be_strings(tmp_path):
    qa = {"qid": "m", "question": "?", "answers": [], "detected_answers": [{"char_spans": [[4, 10]]}]}
    with pytest.raises(DataError, match="'answers' must be a non-empty list of strings"):
        read_mrqa(_mrqa(tmp_path, [{"header": {}}, {"context": CONTEXT, "qas": [qa]}]))


def test_read_mrqa_errors(tmp_path):
    with pytest.raises(DataError, match="first line must be the MRQA header"):
        read_mrqa(_mrqa(tmp_path, [{"context": CONTEXT, "qas": []}], gz=False))
    bad_span = {"qid": "m", "question": "?", "answers": [], "detected_answers": [{"char_spans": [[5, 999]]}]}
    with pytest.raises(DataError, match="char_span"):
        read_mrqa(_mrqa(tmp_path, [{"header": {}}, {"context": CONTEXT, "qas": [bad_span]}]))
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        read_mrqa(tmp_path / "e.jsonl")


def _gold_predictions(path):
    data = json.loads(path.read_text())["data"]
    qas = [q for a in data for p in a["paragraphs"] for q in p["qas"]]
    return {q["id"]: (q["answers"][0]["text"] if q["answers"] else "") for q in qas}


def test_score_squad_files_gold_is_100(bundled, tmp_path):
    data = bundled / "squad" / "dev-sample.json"
    (tmp_path / "p.json").write_text(json.dumps(_gold_predictions(data)))
    result = score_squad_files(data, tmp_path / "p.json")
    assert result["exact_match"] == 100.0 and result["f1"] == 100.0 and result["warnings"] == []
    assert result["analysis"]["boundary_errors"]["exact"]["count"] == 213


def test_score_squad_files_v2_with_na_probs(bundled, tmp_path):
    data = bundled / "squad" / "dev-v2-sample.json"
    preds = _gold_predictions(data)
    (tmp_path / "p.json").write_text(json.dumps(preds))
    (tmp_path / "na.json").write_text(json.dumps({q: 0.9 if t == "" else 0.2 for q, t in preds.items()}))
    result = score_squad_files(data, tmp_path / "p.json", tmp_path / "na.json", version_2=True)
    assert result["exact"] == 100.0 and result["NoAns_total"] == 114 and result["HasAns_total"] == 95
    assert result["best_f1"] == 100.0 and result["best_f1_thresh"] == 0.2


def test_score_squad_files_missing_predictions_score_zero(bundled, tmp_path):
    data = bundled / "squad" / "dev-sample.json"
    preds = _gold_predictions(data)
    first = next(iter(preds))
    del preds[first]
    (tmp_path / "p.json").write_text(json.dumps(preds))
    result = score_squad_files(data, tmp_path / "p.json")
    assert result["exact_match"] == pytest.approx(100.0 * 212 / 213)
    assert any("1 questions have no prediction" in w for w in result["warnings"])
    (tmp_path / "bad.json").write_text(json.dumps({first: 3}))
    with pytest.raises(DataError, match=f"question {first}: expected an answer string"):
        score_squad_files(data, tmp_path / "bad.json")
