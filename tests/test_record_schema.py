"""The run record schema: the writer stamps and checks it, the reader skips records that do not fit
(naming file and field) and reads only files inside the run directory; version-1 records still load.

tests/schema_v1_records/ holds records written by spaneval before the schema was in code (schema
version 1): tiny-model runs of squad, squad_v2, coref and semeval2010 on the bundled samples.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from spaneval import results_tables
from spaneval.errors import DataError, SpanevalError
from spaneval.record_schema import SCHEMA_VERSION, build_record, record_problems
from spaneval.run_writer import write_record
from tests.records import build_results

V1_RECORDS = sorted((Path(__file__).parent / "schema_v1_records").glob("*.json"))


def _fields(**changes) -> dict:
    fields = {
        "run_id": "20261202T000000-s1-abcdef",
        "task": "squad",
        "main_metric": "f1",
        "model": {"name": "tiny", "display_name": None},
        "seed": 1,
        "metrics": {"f1": 50.0, "exact_match": float("nan")},
        "training": {"steps": 3, "losses": [1.0, float("inf"), 0.5], "final_loss": 0.5},
        "peak_rss_mb": None,
    }
    return fields | changes


def test_build_record_stamps_the_version_and_writes_non_finite_numbers_as_null():
    record = build_record(**_fields())
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["metrics"]["exact_match"] is None and record["training"]["losses"] == [1.0, None, 0.5]
    json.dumps(record, allow_nan=False)  # valid JSON


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"breakdowns": []}, "breakdowns is a list, expected an object"),
        ({"model": "tiny"}, "model is a string, expected an object"),
        ({"seed": "1"}, "seed is a string, expected an integer"),
        ({"metrics": {"f1": "high"}}, "metrics.f1 is a string, expected a number or null"),
        ({"training": {"losses": [0.1] * 5000 + ["x"]}}, "training.losses[5000] is a string"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(change, problem):
    assert problem in "; ".join(record_problems({"schema_version": 2, **_fields(**change)}))
    with pytest.raises(TypeError, match="does not fit the schema"):
        build_record(**_fields(**change))


@pytest.mark.parametrize("change", [{"training": {"steps": 0}}, {"metrics": {"f1": float("nan")}}])
def test_a_record_that_means_nothing_is_never_written(tmp_path, change):
    with pytest.raises(SpanevalError, match="not writing a run record"):
        write_record(tmp_path, _fields(**change), [])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("path", V1_RECORDS, ids=lambda p: p.stem)
def test_version_1_records_still_load(tmp_path, path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(path, run / "record.json")
    record = results_tables.read_record(run / "record.json")
    assert record["schema_version"] == 1 and record_problems(record) == []
    assert not results_tables.metrics_table(results_tables.load_runs(tmp_path)).empty


def _plant(root: Path, name: str, record) -> Path:
    run = root / "squad" / "bert" / name
    run.mkdir(parents=True)
    (run / "record.json").write_text(record if isinstance(record, str) else json.dumps(record))
    return run


@pytest.mark.parametrize(
    "name, change, problem",
    [
        ("list-breakdowns", {"breakdowns": [1, 2]}, "breakdowns is a list"),
        ("string-model", {"model": "bert"}, "model is a string"),
    ],
)
def test_records_of_the_wrong_shape_are_skipped_with_a_warning_naming_them(tmp_path, name, change, problem):
    build_results(tmp_path, tasks=("squad",), models=("bert",), seeds=(1,), bad_files=False)
    bad = {"schema_version": 1, **_fields(run_id=name), **change}
    _plant(tmp_path, name, bad)
    with pytest.warns(
        results_tables.ResultsWarning, match=rf"{name}/record.json, record {name}: .*{problem}"
    ):
        runs = results_tables.load_runs(tmp_path)
    assert len(runs.records) == 1  # the good run still loads
    results_tables.metrics_table(runs), results_tables.breakdowns_table(runs), results_tables.runs_table(runs)


def test_a_deeply_nested_record_is_skipped_not_a_crash(tmp_path):
    _plant(tmp_path, "deep", "[" * 100_000 + "]" * 100_000)
    with pytest.warns(results_tables.ResultsWarning, match="nested too deeply"):
        assert results_tables.load_runs(tmp_path).empty


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "link.jsonl"])
def test_files_named_by_a_record_are_read_only_inside_its_run_directory(tmp_path, name):
    run = _plant(
        tmp_path / "results", "escape", {**build_record(**_fields(run_id="escape")), "predictions_file": name}
    )
    (tmp_path / "secret.jsonl").write_text('{"id": "secret"}\n')
    (run / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    [record] = results_tables.load_runs(tmp_path / "results").records
    with pytest.raises(DataError, match="outside the run directory"):
        results_tables.load_predictions(record)


def test_nan_figures_are_written_as_null(tmp_path):
    path = write_record(tmp_path, _fields(), [{"id": "q1", "score": -math.inf}])
    assert json.loads(path.read_text())["metrics"]["exact_match"] is None
    assert json.loads((tmp_path / "predictions.jsonl").read_text())["score"] is None
