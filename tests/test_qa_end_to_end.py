"""End to end on CPU, offline: the tiny model fine-tunes on the bundled SQuAD sample, decodes,
scores, writes a record; the same run under torchrun with 2 gloo processes; resume after interrupt."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spaneval.cli import main
from spaneval.record_schema import SCHEMA_VERSION

QUICK = [
    "max_train_examples=48",
    "max_eval_examples=40",
    "max_seq_len=192",
    "epochs=1",
    "batch_size=8",
    "log_every_steps=100",
]


def _records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("**/record.json"))]


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert main(["run", "squad", "--model", "tiny", "--output", str(out), "--seed", "7", *QUICK]) == 0
    [record] = _records(out)
    return out, record


def test_record_has_everything_needed_to_reproduce(squad_run):
    _, record = squad_run
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["task"] == "squad" and record["seed"] == 7 and record["main_metric"] == "f1"
    assert set(record["metrics"]) == {"exact_match", "f1"}
    assert 0 <= record["metrics"]["f1"] <= 100
    assert record["data"]["eval"]["fingerprint"].startswith("sha256:")
    assert record["data"]["train"]["n_examples"] == 48 and record["data"]["eval"]["n_examples"] == 40
    assert record["model"]["tokenizer"]["do_lower_case"] is False
    assert record["config"]["task"]["max_seq_len"] == 192 and record["config"]["train"]["batch_size"] == 8
    assert record["training"]["steps"] == math.ceil(record["training"]["train_features"] / 8)
    assert 50 < record["peak_rss_mb"] < 64_000  # resident MB of the run's process
    env = record["environment"]
    assert env["torch"] and env["transformers"] and env["device"] == "cpu" and env["num_processes"] == 1
    assert record["wall_s"] > 0 and "run squad" in record["command"]
    assert set(record["breakdowns"]) == {"f1_by_answer_length", "f1_by_question_word", "boundary_errors"}


def test_predictions_are_official_format_and_per_example(squad_run):
    out, _ = squad_run
    run_dir = next(out.glob("squad/tiny/*"))
    official = json.loads((run_dir / "predictions.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(official) == len(rows) == 40
    for row in rows:
        assert official[row["id"]] == row["prediction"]
        if row["prediction"]:  # a decoded span is a substring of the context at its offsets
            assert row["context"][row["start_char"] : row["end_char"]] == row["prediction"]
        assert row["exact"] in (0, 1) and 0 <= row["f1"] <= 1
    assert not (run_dir / "checkpoint").exists()  # removed after a finished run


def test_score_command_reproduces_the_run_metrics(squad_run, capsys, tmp_path):
    out, record = squad_run
    run_dir = next(out.glob("squad/tiny/*"))
    predictions = json.loads((run_dir / "predictions.json").read_text())
    dev = json.loads(Path(record["data"]["eval"]["path"]).read_text())
    for article in dev["data"]:  # the run evaluated the first 40 questions only
        for para in article["paragraphs"]:
            para["qas"] = [qa for qa in para["qas"] if qa["id"] in predictions]
    (tmp_path / "dev40.json").write_text(json.dumps(dev))
    capsys.readouterr()
    assert (
        main(
            [
                "score",
                "squad",
                "--data",
                str(tmp_path / "dev40.json"),
                "--predictions",
                str(run_dir / "predictions.json"),
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["exact_match"] == pytest.approx(record["metrics"]["exact_match"])
    assert printed["f1"] == pytest.approx(record["metrics"]["f1"])


def test_squad_v2_reports_both_thresholds_and_saves_the_tuned_one(tmp_path):
    assert main(["run", "squad_v2", "--model", "tiny", "--output", str(tmp_path), *QUICK]) == 0
    [record] = _records(tmp_path)
    m = record["metrics"]
    for key in (
        "exact",
        "f1",
        "HasAns_f1",
        "NoAns_f1",
        "best_f1",
        "best_f1_thresh",
        "tuned_na_threshold",
        "tuned_f1",
        "na_threshold_applied",
    ):
        assert key in m, key
    assert m["tuned_f1"] >= m["f1"] - 1e-9  # the tuned threshold is at least as good as 0
    run_dir = next(tmp_path.glob("squad_v2/tiny/*"))
    saved = json.loads((run_dir / "na_threshold.json").read_text())
    assert saved["tuned_na_threshold"] == m["tuned_na_threshold"]
    na = json.loads((run_dir / "na_prob.json").read_text())
    assert len(na) == 40


def test_passage_first_option_is_recorded(tmp_path):
    assert (
        main(
            [
                "run",
                "squad",
                "--model",
                "tiny",
                "--output",
                str(tmp_path),
                *QUICK,
                "passage_first=true",
                "max_steps=1",
            ]
        )
        == 0
    )
    [record] = _records(tmp_path)
    assert record["config"]["task"]["passage_first"] is True and record["training"]["steps"] == 1


def test_resume_continues_an_interrupted_run(tmp_path):
    """Interrupt (SIGINT) a run after its first checkpoint; --resume finishes it, and only once."""
    args = [
        sys.executable,
        "-m",
        "spaneval",
        "run",
        "squad",
        "--model",
        "tiny",
        "--output",
        str(tmp_path),
        *QUICK,
        "max_train_examples=96",
        "checkpoint_every_steps=2",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    pattern = "squad/tiny/*/checkpoint/checkpoint.safetensors"
    while not list(tmp_path.glob(pattern)) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    run_dir = next(tmp_path.glob("squad/tiny/*"))
    assert not (run_dir / "record.json").exists()
    assert main(["run", "--resume", str(run_dir)]) == 0
    [record] = _records(tmp_path)
    assert record["training"]["steps"] == math.ceil(record["training"]["train_features"] / 8)
    assert 50 < record["peak_rss_mb"] < 64_000  # resident MB of the run's process
    assert main(["run", "--resume", str(run_dir)]) == 2  # a finished run is not resumed twice


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29531",
        "-m",
        "spaneval",
        "run",
        "squad",
        "--model",
        "tiny",
        "--output",
        str(tmp_path),
        *QUICK,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [record] = _records(tmp_path)  # only rank 0 writes
    assert record["environment"]["num_processes"] == 2
    assert record["training"]["steps"] == math.ceil(record["training"]["train_features"] / 8)
    assert 50 < record["peak_rss_mb"] < 64_000  # resident MB of the run's process


def _mrqa_from_bundled_dev(path: Path, n_questions: int) -> None:
    """The bundled SQuAD dev sample as an MRQA jsonl file; the first detected answer's `text`
    disagrees with its span, which the reader reports as a warning."""
    squad = json.loads((Path(__file__).parents[1] / "spaneval/data/squad/dev-sample.json").read_text())
    lines = [{"header": {"dataset": "SQuAD", "split": "dev"}}]
    for paragraph in (p for article in squad["data"] for p in article["paragraphs"]):
        qas = []
        for qa in paragraph["qas"][: n_questions - sum(len(x["qas"]) for x in lines[1:])]:
            a = qa["answers"][0]
            span = [a["answer_start"], a["answer_start"] + len(a["text"]) - 1]
            detected = {"text": a["text"], "char_spans": [span]}
            qas.append(
                {
                    "qid": qa["id"],
                    "question": qa["question"],
                    "answers": [a["text"]],
                    "detected_answers": [detected],
                }
            )
        if qas:
            lines.append({"context": paragraph["context"], "qas": qas})
    lines[1]["qas"][0]["detected_answers"][0]["text"] = "not the span"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_run_mrqa_prints_each_data_warning_once(tmp_path, capsys):
    data = tmp_path / "dev.jsonl"
    _mrqa_from_bundled_dev(data, 24)
    quick = ["max_train_examples=24", "max_eval_examples=24", "max_seq_len=128", "epochs=1", "batch_size=8"]
    assert (
        main(["run", "mrqa", "--model", "tiny", "--data", str(data), "--output", str(tmp_path), *quick]) == 0
    )
    err = capsys.readouterr().err  # log lines and warnings go to stderr
    assert err.count("differs from its span") == 1, err
    [record] = _records(tmp_path)
    assert record["data"]["train"]["warnings"] == record["data"]["eval"]["warnings"] == 1
