"""The Streamlit app (streamlit.testing.v1.AppTest) and the pure functions behind its views."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spaneval
from spaneval import dashboard_server
from spaneval.dashboards import views
from spaneval.tasks import relation_rows
from tests.records import build_results

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = build_results(tmp_path_factory.mktemp("results"))
    # one run of bert on squad with another learning rate, for the config diff
    record_path = sorted(root.glob("squad/bert/*-s1-*/record.json"))[0]
    record = json.loads(record_path.read_text())
    record["config"]["train"]["learning_rate"] = 3e-5
    record_path.write_text(json.dumps(record))
    return root


def _app(results_dir: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SPANEVAL_RESULTS", str(results_dir))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    return AppTest.from_file(APP, default_timeout=60).run()


def _frame(at: AppTest, column: str):
    """The first dataframe on the page with `column` (AppTest does not expose dataframe keys)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def _view(at: AppTest, name: str) -> AppTest:
    at.sidebar.radio(key="view").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _specs(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of the page's altair charts."""
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _layers(spec: dict) -> list[dict]:
    inner = spec.get("spec", spec)
    return inner.get("layer", [inner])


def _no_missing_cells(at: AppTest) -> None:
    for frame in at.dataframe:
        shown = frame.value.astype(str)
        assert not shown.isin(["None", "nan", "NaN", "<NA>"]).any().any(), shown


def test_leaderboard_renders_measured_and_published_rows(results, monkeypatch):
    at = _app(results, monkeypatch)
    assert not at.exception
    board = _frame(at, "kind")
    measured = set(board.loc[board["kind"] == "measured", "model"])
    assert "spanbert" in measured and sum(m.startswith("bert [config ") for m in measured) == 2
    published = board[board["kind"] == "published"]
    assert len(published) > 0 and all("published" in r for r in published["model"])
    assert "squad f1" in board.columns
    assert board.loc[board["model"] == "spanbert", "squad f1"].iloc[0].endswith("(n=3)")
    _no_missing_cells(at)
    (chart,) = _specs(at)
    assert chart["facet"]["column"]["field"] == "task"
    bars = _layers(chart)[0]
    assert bars["encoding"]["y"]["scale"]["zero"] and bars["encoding"]["color"]["legend"]["labelLimit"] == 0
    assert "model path" in [t.get("title") for t in bars["encoding"]["tooltip"]]  # full path on hover


def test_corrupt_record_is_reported_and_the_rest_shown(results, monkeypatch):
    at = _app(results, monkeypatch)
    assert "2 results file(s) skipped or rejected" in at.warning[0].value
    problems = _frame(at, "problem")
    assert any("s9-corrupt" in p for p in problems["path"])
    assert any("schema_version 99" in p for p in problems["problem"])


def test_empty_directory_says_how_to_produce_results(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch)
    assert not at.exception
    assert "No finished runs" in at.info[0].value
    assert any("spaneval run squad" in c.value for c in at.code)


def test_task_view_metrics_charts_and_significance(results, monkeypatch):
    at = _view(_app(results, monkeypatch), "Task")
    at.selectbox(key="task").set_value("squad").run()
    _no_missing_cells(at)
    specs = {spec["title"]["text"]: spec for spec in _specs(at)}
    boundary = specs["boundary_errors"]
    # categories in the task's declared order (the records list them alphabetically)
    assert boundary["encoding"]["x"]["sort"] == ["exact", "start_off", "disjoint"]
    assert boundary["encoding"]["color"]["legend"]["labelLimit"] == 0
    assert specs["f1_by_answer_length"]["encoding"]["y"]["axis"]["title"] == "f1"
    significance = _frame(at, "p_value")
    # the default pair is SpanBERT against BERT; the seed-1 BERT run with another learning rate is
    # another experiment, so BERT has two groups and the test pairs the seeds of the chosen one
    assert at.selectbox(key="sig_a").value == "spanbert"
    model_b = at.selectbox(key="sig_b").value
    assert model_b.startswith("bert [config ")
    assert list(significance["seed"]) in ([1], [2, 3])
    assert set(significance["model_b"]) == {model_b}
    assert significance["p_value"].between(0, 1).all()
    at.radio(key="sig_method").set_value("randomization").run()
    assert not at.exception
    assert (_frame(at, "p_value")["test"].str.startswith("approximate randomization")).all()


def test_task_view_draws_the_confusion_matrix_as_a_heatmap(results, monkeypatch):
    at = _view(_app(results, monkeypatch), "Task")
    at.selectbox(key="task").set_value("tacred").run()
    heatmaps = [s for s in _specs(at) if any(layer["mark"]["type"] == "rect" for layer in _layers(s))]
    assert len(heatmaps) == 1
    assert at.selectbox(key="cm_model").options == ["bert", "spanbert"]
    rect, text = _layers(heatmaps[0])
    assert rect["encoding"]["x"]["field"] == "predicted" and rect["encoding"]["y"]["field"] == "gold"
    assert text["encoding"]["text"]["format"] == "d"


def test_run_view_shows_provenance_and_config_diff(results, monkeypatch):
    at = _view(_app(results, monkeypatch), "Run")
    picker = at.selectbox(key="run_a")
    assert all(" · seed " in option for option in picker.options)  # model name, task, seed, run id
    assert picker.options[0].startswith(("bert", "spanbert"))
    (loss,) = _specs(at)
    assert loss["mark"]["type"] == "line" and loss["encoding"]["y"]["field"] == "loss"
    assert loss["encoding"]["x"]["field"] == "step"
    heading = at.get("html")[0].proto.body
    assert "<h3" in heading and "model: <code>" in heading
    ids = [option.rsplit(" · ", 1)[1] for option in picker.options]
    changed = next(i for i in ids if "-s1-" in i and i in _squad_bert_ids(results))
    other = next(i for i in _squad_bert_ids(results) if i != changed)
    picker.set_value(changed).run()  # the value is the run id; options show its label
    at.selectbox(key="run_b").set_value(other).run()
    diff = _frame(at, "run B")
    assert list(diff["key"]) == ["train.learning_rate"]
    provenance = _frame(at, "field")
    assert {
        "model (display name)",
        "model.revision",
        "data.eval.fingerprint",
        "environment.torch",
        "wall_s",
    } <= set(provenance["field"])


def _squad_bert_ids(results: Path) -> list[str]:
    return [p.name for p in results.glob("squad/bert/*") if (p / "record.json").is_file() and "-s" in p.name]


def test_example_browser_filters_and_escapes(results, monkeypatch):
    at = _view(_app(results, monkeypatch), "Examples")
    at.selectbox(key="ex_task").set_value("squad").run()
    at.radio(key="ex_filter").set_value("A right, B wrong").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "examples" in c.value)
    shown = int(caption.split(" of ")[0])
    assert 0 < shown < 20
    bodies = [h.proto.body for h in at.get("html")]
    assert bodies and all("&lt;b&gt;May" in b or "May" not in b for b in bodies)
    assert not any("<b>May</b>" in b for b in bodies)
    assert "EM 1" in bodies[0] and "EM 0" in bodies[1]  # A right, B wrong
    assert bodies[0].startswith("<h4>A: spanbert") and bodies[1].startswith("<h4>B: bert")
    # A and B side by side: each example sits in its own column of one horizontal block
    assert sum(1 for c in at.columns if c.get("html")) == 2
    # every gold answer is highlighted and numbered (the synthetic rows have two per question)
    assert bodies[0].count('class="gold') >= 2 and "<sup style='color:#2ca02c'>2</sup>" in bodies[0]
    picker = at.selectbox(key="ex_id")
    assert picker.options[0].startswith("Who met whom **here**? · q")  # question text, then the id


