"""SQuAD v1.1 / v2.0 metrics: hand-computed cases, and agreement with a transcription of the
official scripts' logic on the real dev sets."""

from __future__ import annotations

import collections
import json
import re
import string

import pytest

from spaneval.metrics import squad


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Denver Broncos!", "denver broncos"),
        ("  an   apple, a pear ", "apple pear"),
        ("theory", "theory"),  # articles only as whole words
        ("A.B.C.", "abc"),
        ("Ça va—bien", "ça va—bien"),  # only ASCII punctuation is removed
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert squad.normalize_answer(text) == expected


def test_exact_and_f1_hand_computed():
    assert squad.exact_match("Denver Broncos", "the denver broncos.") == 1
    # gold {denver, broncos}, pred {broncos, team}: P = R = 1/2 -> F1 = 0.5
    assert squad.f1_v1("Denver Broncos", "Broncos team") == pytest.approx(0.5)
    # gold 3 tokens, pred 1 shared token: P = 1, R = 1/3 -> F1 = 0.5
    assert squad.f1_v2("Santa Clara California", "California") == pytest.approx(0.5)
    # repeated tokens count with multiplicity: gold [a1, a1, b], pred [a1]: P=1, R=1/3
    assert squad.f1_v1("x x y", "x") == pytest.approx(0.5)


def test_v1_and_v2_differ_on_empty_strings():
    assert squad.f1_v1("", "") == 0.0  # v1.1: no common token -> 0
    assert squad.f1_v2("", "") == 1.0  # v2.0: both empty -> 1
    assert squad.f1_v2("the", "") == 1.0  # "the" normalises to empty
    assert squad.score_v2([], "") == (1, 1.0)  # unanswerable, abstained
    assert squad.score_v2([], "France") == (0, 0.0)
    assert squad.score_v2(["a", "France"], "France") == (1, 1.0)  # "a" is dropped as empty gold


def test_score_max_over_golds():
    exact, f1 = squad.score_v1(["Denver Broncos", "Broncos"], "the Broncos")
    assert (exact, f1) == (1, 1.0)
    exact, f1 = squad.score_v1(["Denver Broncos", "Carolina"], "Broncos")
    assert exact == 0 and f1 == pytest.approx(2 / 3)


def test_aggregate_v1():
    rows = [
        {"exact": 1, "f1": 1.0},
        {"exact": 0, "f1": 0.5},
        {"exact": 0, "f1": 0.0},
        {"exact": 1, "f1": 1.0},
    ]
    assert squad.aggregate_v1(rows) == {"exact_match": 50.0, "f1": 62.5}


def _row(has_answer, exact, f1, na_prob, pred_empty=False):
    return {"has_answer": has_answer, "exact": exact, "f1": f1, "na_prob": na_prob, "pred_empty": pred_empty}


def test_find_best_thresh_hand_computed():
    rows = [
        _row(True, 1, 1.0, 0.1),  # answerable, right
        _row(False, 0, 0.0, 0.2),  # unanswerable, answered wrongly
        _row(True, 0, 0.5, 0.3),  # answerable, half right
        _row(False, 0, 0.0, 0.9),  # unanswerable, answered wrongly
    ]
    # start: all abstain -> 2 right. sweep: +1 (3, best @0.1), -1 (2), +0 / +0.5 (2 / 2.5), -1.
    assert squad.find_best_thresh(rows, "exact") == (75.0, 0.1)
    assert squad.find_best_thresh(rows, "f1") == (75.0, 0.1)
    out = squad.aggregate_v2(rows, best_thresh=True)
    assert out["total"] == 4 and out["HasAns_total"] == 2 and out["NoAns_total"] == 2
    assert out["exact"] == 25.0 and out["f1"] == pytest.approx(37.5)
    assert out["best_f1_thresh"] == 0.1


def test_na_prob_threshold_switches_to_no_answer():
    rows = [_row(True, 1, 1.0, 0.95), _row(False, 0, 0.0, 0.99)]
    assert squad.aggregate_v2(rows, na_prob_thresh=0.9)["exact"] == 50.0  # first -> wrong, second -> right
    assert squad.aggregate_v2(rows)["exact"] == 50.0  # default threshold 1.0 switches nothing


