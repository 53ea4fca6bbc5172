"""Held-out SQuAD files are built in code, by whole articles, and never overlap their training file."""

from __future__ import annotations

import json

import pytest

from spaneval.derived_data import question_count, split_articles, without_articles_of
from spaneval.errors import SpanevalError


def _squad(path, titles):
    articles = [
        {
            "title": t,
            "paragraphs": [
                {"context": f"{t} text.", "qas": [{"id": f"{t}-q", "question": "?", "answers": []}]}
            ],
        }
        for t in titles
    ]
    path.write_text(json.dumps({"version": "1.1", "data": articles}))
    return path


def _titles(path):
    return [a["title"] for a in json.loads(path.read_text())["data"]]


def test_without_articles_of_keeps_order_and_schema(tmp_path):
    dev = _squad(tmp_path / "dev.json", ["A", "B", "C", "D"])
    train = _squad(tmp_path / "train.json", ["B", "D"])
    out = without_articles_of(dev, train, tmp_path / "rest.json")
    assert _titles(out) == ["A", "C"]
    assert json.loads(out.read_text())["version"] == "1.1"
    assert question_count(out) == 2


def test_without_articles_of_refuses_a_useless_exclusion(tmp_path):
    dev = _squad(tmp_path / "dev.json", ["A", "B"])
    with pytest.raises(SpanevalError, match="none of its article titles"):
        without_articles_of(dev, _squad(tmp_path / "x.json", ["Z"]), tmp_path / "o.json")
    with pytest.raises(SpanevalError, match="nothing is left"):
        without_articles_of(dev, dev, tmp_path / "o.json")


def test_split_articles(tmp_path):
    dev = _squad(tmp_path / "dev.json", ["A", "B", "C"])
    first = split_articles(dev, 1, "first", tmp_path / "f.json")
    rest = split_articles(dev, 1, "rest", tmp_path / "r.json")
    assert (_titles(first), _titles(rest)) == (["A"], ["B", "C"])
    with pytest.raises(SpanevalError, match="has 3 articles"):
        split_articles(dev, 3, "first", tmp_path / "f.json")


def test_bad_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(SpanevalError, match=r"bad\.json"):
        question_count(bad)


def test_real_v11_heldout_is_disjoint(shared_data, tmp_path):
    squad = shared_data / "squad"
    train = squad / "train-from-v1.1-dev-extra-articles.json"
    out = without_articles_of(squad / "dev-v1.1.json", train, tmp_path / "heldout.json")
    assert not set(_titles(out)) & set(_titles(train))
    assert len(_titles(out)) == 35
    assert question_count(out) + question_count(train) == 10570
