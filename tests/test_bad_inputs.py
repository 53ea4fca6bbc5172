"""Bad input through the CLI, in process: one line naming the key, file or record, exit 2, no
traceback, and nothing written (no dead run folder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from spaneval.atomic import output_lock
from spaneval.cli import main
from spaneval.models import tiny_model_dir

TINY_RUN = ["max_train_examples=16", "max_eval_examples=8", "max_seq_len=128", "batch_size=4", "max_steps=2"]


def _fails(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("spaneval: error:")]
    # progress and warning lines may come first (stderr); the failure itself is one line
    assert "Traceback" not in err and len(errors) == 1 and err.endswith(errors[0] + "\n"), err
    return errors[0] + "\n"


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=0", "epochs=0.0 is out of range: expected 0 < epochs"),
        ("epochs=-1", "epochs=-1.0 is out of range"),
        ("learning_rate=-1", "learning_rate=-1.0 is out of range: expected 0 < learning_rate <= 1"),
        ("learning_rate=nan", "learning_rate=nan is out of range"),
        ("warmup_ratio=5", "warmup_ratio=5.0 is out of range: expected 0 <= warmup_ratio <= 1"),
        ("batch_size=-8", "batch_size=-8 is out of range: expected 1 <= batch_size"),
        ("grad_accum_steps=0", "grad_accum_steps=0 is out of range"),
        ("log_every_steps=0", "log_every_steps=0 is out of range"),
        ("eval_batch_size=0", "eval_batch_size=0 is out of range"),
        ("max_seq_len=2", "max_seq_len=2 is out of range: expected 16 <= max_seq_len <= 8192"),
        ("batch_size=6", "batch_size=6 must be a multiple of processes (1) x grad_accum_steps (4)"),
    ],
)
def test_out_of_range_settings_are_refused_before_anything_is_written(override, message, tmp_path, capsys):
    argv = ["run", "squad", "--model", "tiny", "--output", str(tmp_path), "grad_accum_steps=4", override]
    assert message in _fails(argv, capsys)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("task, override", [("coref", "top_span_ratio=0"), ("tacred", "dropout=1")])
def test_task_settings_are_range_checked(task, override, tmp_path, capsys):
    key = override.split("=")[0]
    argv = ["run", task, "--model", "tiny", "--output", str(tmp_path), override]
    assert f"{key}=" in _fails(argv, capsys) and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "override, message",
    [("max_steps=0", "expected 1 <= max_steps"), ("mask_ratio=2", "expected 0 < mask_ratio < 1")],
)
def test_pretraining_settings_are_range_checked(override, message, tmp_path, capsys):
    assert message in _fails(["pretrain", "--output", str(tmp_path / "out"), override], capsys)
    assert not (tmp_path / "out").exists()


def test_a_model_folder_without_tokenizer_is_refused(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir(), model)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        (model / name).unlink(missing_ok=True)
    err = _fails(["run", "squad", "--model", str(model), "--output", str(tmp_path / "r")], capsys)
    assert f"model directory {model} has no tokenizer" in err


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory, bundled) -> tuple[Path, Path]:
    """A finished tiny run with its checkpoint kept and its record removed: resumable."""
    root = tmp_path_factory.mktemp("kept")
    data = root / "train.json"
    shutil.copy(bundled / "squad" / "train-sample.json", data)
    argv = ["run", "squad", "--model", "tiny", "--data", str(data), "--eval-data", "bundled"]
    assert main([*argv, "--output", str(root / "results"), "--keep-checkpoint", *TINY_RUN]) == 0
    run_dir = next((root / "results").glob("squad/tiny/*"))
    (run_dir / "record.json").unlink()
    return run_dir, data


def test_resume_with_changed_training_data_is_refused(kept_run, capsys):
    run_dir, data = kept_run
    original = data.read_bytes()
    squad = json.loads(original)
    squad["data"] = squad["data"][:-1]
    data.write_text(json.dumps(squad))
    try:
        err = _fails(["run", "--resume", str(run_dir)], capsys)
    finally:
        data.write_bytes(original)
    assert "was written for other inputs (train_data: saved 'sha256:" in err


def test_resume_after_editing_run_args_is_refused(kept_run, capsys):
    run_dir, _ = kept_run
    args_file = run_dir / "run_args.json"
    original = args_file.read_text()
    args = json.loads(original)
    args["overrides"] = [*args["overrides"], ["learning_rate", "0.001"]]
    args_file.write_text(json.dumps(args))
    try:
        err = _fails(["run", "--resume", str(run_dir)], capsys)
    finally:
        args_file.write_text(original)
    assert "run_args: saved" in err and "learning_rate" in err


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """An output path this test cannot write: a read-only folder, or for root (who may write
    anywhere) a path under a regular file."""
    if os.geteuid() == 0:
        (tmp_path / "a-file").write_text("")
        return tmp_path / "a-file" / "out"
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder / "out"


@pytest.mark.parametrize("command", [["pretrain"], ["run", "squad", "--model", "tiny"]])
def test_an_unwritable_output_is_reported_before_any_work(command, unwritable, capsys):
    assert f"cannot write to {unwritable}" in _fails([*command, "--output", str(unwritable)], capsys)


def test_a_second_pretrain_into_one_output_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    with output_lock(out, "pretrain"):
        err = _fails(["pretrain", "--output", str(out), "max_steps=1"], capsys)
    assert f"{out} is in use by spaneval pretrain (pid {os.getpid()})" in err
    assert not (out / "metrics.jsonl").exists() and not (out / "checkpoint").exists()


def test_a_run_still_running_cannot_be_resumed_twice(kept_run, capsys):
    run_dir, _ = kept_run
    with output_lock(run_dir, "run"):
        assert "is in use by spaneval run" in _fails(["run", "--resume", str(run_dir)], capsys)


def test_a_truncated_checkpoint_on_resume_names_the_file_and_the_way_out(kept_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(kept_run[0], run_dir)
    ckpt = run_dir / "checkpoint" / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:4096])
    err = _fails(["run", "--resume", str(run_dir)], capsys)
    assert f"checkpoint {ckpt} is corrupt; delete it to restart from step 0" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "1,x"], "seed 'x' in '1,x': expected integers >= 0"),
        (["--seed", "-1"], "seed '-1' in '-1': expected integers >= 0"),
    ],
)
def test_bad_seeds(argv, message, tmp_path, capsys):
    assert message in _fails(["run", "squad", "--model", "tiny", "--output", str(tmp_path), *argv], capsys)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "damage, message",
    [
        (("model.safetensors", b"\x00" * 100), "cannot load its weights"),
        (("model.safetensors", "truncate"), "cannot load its weights"),
        (("config.json", b'{"model_type": "be'), "config.json: malformed JSON at line 1"),
        (("config.json", b"garbage"), "config.json: malformed JSON at line 1"),
    ],
)
def test_damaged_model_folders_give_one_line(damage, message, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir(), model)
    name, content = damage
    target = model / name
    target.write_bytes(target.read_bytes()[:5000] if content == "truncate" else content)
    err = _fails(["run", "squad", "--model", str(model), "--output", str(tmp_path / "r")], capsys)
    assert message in err and str(model) in err


def _squad(tmp_path: Path, answer_text: str) -> Path:
    context = "The mill stood by the river."
    qa = {"id": "q1", "question": "Where?", "answers": [{"text": answer_text, "answer_start": 0}]}
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps(
            {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}
        )
    )
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: _squad(d, ""), "article t, question q1: answer text '' is empty"),
        (lambda d: _write(d / "deep.json", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (lambda d: _write(d / "latin1.json", b'{"data": "caf\xe9"}'), "not UTF-8 text (byte 13)"),
        (lambda d: d, "is a directory"),
    ],
)
def test_bad_training_data_gives_one_line(make, message, tmp_path, capsys):
    data = make(tmp_path)
    argv = ["run", "squad", "--model", "tiny", "--data", str(data), "--output", str(tmp_path / "r")]
    assert message in _fails(argv, capsys)


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


LATIN1 = "caf\xe9 au lait\n".encode("latin-1")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["squad", "--data", "{missing}", "--predictions", "{missing}"],
            "missing: cannot read the file: not found",
        ),
        (["squad", "--data", "{dir}", "--predictions", "{dir}"], "cannot read the file: it is a directory"),
        (["coref", "--key", "{latin1}", "--response", "{latin1}"], "not UTF-8 text (byte 3)"),
        (["semeval2010", "--key", "{latin1}", "--predictions", "{latin1}"], "not UTF-8 text (byte 3)"),
        (["tacred", "--data", "{latin1}", "--predictions", "{latin1}"], "not UTF-8 text (byte 3)"),
        (["tacred", "--data", "{deep}", "--predictions", "{deep}"], "nested too deeply"),
    ],
)
def test_score_with_unreadable_files_gives_one_line(args, message, tmp_path, capsys):
    files = {
        "missing": tmp_path / "missing",
        "dir": tmp_path,
        "latin1": _write(tmp_path / "latin1.txt", LATIN1),
        "deep": _write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000),
    }
    assert message in _fails(["score", *(a.format(**files) for a in args)], capsys)


def test_a_nan_no_answer_probability_prints_valid_json(bundled, tmp_path, capsys):
    gold = json.loads((bundled / "squad" / "dev-v2-sample.json").read_text())
    qids = [qa["id"] for article in gold["data"] for p in article["paragraphs"] for qa in p["qas"]]
    predictions = _write(tmp_path / "pred.json", json.dumps(dict.fromkeys(qids, "")))
    na_prob = _write(tmp_path / "na.json", "{" + ", ".join(f'"{q}": NaN' for q in qids) + "}")
    data = str(bundled / "squad" / "dev-v2-sample.json")
    argv = ["score", "squad_v2", "--data", data, "--predictions", str(predictions), "--na-prob", str(na_prob)]
    assert main(argv) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


def test_an_interrupted_pretrain_is_told_to_resume_with_pretrain(monkeypatch, tmp_path, capsys):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("spaneval.pretrain.train.pretrain", interrupted)
    assert main(["pretrain", "--output", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "pretrain --output OUTPUT --resume" in err and "run --resume" not in err


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '["a", "list"]', '{"task": 1, "x": 2}'])
def test_a_damaged_run_args_file_on_resume_gives_one_line(content, tmp_path, capsys):
    (tmp_path / "run_args.json").write_text(content)
    assert "run_args.json" in _fails(["run", "--resume", str(tmp_path)], capsys)
