"""The results loader: tidy tables, rejected and skipped files, predictions."""

from __future__ import annotations

import json
import warnings

import pytest

from spaneval import results_tables
from spaneval.errors import DataError
from spaneval.synthetic_runs import write_run
from tests.records import MODELS, SEEDS, TASKS, build_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def runs(results):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_tables.ResultsWarning)
        return results_tables.load_runs(results)


def test_loads_every_finished_run(runs):
    assert len(runs.records) == len(TASKS) * len(MODELS) * len(SEEDS)
    assert all("_dir" in r for r in runs.records)


def test_corrupt_and_unknown_schema_files_are_named_in_warnings(results):
    with pytest.warns(results_tables.ResultsWarning) as caught:
        runs = results_tables.load_runs(results)
    messages = [str(w.message) for w in caught]
    assert any("s9-corrupt/record.json" in m and "corrupt" in m for m in messages)
    assert any("s8-future/record.json" in m and "schema_version 99" in m for m in messages)
    assert len(runs.problems) == 2  # the unfinished run (no record.json) is ignored silently
    assert not any("unfinished" in str(p) for p in runs.problems)


def test_strict_mode_raises_with_file_and_reason(results):
    with pytest.raises(DataError, match=r"schema_version 99 is not supported"):
        results_tables.load_runs(results, strict=True)


def test_missing_fields_are_corrupt(tmp_path):
    run = tmp_path / "squad" / "bert" / "x"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps({"schema_version": 1, "run_id": "x"}))
    with pytest.warns(results_tables.ResultsWarning, match="task is missing"):
        runs = results_tables.load_runs(tmp_path)
    assert runs.empty and "task" in runs.problems[0].problem


def test_missing_directory_has_no_runs(tmp_path):
    runs = results_tables.load_runs(tmp_path / "nothing-here")
    assert runs.empty and not runs.problems
    assert results_tables.metrics_table(runs).empty


def test_metrics_table_is_tidy(runs):
    table = results_tables.metrics_table(runs)
    assert list(table.columns) == list(results_tables.METRIC_COLUMNS)
    assert not table.duplicated(["run_id", "metric"]).any()
    n_metrics = sum(len(r["metrics"]) for r in runs.records)
    assert len(table) == n_metrics
    assert (table.groupby("run_id")["is_main"].sum() == 1).all()
    assert set(table["model"]) == set(MODELS)


def test_config_key_ignores_seed_but_not_hyperparameters():
    base = {"preset": "paper", "train": {"learning_rate": 2e-5, "seed": 1}}
    assert results_tables.config_key(base) == results_tables.config_key(
        base | {"train": {"learning_rate": 2e-5, "seed": 2}}
    )
    assert results_tables.config_key(base) != results_tables.config_key(
        base | {"train": {"learning_rate": 3e-5}}
    )


def test_breakdowns_and_runs_tables(runs):
    breakdowns = results_tables.breakdowns_table(runs)
    assert {"table", "bucket", "metric", "value", "count"} <= set(breakdowns.columns)
    assert "f1_by_answer_length" in set(breakdowns["table"])
    table = results_tables.runs_table(runs)
    assert len(table) == len(runs.records)
    assert table["main_score"].notna().all()


def test_load_predictions_and_bad_line(tmp_path):
    run_dir = write_run(tmp_path, "tacred", "bert", 1, n_examples=5)
    record = results_tables.read_record(run_dir / "record.json")
    assert [r["id"] for r in results_tables.load_predictions(record)] == [f"r{i}" for i in range(5)]
    with (run_dir / "predictions.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(DataError, match="line 6"):
        results_tables.load_predictions(record)


def test_find_record_unknown_id(runs):
    with pytest.raises(DataError, match="no finished run"):
        results_tables.find_record(runs, "nope")


def test_signature_changes_when_a_run_is_added(tmp_path):
    assert results_tables.signature(tmp_path / "missing") == ()
    write_run(tmp_path, "squad", "bert", 1, n_examples=2)
    before = results_tables.signature(tmp_path)
    write_run(tmp_path, "squad", "bert", 2, n_examples=2)
    assert len(results_tables.signature(tmp_path)) == len(before) + 1


def test_dashboard_load_bench_runs(capsys):
    from spaneval.bench import dashboard_load

    result = dashboard_load.main(["--runs", "12", "--repeats", "1", "--no-app"])
    assert result["runs"] == 12 and result["load_s"] > 0 and result["leaderboard_rows"] >= 2
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bench"] == "dashboard-load"
