"""The `coref` task: data sources, presets, scoring and breakdowns, and one end-to-end CLI run."""

from __future__ import annotations

import json
import shutil

import pytest

from spaneval.errors import HubUnavailableError, SpanevalError
from spaneval.tasks.coref import BUNDLED_DIR, COREF, CorefConfig, local_files, score_predictions
from spaneval.tasks.coref_data import read_conll
from spaneval.tasks.coref_score_files import score_conll_files

SAWYER = BUNDLED_DIR / "74_the_adventures_of_tom_sawyer_brat.conll"
ANNE = BUNDLED_DIR / "45_anne_of_green_gables_brat.conll"


def test_bundled_sample_is_credited_and_loads():
    assert "CC BY 4.0" in (BUNDLED_DIR / "SOURCE.md").read_text()
    train = COREF.load("bundled", "train", CorefConfig())
    evaluation = COREF.load("bundled", "eval", CorefConfig())
    assert [d.name for d in train.examples] == ["74_the_adventures_of_tom_sawyer_brat"]
    assert [d.name for d in evaluation.examples] == ["45_anne_of_green_gables_brat"]
    assert train.fingerprint.startswith("sha256:") and train.path != evaluation.path


def test_dropping_singletons_for_ontonotes_practice():
    with_singletons = COREF.load("bundled", "eval", CorefConfig()).examples[0]
    without = COREF.load("bundled", "eval", CorefConfig(singletons=False)).examples[0]
    assert any(len(c) == 1 for c in with_singletons.clusters)
    assert all(len(c) > 1 for c in without.clusters)
    assert len(without.clusters) == sum(len(c) > 1 for c in with_singletons.clusters)


def test_litbank_folds(shared_data, monkeypatch):
    monkeypatch.setenv("SPANEVAL_LITBANK", str(shared_data / "coref" / "litbank"))
    cfg = CorefConfig(fold=2, eval_split="test")
    train, test = COREF.load("litbank", "train", cfg), COREF.load("litbank", "eval", cfg)
    assert (len(train.examples), len(test.examples)) == (80, 10)
    assert not {d.name for d in train.examples} & {d.name for d in test.examples}
    assert len(COREF.load("litbank", "eval", CorefConfig(fold=2)).examples) == 10


def test_local_files_directory_split_names_and_lists(tmp_path):
    shutil.copy(SAWYER, tmp_path / "train.english.v4_gold_conll")
    shutil.copy(ANNE, tmp_path / "dev.english.v4_gold_conll")
    assert [p.name for p in local_files(str(tmp_path), "train")] == ["train.english.v4_gold_conll"]
    assert [p.name for p in local_files(str(tmp_path), "dev")] == ["dev.english.v4_gold_conll"]
    assert len(local_files(f"{SAWYER},{ANNE}", "train")) == 2
    split = COREF.load(str(tmp_path), "eval", CorefConfig())
    assert [d.name for d in split.examples] == ["45_anne_of_green_gables_brat"]
    with pytest.raises(SpanevalError, match="no data source"):
        local_files(str(tmp_path / "missing"), "train")


def test_ontonotes_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match="--data DIR"):
        COREF.load("ontonotes", "train", CorefConfig())


def test_presets_are_valid_configs():
    from spaneval.runner import build_configs

    for name in COREF.presets:
        configs = build_configs(COREF, None if name == "default" else name, {})
        assert configs["task"].max_span_width == 30
    base = build_configs(COREF, "spanbert-base", {"fold": "3"})
    assert (base["train"].learning_rate, base["task"].task_learning_rate) == (2e-5, 1e-4)
    assert (base["task"].max_segment_len, base["task"].fold, base["train"].batch_size) == (384, 3, 1)
    large = build_configs(COREF, "spanbert-large", {})
    assert (large["train"].learning_rate, large["task"].task_learning_rate) == (1e-5, 3e-4)


def test_perfect_predictions_score_100_with_breakdowns():
    docs = read_conll(ANNE)
    scores = score_predictions(docs, [list(d.clusters) for d in docs])
    assert scores.metrics["conll_f1"] == pytest.approx(100.0)
    assert scores.metrics["mentions_f1"] == pytest.approx(100.0)
    lengths = scores.breakdowns["mentions_by_length"]
    assert list(lengths) == ["1", "2", "3-4", "5+"]
    assert sum(b["count"] for b in lengths.values()) == sum(len(c) for c in docs[0].clusters)
    kinds = scores.breakdowns["mentions_by_type"]
    assert set(kinds) == {"pronoun", "proper", "nominal"} and kinds["pronoun"]["count"] > 50
    assert all(b["recall"] == 100.0 for b in scores.breakdowns["links_by_sentence_distance"].values())
    (row,) = scores.per_example
    assert row["counts"]["muc"][0] == row["counts"]["muc"][1]


def test_end_to_end_cli_run_on_bundled_sample(tmp_path, monkeypatch):
    """`spaneval run coref --model tiny --data bundled` offline on CPU, then rescoring its files."""
    from spaneval.cli import main
    from spaneval.tasks.registry import TASKS

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "coref" not in TASKS:  # until the lead registers the task
        monkeypatch.setitem(TASKS, "coref", COREF)
    argv = ["run", "coref", "--model", "tiny", "--data", "bundled", "--preset", "smoke"]
    assert main([*argv, "--output", str(tmp_path), "max_steps=2"]) == 0
    (run_dir,) = (tmp_path / "coref" / "tiny").iterdir()
    record = json.loads((run_dir / "record.json").read_text())
    assert record["main_metric"] == "conll_f1" and record["config"]["task"]["fold"] == 0
    assert set(record["breakdowns"]) == {
        "mentions_by_length",
        "mentions_by_type",
        "links_by_sentence_distance",
    }
    rescored = score_conll_files(str(run_dir / "key.conll"), str(run_dir / "predictions.conll"))
    assert rescored["conll_f1"] == pytest.approx(record["metrics"]["conll_f1"], abs=1e-6)
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert rows[0]["id"] == "45_anne_of_green_gables_brat/part0" and "counts" in rows[0]
