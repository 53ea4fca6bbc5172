"""Archiving runs keeps every row and score the reports use, in a fraction of the space."""

from __future__ import annotations

import json

import pytest

from spaneval.cli import main
from spaneval.errors import SpanevalError
from spaneval.results_tables import load_predictions, load_runs, metrics_table
from tests.records import build_results


def _with_long_nbest(root):
    for path in root.glob("squad/**/predictions.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            row["nbest"] = [{"text": f"candidate {i}", "score": -i} for i in range(20)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_archive_keeps_scores_and_rows(tmp_path, capsys):
    root = build_results(tmp_path / "results", tasks=("squad", "coref"), seeds=(1, 2), bad_files=False)
    _with_long_nbest(root)
    before = load_runs(root)
    rows_before = {r["run_id"]: load_predictions(r) for r in before.records}
    assert main(["archive", str(root), "--nbest", "3"]) == 0
    assert "predictions.jsonl.gz" in capsys.readouterr().out
    after = load_runs(root)
    assert not after.problems
    assert metrics_table(after).equals(metrics_table(before))
    for record in after.records:
        assert record["predictions_file"] == "predictions.jsonl.gz"
        assert not (tmp_path / record["_dir"] / "predictions.jsonl").exists()
        rows = load_predictions(record)
        old = rows_before[record["run_id"]]
        assert [r["id"] for r in rows] == [r["id"] for r in old]
        for new_row, old_row in zip(rows, old, strict=True):
            assert {k: v for k, v in new_row.items() if k != "nbest"} == {
                k: v for k, v in old_row.items() if k != "nbest"
            }
            if "nbest" in old_row:
                assert new_row["nbest"] == old_row["nbest"][:3]
        assert "_dir" not in json.loads((tmp_path / record["_dir"] / "record.json").read_text())
    # archiving again changes nothing
    assert main(["archive", str(root)]) == 0
    assert metrics_table(load_runs(root)).equals(metrics_table(before))


def test_archive_errors(tmp_path):
    with pytest.raises(SpanevalError, match="no finished run"):
        from spaneval.archive import archive

        archive([str(tmp_path)])
    assert main(["archive", str(tmp_path), "--nbest", "0"]) == 2
