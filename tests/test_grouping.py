"""Which runs are seeds of one experiment, distinct seeds, and the names a user sees."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from spaneval import names, results_tables, seed_tables
from spaneval.synthetic_runs import write_run


def _edit(run_dir: Path, change) -> Path:
    path = run_dir / "record.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    return run_dir


def _lowercased(record: dict) -> None:
    record["model"]["tokenizer"]["do_lower_case"] = True
    record["run_id"] += "-lower"  # write_run's ids depend on task, model and seed only


def _load(root: Path) -> tuple[results_tables.Runs, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", results_tables.ResultsWarning)
        runs = results_tables.load_runs(root)
    return runs, [str(w.message) for w in caught]


def _main_summary(runs: results_tables.Runs):
    summary = seed_tables.seed_summary(results_tables.metrics_table(runs))
    return summary[summary["is_main"]].set_index("label")


def test_cased_and_lowercased_runs_of_one_seed_are_two_groups(tmp_path):
    write_run(tmp_path, "squad", "spanbert", 1)
    _edit(write_run(tmp_path / "lower", "squad", "spanbert", 1), _lowercased)
    runs, messages = _load(tmp_path)
    summary = _main_summary(runs)
    assert messages == []
    assert sorted(summary.index) == ["spanbert [cased]", "spanbert [lowercased]"]
    assert summary["n"].tolist() == [1, 1]
    assert summary["std"].isna().all()  # one seed each: no "± 0.0 (n=2)"


def test_a_copied_run_directory_counts_once(tmp_path):
    for seed in (1, 2):
        original = write_run(tmp_path, "squad", "bert", seed)
    shutil.copytree(original, tmp_path / "copies" / original.name)
    runs, messages = _load(tmp_path)
    summary = _main_summary(runs)
    assert summary.loc["bert", "n"] == 2 and summary.loc["bert", "seeds"] == (1, 2)
    assert len(runs.records) == 2
    assert any("a copy of run" in m for m in messages)
    assert any("copies" in p.path or "copies" in p.problem for p in runs.problems)


def test_the_same_seed_run_twice_keeps_the_newer_and_warns(tmp_path):
    older = _edit(write_run(tmp_path / "a", "squad", "bert", 1), lambda r: r.update(started_at="2026-01-01"))
    newer = write_run(tmp_path / "b", "squad", "bert", 1)
    _edit(newer, lambda r: r.update(run_id=r["run_id"] + "x", started_at="2026-02-01"))
    runs, messages = _load(tmp_path)
    assert [r["_dir"] for r in runs.records] == [str(newer)]
    assert len(messages) == 1 and "seed 1 was run again" in messages[0] and str(older) in messages[0]
    assert _main_summary(runs).loc["bert", "n"] == 1


def test_different_data_or_config_is_another_group_not_another_seed(tmp_path):
    write_run(tmp_path, "squad", "bert", 1)
    _edit(
        write_run(tmp_path / "d", "squad", "bert", 2),
        lambda r: r["data"]["eval"].update(fingerprint="sha256:" + "ab" * 32),
    )
    _edit(
        write_run(tmp_path / "c", "squad", "bert", 3),
        lambda r: r["config"]["train"].update(learning_rate=3e-5),
    )
    runs, _ = _load(tmp_path)
    summary = _main_summary(runs)
    assert len(summary) == 3 and summary["n"].tolist() == [1, 1, 1]
    labels = " ".join(summary.index)
    assert "data abab" in labels and "config " in labels


def test_seeds_of_one_group_pool(tmp_path):
    for seed in (1, 2, 3):
        write_run(tmp_path, "squad", "bert", seed)
    summary = _main_summary(_load(tmp_path)[0])
    assert summary.loc["bert", "n"] == 3 and summary.loc["bert", "seeds"] == (1, 2, 3)


def test_name_label_is_the_display_name_and_joins_the_group(tmp_path):
    for seed in (1, 2):
        _edit(write_run(tmp_path, "squad", "bert", seed), lambda r: r.update(name="BERT (ours)"))
    runs, _ = _load(tmp_path)
    assert _main_summary(runs).loc["BERT (ours)", "n"] == 2


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"name": "spanbert"}, "spanbert"),
        ({"name": "/tmp/minilm", "path": "/nonexistent"}, "minilm"),
        ({"name": "quickstart/models/bert-1seq/model", "card_name": None}, "bert-1seq/model"),
        ({"name": "runs/x/model", "card_name": "spanbert (tiny preset)"}, "spanbert (tiny preset)"),
    ],
)
def test_display_name_rule(model, expected):
    assert names.display_name({"model": model}) == expected
    assert names.display_name({"model": model, "name": " mine "}) == "mine"


def test_model_card_of_a_pretrained_folder(tmp_path):
    (tmp_path / "README.md").write_text(
        "---\nlibrary_name: transformers\n---\n# bert-1seq (tiny preset), pretrained with spaneval\n"
    )
    (tmp_path / "pretraining.json").write_text(json.dumps({"objective": "bert-1seq"}))
    fields = names.model_card_fields(tmp_path)
    assert fields == {"card_name": "bert-1seq (tiny preset)", "objective": "bert-1seq"}
    # an old record without a stored card name reads the card from the folder if it is still there
    assert names.display_name({"model": {"name": str(tmp_path / "model"), "path": str(tmp_path)}}) == (
        "bert-1seq (tiny preset)"
    )
    assert names.model_card_fields(tmp_path / "missing") == {"card_name": None, "objective": None}


def test_default_pair_is_spanbert_like_against_bert_like():
    models = [("all-MiniLM-L6-v2", None), ("m1", "bert-nsp"), ("mine", "spanbert-nosbo"), ("x", None)]
    assert names.default_pair(models) == (2, 1)
    assert names.default_pair([("bert", None), ("SpanBERT-base", None)]) == (1, 0)
    assert names.default_pair([("a", None), ("b", None)]) == (0, 1)
    assert names.default_pair([("a", None)]) is None
    assert names.model_family("roberta") is None and names.model_family("bert-large") == "bert"


def test_run_name_option_reaches_the_request(monkeypatch):
    from spaneval import cli, runner

    seen = []
    monkeypatch.setattr(runner, "run_task", lambda req: seen.append(req))
    assert cli.main(["run", "squad", "--model", "tiny", "--seeds", "1,2", "--name", "tiny (ours)"]) == 0
    assert [(r.name, r.seed) for r in seen] == [("tiny (ours)", 1), ("tiny (ours)", 2)]
