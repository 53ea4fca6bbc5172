"""Coreference metrics against the reference scorer v8.01 test suite, plus small properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaneval.metrics.coref import (
    aggregate,
    blanc_rpf,
    bucket_table,
    document_counts,
    length_bucket,
    link_distance_counts,
    mention_bucket_counts,
    mention_ids,
    mention_type,
    score_documents,
    sum_counts,
)
from spaneval.tasks.coref_data import read_conll
from spaneval.tasks.coref_score_files import pair_documents

TOL = 1e-4


def _cases(shared_data):
    root = shared_data / "coref" / "scorer-conformance"
    return root, json.loads((root / "expected.json").read_text())["cases"]


def _score_case(root, case):
    key, response = read_conll(root / case["key"]), read_conll(root / case["response"])
    pairs = pair_documents(key, response, case["key"], case["response"])
    return score_documents((k.clusters, r.clusters) for k, r in pairs)


def test_conformance_all_36_cases(shared_data):
    """Every value of expected.json: the reference test suite's, and reference scorer v8.01
    output where the suite leaves [1, 1, 1] placeholders (B1, C1, D1, E1)."""
    root, cases = _cases(shared_data)
    assert len(cases) == 36
    assert sum("lea" in c["expected"] for c in cases) == 34
    checked = 0
    for case in cases:
        scores = _score_case(root, case)
        for metric, expected in case["expected"].items():
            for field in ("recall", "precision", "f1"):
                where = f"{case['id']} {metric} {field}"
                assert scores[metric][field] == pytest.approx(expected[field], abs=TOL), where
                checked += 1
    assert checked == 3 * sum(len(c["expected"]) for c in cases)


def test_perfect_response_scores_one():
    key = [[(0, 1), (4, 4)], [(6, 7), (9, 9), (11, 12)], [(14, 14)]]
    scores = score_documents([(key, key)])
    for metric in ("muc", "bcub", "ceafm", "ceafe", "blanc", "lea", "mentions"):
        assert scores[metric]["f1"] == pytest.approx(1.0), metric
    assert scores["conll_f1"] == pytest.approx(1.0)


def test_repeated_response_mention_is_dropped_like_the_scorer():
    key = [[(0, 0), (2, 2)]]
    response = [[(0, 0), (2, 2)], [(2, 2), (5, 5)]]
    key_chains, response_chains, mentions = mention_ids(key, response)
    assert key_chains == [[0, 1]]
    assert response_chains == [[0, 1], [2]]
    assert mentions == [2, 2, 2, 3]


def test_counts_sum_over_documents_equals_corpus_score():
    doc_a = ([[(0, 0), (2, 2)]], [[(0, 0)], [(2, 2)]])
    doc_b = ([[(1, 1), (3, 3), (5, 5)]], [[(1, 1), (3, 3), (5, 5)]])
    total = sum_counts([document_counts(*doc_a), document_counts(*doc_b)])
    assert aggregate(total) == score_documents([doc_a, doc_b])
    assert total["muc"] == [2, 3, 2, 2]


def test_blanc_edge_cases():
    assert blanc_rpf([0, 0, 0, 0, 0, 0, 0, 0]) == {"recall": 0.0, "precision": 0.0, "f1": 0.0}
    only_non_coref = blanc_rpf([0, 0, 0, 1, 3, 3, 3, 6])
    assert only_non_coref == {"recall": 1.0, "precision": 0.5, "f1": pytest.approx(2 / 3)}


def test_empty_response():
    scores = score_documents([([[(0, 0), (1, 1)]], [])])
    assert scores["muc"] == {"recall": 0.0, "precision": 0.0, "f1": 0.0}
    assert scores["conll_f1"] == 0.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=6), max_size=6), st.data())
def test_blanc_counting_shortcut_equals_link_sets(key_ids, data):
    from spaneval.metrics.coref import _blanc_counts_from_sets, blanc_counts

    seen: set[int] = set()
    key = [[m for m in c if not (m in seen or seen.add(m))] for c in key_ids]
    key = [c for c in key if c]
    pool = sorted({m for c in key for m in c} | set(range(40, 45)))
    chosen = data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    labels = data.draw(st.lists(st.integers(0, 3), min_size=len(chosen), max_size=len(chosen)))
    response = [[m for m, lab in zip(chosen, labels, strict=True) if lab == c] for c in range(4)]
    response = [c for c in response if c]
    assert blanc_counts(key, response) == pytest.approx(_blanc_counts_from_sets(key, response))


def test_breakdown_buckets_and_types():
    assert [length_bucket(n) for n in (1, 2, 3, 4, 5, 9)] == ["1", "2", "3-4", "3-4", "5+", "5+"]
    assert mention_type(["She"]) == "pronoun"
    assert mention_type(["Sir", "Walter", "Elliot"]) == "proper"
    assert mention_type(["the", "old", "mill"]) == "nominal"
    assert mention_type(["Walter"], ["NNP"]) == "proper"
    assert mention_type(["it"], ["PRP"]) == "pronoun"
    assert mention_type(["The", "Times"], ["DT", "NN"]) == "nominal"


def test_link_distance_counts_recall_and_precision():
    sentence_of = [0, 0, 1, 1, 2, 5, 5]
    key = [[(0, 0), (2, 2), (5, 5)]]
    response = [[(0, 0), (2, 2)], [(5, 5), (6, 6)]]
    counts = link_distance_counts(key, response, sentence_of)
    # key anaphors: (2,2) at distance 1 resolved; (5,5) at distance 4 (from sentence 1) not resolved
    # response anaphors: (2,2) correct at distance 1; (6,6) at distance 0 wrong
    assert counts == {"1": [1, 1, 1, 1], "2-4": [0, 1, 0, 0], "0": [0, 0, 0, 1]}
    table = bucket_table(counts, ("0", "1", "2-4", "5+"))
    assert list(table) == ["0", "1", "2-4"] and table["1"]["f1"] == 100.0


def test_mention_bucket_counts():
    key = [[(0, 0), (2, 4)]]
    response = [[(0, 0), (2, 3)]]
    counts = mention_bucket_counts(key, response, lambda m: length_bucket(m[1] - m[0] + 1))
    assert counts == {"1": [1, 1, 1, 1], "3-4": [0, 1, 0, 0], "2": [0, 0, 0, 1]}
