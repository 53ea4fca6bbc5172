"""Hub QA data: row conversion (with a stand-in for datasets.load_dataset) and the offline failure."""

import sys
import time
import types

import pytest

from spaneval import hub
from spaneval.cli import main
from spaneval.tasks.qa_hub import load_hub_split


class FakeDataset(list):
    _fingerprint = "abc123"

    def filter(self, keep):
        return FakeDataset(r for r in self if keep(r))


def install_fake_datasets(monkeypatch, rows):
    calls = []

    def load_dataset(repo, split, revision):
        calls.append((repo, split, revision))
        return FakeDataset(rows)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr("spaneval.tasks.qa_hub.hub_offline", lambda: True)  # skip the reachability probe
    return calls


def test_squad_rows_become_validated_examples(monkeypatch):
    ctx = "Denver Broncos won Super Bowl 50."
    rows = [
        {
            "id": "q1",
            "title": "SB",
            "context": ctx,
            "question": "Who won?",
            "answers": {"text": ["Denver Broncos", "Broncos"], "answer_start": [0, 99]},
        },
        {
            "id": "q2",
            "title": "SB",
            "context": ctx,
            "question": "Unanswerable?",
            "answers": {"text": [], "answer_start": []},
        },
    ]
    calls = install_fake_datasets(monkeypatch, rows)
    examples, fingerprint = load_hub_split("rajpurkar/squad_v2", "sha1", "validation", None)
    assert calls == [("rajpurkar/squad_v2", "validation", "sha1")]
    assert fingerprint == "hub:rajpurkar/squad_v2@sha1:validation:abc123"
    q1, q2 = examples
    assert [(a.text, a.start) for a in q1.answers] == [
        ("Denver Broncos", 0),
        ("Broncos", 7),
    ]  # offset repaired
    assert q2.is_impossible and not q2.answers


def test_mrqa_rows_take_detected_spans_of_the_chosen_subset(monkeypatch):
    ctx = "The treaty was signed in Paris in 1783."
    rows = [
        {
            "qid": "m1",
            "subset": "NewsQA",
            "context": ctx,
            "question": "Where?",
            "answers": ["in Paris"],
            "detected_answers": {"text": ["Paris"], "char_spans": [{"start": [25], "end": [29]}]},
        },
        {
            "qid": "m2",
            "subset": "SearchQA",
            "context": ctx,
            "question": "When?",
            "answers": ["1783"],
            "detected_answers": {"text": ["1783"], "char_spans": [{"start": [34], "end": [37]}]},
        },
    ]
    install_fake_datasets(monkeypatch, rows)
    [ex], _ = load_hub_split("mrqa-workshop/mrqa", None, "validation", "NewsQA")
    assert ex.qid == "m1" and [(a.text, a.start) for a in ex.answers] == [("Paris", 25)]
    assert ex.gold_texts == ("in Paris",)  # scored as the official MRQA evaluation: `answers` only


def test_hub_data_offline_fails_fast_with_a_way_out(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    hub._reachable.clear()
    t0 = time.perf_counter()
    assert main(["run", "squad", "--model", "tiny", "--data", "hub", "--output", str(tmp_path)]) == 2
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert "rajpurkar/squad" in err and "--data bundled" in err


@pytest.fixture(autouse=True)
def _fresh_probe():
    hub._reachable.clear()
    yield
    hub._reachable.clear()
