"""Relation metrics against the official scorers: SemEval-2010 Task 8 (perl v1.2) and TACRED."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spaneval.errors import DataError
from spaneval.metrics import relation as m
from spaneval.tasks.relation_data import read_semeval_answers
from spaneval.tasks.relation_score_files import score_semeval_files

SCORER_DIR = Path("relation/semeval2010-task8/SemEval2010_task8_scorer-v1.2")
CASES = [("proposed_answer1.txt", "answer_key1.txt", "result_scores1.txt"),
         ("proposed_answer2.txt", "answer_key2.txt", "result_scores2.txt"),
         ("proposed_answer3.txt", "answer_key3.txt", "result_scores3.txt"),
         ("proposed_answer5.txt", "answer_key5.txt", "result_scores5.txt")]  # fmt: skip
SECTION_MODES = ("directed_19", "undirected_10", "directed_10")
_NUM = r"\s*([\d.]+)%"


def _parse_section(text: str) -> dict:
    """The figures one evaluation section of result_scores*.txt prints."""
    out = {}
    out["coverage"] = float(re.search(r"Coverage = \d+/\d+ =" + _NUM, text).group(1))
    acc = re.findall(r"Accuracy \((.*?)\) = \d+/\d+ =" + _NUM, text)
    names = {
        "calculated for the above confusion matrix": "accuracy",
        "considering all skipped examples as Wrong": "accuracy_skipped_as_wrong",
        "considering all skipped examples as Other": "accuracy_skipped_as_other",
    }
    out |= {names[k]: float(v) for k, v in acc}
    micro = re.search(r"Micro-averaged.*?\nP =.*?=" + _NUM + r"\s+R =.*?=" + _NUM + r"\s+F1 =" + _NUM, text)
    out |= dict(zip(("micro_precision", "micro_recall", "micro_f1"), map(float, micro.groups()), strict=True))
    macro = re.search(r"MACRO-averaged.*?\nP =" + _NUM + r"\s+R =" + _NUM + r"\s+F1 =" + _NUM, text)
    out |= dict(zip(("macro_precision", "macro_recall", "macro_f1"), map(float, macro.groups()), strict=True))
    rows = re.findall(r"^\s*(\S+) :\s+P =.*?=" + _NUM + r"\s+R =.*?=" + _NUM + r"\s+F1 =" + _NUM, text, re.M)
    out["per_relation"] = {name.replace("_Other", "Other"): tuple(map(float, v)) for name, *v in rows}
    return out


def _parse_result_file(path: Path) -> dict:
    text = path.read_text()
    sections = re.split(r"<<< .*?>>>:", text)[1:]
    assert len(sections) == 3
    official = float(re.search(r"macro-averaged F1 =" + _NUM, text).group(1))
    warnings = re.findall(r"!!!WARNING!!! (.*)", text)
    return {"sections": dict(zip(SECTION_MODES, map(_parse_section, sections), strict=True)),
            "official": official, "warnings": warnings}  # fmt: skip


def _r2(x: float) -> float:
    return float(f"{x:.2f}")


@pytest.mark.parametrize(("proposed", "key", "expected"), CASES)
def test_semeval_matches_official_scorer_examples(shared_data, proposed, key, expected):
    d = shared_data / SCORER_DIR
    result = score_semeval_files(str(d / key), str(d / proposed))
    want = _parse_result_file(d / expected)
    assert _r2(result["official_macro_f1"]) == want["official"]
    assert result["warnings"] == want["warnings"]
    for mode, section in want["sections"].items():
        got = result["evaluations"][mode]
        for name, value in section.items():
            if name == "per_relation":
                continue
            assert _r2(got[name]) == value, (expected, mode, name)
        got_rows = {
            rel: (_r2(r["precision"]), _r2(r["recall"]), _r2(r["f1"]))
            for rel, r in got["per_relation"].items()
        }
        assert got_rows == section["per_relation"]


def test_semeval_counts_wrong_direction_in_official_precision():
    key = {"1": "Cause-Effect(e1,e2)", "2": "Cause-Effect(e1,e2)", "3": "Other"}
    proposed = {"1": "Cause-Effect(e2,e1)", "2": "Cause-Effect(e1,e2)", "3": "Other"}
    official = m.semeval_score(key, proposed)["evaluations"]["directed_10"]
    row = official["per_relation"]["Cause-Effect"]
    assert (row["correct"], row["guessed"], row["actual"]) == (1, 2, 2)
    assert official["wrong_direction"] == 1
    undirected = m.semeval_score(key, proposed)["evaluations"]["undirected_10"]
    assert undirected["per_relation"]["Cause-Effect"]["correct"] == 2


def test_semeval_answer_file_format_errors_are_reported(shared_data):
    bad = shared_data / SCORER_DIR / "proposed_answer4.txt"  # the format checker's example: 4 errors
    with pytest.raises(
        DataError, match=r"proposed_answer4.txt, record line 2: unknown relation 'Message-Topc"
    ):
        read_semeval_answers(bad)


def test_semeval_undirected_key_is_refused(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("8001\tMessage-Topic\n")
    with pytest.raises(DataError, match="need a direction"):
        read_semeval_answers(key)


def test_semeval_prediction_for_unknown_id_is_an_error(tmp_path):
    key, pred = tmp_path / "key.txt", tmp_path / "pred.txt"
    key.write_text("1\tOther\n")
    pred.write_text("1\tOther\n2\tOther\n")
    with pytest.raises(DataError, match=r"pred\.txt, record 2: id not in the key"):
        score_semeval_files(str(key), str(pred))


# --- TACRED -----------------------------------------------------------------------------------


def test_tacred_micro_scores_by_hand():
    gold = ["per:title", "per:title", "no_relation", "org:founded", "no_relation"]
    pred = ["per:title", "no_relation", "per:age", "org:members", "no_relation"]
    # correct 1; guessed: per:title, per:age, org:members = 3; gold positives 3
    s = m.tacred_score(gold, pred)
    assert s["precision"] == pytest.approx(100 / 3)
    assert s["recall"] == pytest.approx(100 / 3)
    assert s["f1"] == pytest.approx(100 / 3)
    assert s["per_relation"]["per:title"]["recall"] == 50.0
    assert s["per_relation"]["per:age"]["precision"] == 0.0
    assert s["per_relation"]["org:founded"]["precision"] == 100.0  # never guessed: the scorer's 1.0
    assert s["confusion"]["per:title"] == {"no_relation": 1, "per:title": 1}


def test_tacred_nothing_predicted_follows_the_scorer():
    s = m.tacred_score(["per:title", "no_relation"], ["no_relation", "no_relation"])
    assert (s["precision"], s["recall"], s["f1"]) == (100.0, 0.0, 0.0)
    s = m.tacred_score(["no_relation"], ["no_relation"])
    assert (s["precision"], s["recall"], s["f1"]) == (100.0, 0.0, 0.0)


labels = st.sampled_from(["no_relation", "per:title", "org:founded", "per:age"])


@given(st.lists(st.tuples(labels, labels), max_size=40))
def test_tacred_aggregate_of_per_example_counts_equals_score(pairs):
    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    micro = m.tacred_aggregate(m.tacred_example_counts(g, p) for g, p in pairs)
    s = m.tacred_score(gold, pred)
    assert 100 * micro["f1"] == pytest.approx(s["f1"])
    per = s["per_relation"]
    assert sum(r["correct"] for r in per.values()) == sum(g == p != "no_relation" for g, p in pairs)


def test_distance_buckets_and_breakdown():
    assert [m.distance_bucket(d) for d in (0, 2, 3, 10, 11, 21)] == [
        "0",
        "1-2",
        "3-5",
        "6-10",
        "11-20",
        "21+",
    ]
    rows = [
        {"gold": "a", "predicted": "a", "d": 0},
        {"gold": "a", "predicted": "none", "d": 0},
        {"gold": "none", "predicted": "a", "d": 5},
    ]
    table = m.micro_f1_breakdown(rows, lambda r: m.distance_bucket(r["d"]), negative="none")
    assert table["0"] == {"precision": 100.0, "recall": 50.0, "f1": pytest.approx(200 / 3), "count": 2}
    assert table["3-5"]["precision"] == 0.0
    rows = [{"gold": "a", "predicted": "a", "d": d} for d in (30, 12, 4, 1)]
    assert list(m.micro_f1_breakdown(rows, lambda r: m.distance_bucket(r["d"]), "none")) == [
        "1-2",
        "3-5",
        "11-20",
        "21+",
    ]
