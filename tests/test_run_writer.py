"""spaneval/run_writer.py: run directories, and a record written last, only for a finished run."""

from __future__ import annotations

import os

import pytest

from spaneval import results_tables
from spaneval.errors import SpanevalError
from spaneval.run_writer import model_slug, new_run_dir, write_record


def _fields(**changes) -> dict:
    fields = {
        "run_id": "20261202T000000-s1-abcdef",
        "task": "squad",
        "main_metric": "f1",
        "model": {"name": "tiny"},
        "seed": 1,
        "metrics": {"f1": 50.0},
        "training": {"steps": 3},
    }
    return fields | changes


def test_model_slug_is_directory_safe():
    assert model_slug("SpanBERT/spanbert-base-cased") == "SpanBERT-spanbert-base-cased"
    assert model_slug(f"{os.sep}models{os.sep}runs{os.sep}my model") == "runs-my-model"
    assert model_slug("../..") == "model"


def test_new_run_dir_never_reuses_a_directory(tmp_path):
    dirs = {new_run_dir(tmp_path, "squad", "tiny", 1) for _ in range(5)}
    assert len(dirs) == 5 and all(d.is_dir() and d.parent == tmp_path / "squad" / "tiny" for d in dirs)


def test_record_is_written_after_the_predictions_and_reads_back(tmp_path):
    path = write_record(tmp_path, _fields(), [{"id": "q1", "exact": 1.0, "f1": 1.0}])
    record = results_tables.read_record(path)
    assert record["metrics"]["f1"] == 50.0
    assert results_tables.load_predictions(record) == [{"id": "q1", "exact": 1.0, "f1": 1.0}]


@pytest.mark.parametrize(
    "change", [{"training": {"steps": 0}}, {"metrics": {"exact_match": 10.0}}], ids=["no-steps", "no-main"]
)
def test_a_run_without_a_result_writes_nothing(tmp_path, change):
    with pytest.raises(SpanevalError, match="did not produce a result"):
        write_record(tmp_path, _fields(**change), [{"id": "q1"}])
    assert list(tmp_path.iterdir()) == []