@pytest.mark.parametrize("task", ["coref", "tacred"])
def test_example_browser_other_tasks(results, monkeypatch, task):
    at = _view(_app(results, monkeypatch), "Examples")
    at.selectbox(key="ex_task").set_value(task).run()
    at.radio(key="ex_filter").set_value("wrong only").run()
    assert not at.exception
    assert at.get("html") or any("No example" in i.value for i in at.info)


# --- pure view functions --------------------------------------------------------------------


def test_for_display_leaves_no_missing_cell():
    frame = pd.DataFrame(
        {"a": [1.0, float("nan")], "n": pd.array([3, None], dtype="Int64"), "s": ["x", None]}
    )
    shown = views.for_display(frame)
    assert shown.to_dict("list") == {"a": ["1.00", "–"], "n": [3, "–"], "s": ["x", "–"]}
    full = pd.DataFrame({"a": [1.5, 2.5]})
    assert views.for_display(full)["a"].dtype.kind == "f"  # no gaps: stays numeric (sortable)


def test_filter_ids_modes():
    a = [{"id": "1", "gold": "x", "predicted": "x"}, {"id": "2", "gold": "x", "predicted": "y"}]
    b = [{"id": "1", "gold": "x", "predicted": "y"}, {"id": "2", "gold": "x", "predicted": "x"}]
    right = relation_rows.is_right
    assert views.filter_ids(a, b, "all", right) == ["1", "2"]
    assert views.filter_ids(a, b, "wrong only", right) == ["2"]
    assert views.filter_ids(a, b, "A right, B wrong", right) == ["1"]
    assert views.filter_ids(a, b, "B right, A wrong", right) == ["2"]
    with pytest.raises(ValueError):
        views.filter_ids(a, b, "everything", right)


def test_config_diff():
    diff = views.config_diff({"train": {"lr": 1, "epochs": 2}}, {"train": {"lr": 2, "epochs": 2}, "x": 1})
    assert diff.to_dict("records") == [
        {"key": "train.lr", "run A": "1", "run B": "2"},
        {"key": "x", "run A": "'<absent>'", "run B": "1"},
    ]


def test_dashboard_command_is_a_thin_streamlit_wrapper(tmp_path):
    command = dashboard_server.streamlit_command(str(tmp_path), 8600, ["--theme.base", "dark"])
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith(
        os.path.join("dashboards", "app.py")
    )
    assert command[-3:] == ["--", "--results", str(tmp_path.resolve())]
    assert command[command.index("--server.port") :][:2] == ["--server.port", "8600"]
    assert "--theme.base" in command
    assert command[command.index("--server.address") :][:2] == ["--server.address", "127.0.0.1"]
    shared = dashboard_server.streamlit_command(str(tmp_path), None, [], host="0.0.0.0")
    assert shared[shared.index("--server.address") + 1] == "0.0.0.0"
    package_parent = str(Path(spaneval.__file__).resolve().parents[1])
    assert dashboard_server.streamlit_env()["PYTHONPATH"].split(os.pathsep)[0] == package_parent