# A transcription of the official scripts' structure (evaluate-v1.1.py and evaluate-v2.0.py),
# written independently of spaneval.metrics.squad, used as the oracle below.
def _norm(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _oracle_f1(gold_toks, pred_toks, v2):
    if v2 and (not gold_toks or not pred_toks):
        return int(gold_toks == pred_toks)
    same = sum((collections.Counter(gold_toks) & collections.Counter(pred_toks)).values())
    if same == 0:
        return 0
    p, r = same / len(pred_toks), same / len(gold_toks)
    return 2 * p * r / (p + r)


def _oracle_v1(dataset, preds):
    em = f1 = total = 0
    for qa in (q for a in dataset for p in a["paragraphs"] for q in p["qas"]):
        total += 1
        golds = [x["text"] for x in qa["answers"]]
        pred = preds[qa["id"]]
        em += max(_norm(pred) == _norm(g) for g in golds)
        f1 += max(_oracle_f1(_norm(g).split(), _norm(pred).split(), False) for g in golds)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def _oracle_v2(dataset, preds, na_probs):
    has_ans, exact, f1 = {}, {}, {}
    for qa in (q for a in dataset for p in a["paragraphs"] for q in p["qas"]):
        has_ans[qa["id"]] = bool(qa["answers"])
        golds = [x["text"] for x in qa["answers"] if _norm(x["text"])] or [""]
        pred = preds[qa["id"]]
        exact[qa["id"]] = max(int(_norm(g) == _norm(pred)) for g in golds)
        f1[qa["id"]] = max(_oracle_f1(_norm(g).split(), _norm(pred).split(), True) for g in golds)
    out = {"exact": 100.0 * sum(exact.values()) / len(exact), "f1": 100.0 * sum(f1.values()) / len(f1)}
    for key, raw in (("exact", exact), ("f1", f1)):
        cur = best = sum(1 for k in has_ans if not has_ans[k])
        thresh = 0.0
        for qid in sorted(na_probs, key=lambda k: na_probs[k]):
            cur += raw[qid] if has_ans[qid] else (-1 if preds[qid] else 0)
            if cur > best:
                best, thresh = cur, na_probs[qid]
        out[f"best_{key}"], out[f"best_{key}_thresh"] = 100.0 * best / len(raw), thresh
    return out


def _perturbed_predictions(dataset):
    """Deterministic mix: exact gold, first word only, gold plus context noise, empty."""
    preds, na = {}, {}
    for i, qa in enumerate(q for a in dataset for p in a["paragraphs"] for q in p["qas"]):
        gold = qa["answers"][0]["text"] if qa["answers"] else "the answer"
        preds[qa["id"]] = [gold, gold.split()[0] if gold.split() else "", gold + " of the", ""][i % 4]
        na[qa["id"]] = (i * 7919 % 1000) / 1000
    return preds, na


def _rows(dataset, preds, na, v2):
    score = squad.score_v2 if v2 else squad.score_v1
    rows = []
    for qa in (q for a in dataset for p in a["paragraphs"] for q in p["qas"]):
        exact, f1 = score([x["text"] for x in qa["answers"]], preds[qa["id"]])
        rows.append(
            {
                "exact": exact,
                "f1": f1,
                "has_answer": bool(qa["answers"]),
                "na_prob": na[qa["id"]],
                "pred_empty": preds[qa["id"]] == "",
            }
        )
    return rows


def test_matches_official_logic_on_dev_v11(shared_data):
    dataset = json.loads((shared_data / "squad" / "dev-v1.1.json").read_text())["data"]
    preds, na = _perturbed_predictions(dataset)
    ours = squad.aggregate_v1(_rows(dataset, preds, na, v2=False))
    expected = _oracle_v1(dataset, preds)
    assert ours == pytest.approx(expected, abs=1e-9)
    perfect = {q["id"]: q["answers"][0]["text"] for a in dataset for p in a["paragraphs"] for q in p["qas"]}
    assert squad.aggregate_v1(_rows(dataset, perfect, na, v2=False)) == {"exact_match": 100.0, "f1": 100.0}


def test_matches_official_logic_on_dev_v20(shared_data):
    dataset = json.loads((shared_data / "squad" / "dev-v2.0.json").read_text())["data"]
    preds, na = _perturbed_predictions(dataset)
    ours = squad.aggregate_v2(_rows(dataset, preds, na, v2=True), best_thresh=True)
    expected = _oracle_v2(dataset, preds, na)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
    assert ours["total"] == 11873 and ours["HasAns_total"] == 5928 and ours["NoAns_total"] == 5945
