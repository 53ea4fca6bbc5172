"""Experiment grids: file errors name the line and key, cells resume, filters select, a grid runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spaneval.cli import main
from spaneval.errors import SpanevalError
from spaneval.experiment import (
    FoundRun,
    cell_status,
    cells_of,
    estimated_seconds,
    expected_config,
    found_runs,
    request_fields,
)
from spaneval.experiment_file import load_experiment

REPO = Path(__file__).resolve().parents[1]

GRID = """\
name = "g"
output = "out"
seeds = [1, 2]

[models.tiny]
name = "tiny"

[models.tiny-spanbert.pretrain]
objective = "spanbert"
preset = "tiny"
overrides = { max_steps = 2, warmup_steps = 1 }

[tasks.squad]
task = "squad"
data = "bundled"
overrides = { max_steps = 2, batch_size = 8, max_seq_len = 128, doc_stride = 64, max_eval_examples = 40 }

[tasks.semeval2010]
data = "bundled"
preset = "tiny"
overrides = { max_steps = 2 }
"""


def _grid(tmp_path: Path, text: str = GRID) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("seeds = [1, 2]", "seedz = [1, 2]"),
            r"grid\.toml, line 3: seedz: unknown key .*Did you mean 'seeds'",
        ),
        (("seeds = [1, 2]", "seeds = [1, 1]"), r"line 3: seeds: expected a list of distinct"),
        (
            ('data = "bundled"\npreset', 'dat = "bundled"\npreset'),
            r"line 19: tasks\.semeval2010\.dat",
        ),
        (
            (
                'preset = "tiny"\noverrides = { max_steps = 2, warm',
                'presett = "tiny"\noverrides = { max_steps = 2, w',
            ),
            r"line 10: models\.tiny-spanbert\.pretrain\.presett",
        ),
        (('name = "tiny"', 'name = "tiny"\npath = "x"'), r"line 5: models\.tiny: give exactly one of"),
        (
            (
                'data = "bundled"\noverrides = { max_steps = 2, b',
                'data = "derived:nope"\noverrides = { max_steps = 2, b',
            ),
            r"line 15: tasks\.squad\.data: no \[derived\.nope\]",
        ),
        (("seeds = [1, 2]", "seeds = 1 2"), r"grid\.toml: not valid TOML: .*line 3"),
        (('output = "out"\n', ""), r"missing required key 'output'"),
    ],
)
def test_file_errors_name_line_and_key(tmp_path, edit, message):
    old, new = edit
    assert old in GRID
    with pytest.raises(SpanevalError, match=message):
        load_experiment(_grid(tmp_path, GRID.replace(old, new, 1)))


def test_dotted_labels_must_be_quoted(tmp_path):
    text = GRID + '\n[derived.a.b]\nkind = "split_articles"\n'
    with pytest.raises(SpanevalError, match=r"line 23: derived\.a: a label with a dot must be quoted"):
        load_experiment(_grid(tmp_path, text))


def test_set_edits_the_grid_before_checking(tmp_path):
    exp = load_experiment(
        _grid(tmp_path), ["seeds=[7]", "models.*.revision=abc", "tasks.squad.overrides.max_steps=5"]
    )
    assert exp.seeds == (7,)
    assert {m.revision for m in exp.models} == {"abc"}
    assert dict(exp.tasks[0].overrides)["max_steps"] == "5"
    with pytest.raises(SpanevalError, match=r"expected DOTTED\.KEY=VALUE"):
        load_experiment(_grid(tmp_path), ["seeds"])


def test_paths_resolve_against_the_file(tmp_path):
    exp = load_experiment(_grid(tmp_path, GRID.replace('data = "bundled"', 'data = "../d/x.json"', 1)))
    assert exp.output == (tmp_path / "out").resolve()
    assert exp.tasks[0].data == str((tmp_path.parent / "d" / "x.json").resolve())
    assert exp.tasks[1].data == "bundled"  # a bare word is a named source


def test_only_filters_cells(tmp_path):
    exp = load_experiment(_grid(tmp_path))
    assert len(cells_of(exp)) == 8
    assert [c.cell_id for c in cells_of(exp)][:4] == [
        "tiny/squad/1",
        "tiny-spanbert/squad/1",
        "tiny/semeval2010/1",
        "tiny-spanbert/semeval2010/1",
    ]
    assert {c.cell_id for c in cells_of(exp, ["tiny/*/2"])} == {"tiny/squad/2", "tiny/semeval2010/2"}
    assert len(cells_of(exp, ["semeval2010"])) == 4
    assert len(cells_of(exp, ["squad", "2"])) == 6
    with pytest.raises(SpanevalError, match="no cell matches"):
        cells_of(exp, ["bert"])


def _finished_record(config: dict) -> dict:
    """A record of the tiny/squad/1 cell with the cell's resolved configuration."""
    return {
        "task": "squad",
        "seed": 1,
        "model": {"name": "tiny", "path": "/x"},
        "data": {"source": "bundled"},
        "config": {"preset": None, "task": config["task"], "train": dict(config["train"])},
    }


def test_status_done_resume_todo(tmp_path):
    exp = load_experiment(_grid(tmp_path))
    cell = cells_of(exp, ["tiny/squad/1"])[0]
    run_dir = tmp_path / "out" / "squad" / "tiny" / "r1"
    (run_dir / "checkpoint").mkdir(parents=True)
    request = {k: list(v) if isinstance(v, tuple) else v for k, v in request_fields(exp, cell).items()}
    request["overrides"] = [list(kv) for kv in request["overrides"]]
    (run_dir / "run_args.json").write_text(json.dumps(request))
    assert cell_status(exp, cell, found_runs(exp.output))[0] == "resume"
    other = cells_of(exp, ["tiny/squad/2"])[0]
    assert cell_status(exp, other, found_runs(exp.output))[0] == "todo"
    # a finished record that differs from the cell in one setting is not the cell's run
    config = expected_config(cell)
    record = _finished_record(config)
    finished = [FoundRun(run_dir, record, None)]
    assert cell_status(exp, cell, finished)[0] == "done"
    del record["config"]["train"]["eval_every_steps"]  # a key added after the run, left at its default
    assert cell_status(exp, cell, finished)[0] == "done"
    record["task_version"] = "0.9"
    assert cell_status(exp, cell, finished)[0] == "todo"
    record["task_version"] = config["task_version"]
    record["config"]["train"]["max_steps"] = 3
    assert cell_status(exp, cell, finished)[0] == "todo"


def test_cost_estimate_uses_finished_seeds_else_scales_a_run_of_the_same_model_and_task(tmp_path):
    exp = load_experiment(_grid(tmp_path))
    cell, seed2 = cells_of(exp, ["tiny/squad/1"])[0], cells_of(exp, ["tiny/squad/2"])[0]
    config = expected_config(cell)
    record = _finished_record(config)
    record["config"]["task"] = dict(config["task"])
    record |= {"training": {"train_wall_s": 100.0, "examples_seen": 16}, "wall_s": 130.0}  # 2 steps x 8
    runs = [FoundRun(tmp_path / "r1", record, None)]
    assert estimated_seconds(exp, seed2, runs) == (130.0, "finished seeds")
    # the same model and task with half the steps and twice the sequence length: training x 2 x 0.5
    record["config"]["train"]["max_steps"] = 4
    record["config"]["task"]["max_seq_len"] = 64
    record["training"], record["wall_s"] = {"train_wall_s": 200.0, "examples_seen": 32}, 230.0
    seconds, how = estimated_seconds(exp, seed2, runs)
    assert (seconds, how) == (200.0 * 16 / 32 * 128 / 64 + 30.0, "scaled from r1")
    record["task"] = "squad_v2"
    assert estimated_seconds(exp, seed2, runs)[0] is None


@pytest.mark.slow
def test_grid_runs_resumes_and_reports(tmp_path, capsys):
    grid = _grid(tmp_path)
    assert main(["experiment", str(grid), "--only", "*/*/1"]) == 0
    out = capsys.readouterr().out
    assert "4 cells: 0 finished already, 4 to run" in out
    records = list((tmp_path / "out").rglob("record.json"))
    assert len(records) == 4
    for fmt in ("md", "tex", "html"):
        assert (tmp_path / "out" / f"report.{fmt}").stat().st_size > 0
    # the whole grid: only seed 2 runs; then nothing runs
    shutil.rmtree(records[0].parent)
    assert main(["experiment", str(grid), "--no-report"]) == 0
    assert "8 cells: 3 finished already, 5 to run" in capsys.readouterr().out
    assert main(["experiment", str(grid), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "still to run: 0 cells" in plan and plan.count(" done ") == 8


@pytest.mark.slow
def test_small_scale_pretraining_grid_smoke(tmp_path, shared_data, capsys):
    """The shipped grid end to end on CPU: tiny preset, 2 pretraining and 2 fine-tuning steps."""
    sets = [
        "seeds=[1]",
        'models.*.pretrain.preset="tiny"',
        "models.*.pretrain.overrides.max_steps=2",
        "models.*.pretrain.overrides.warmup_steps=1",
        'models.*.pretrain.corpus="bundled"',
        "tasks.*.overrides.max_steps=2",
        "tasks.squad.overrides.max_seq_len=128",
        "tasks.squad.overrides.max_eval_examples=200",
        "tasks.coref.overrides.max_segment_len=128",
        f'output="{tmp_path / "out"}"',
    ]
    args = ["experiment", str(REPO / "experiments" / "small-scale-pretraining.toml")]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("record.json")]
    assert sorted((r["task"], Path(r["model"]["path"]).parent.name) for r in records) == sorted(
        (t, m) for t in ("squad", "coref") for m in ("spanbert", "bert-1seq", "spanbert-nosbo")
    )
    assert "Significance" in (tmp_path / "out" / "report.md").read_text()


def test_shipped_grids_parse():
    for path in sorted((REPO / "experiments").glob("*.toml")):
        exp = load_experiment(path)
        assert exp.models and exp.tasks


def test_moved_data_matches_by_content(tmp_path):
    from spaneval.tasks.base import file_fingerprint

    data = tmp_path / "train.json"
    data.write_text('{"data": []}')
    exp = load_experiment(_grid(tmp_path, GRID.replace('data = "bundled"', f'data = "{data}"', 1)))
    cell = cells_of(exp, ["tiny/squad/1"])[0]
    config = expected_config(cell)
    record = {
        "task": "squad",
        "seed": 1,
        "model": {"name": "tiny"},
        "data": {"source": "/elsewhere/train.json", "train": {"fingerprint": file_fingerprint(data)}},
        "config": {"preset": None, "task": config["task"], "train": config["train"]},
    }
    assert cell_status(exp, cell, [FoundRun(tmp_path, record, None)])[0] == "done"
    record["data"]["train"]["fingerprint"] = "sha256:other"
    assert cell_status(exp, cell, [FoundRun(tmp_path, record, None)])[0] == "todo"
