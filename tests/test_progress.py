"""Progress output: plain lines on stderr off a terminal, a heartbeat until the first step, the
fine-tuning and prediction progress of a run, the few-steps warning and the metric's scale."""

from __future__ import annotations

import time

from spaneval.cli import main
from spaneval.progress import progress_bar


def test_plain_lines_go_to_stderr_with_an_eta(capsys):
    bar = progress_bar(4, desc="fine-tuning", heartbeat_s=0)
    for step in range(4):
        if step % 2 == 1:
            bar.set_postfix(loss="1.0000")
        bar.update(1)
    bar.close()
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("[spaneval] fine-tuning: step 2/4 loss 1.0000 eta ")
    assert lines[0].endswith(" s")
    assert lines[1].startswith("[spaneval] fine-tuning: step 4/4 loss 1.0000 eta 0 s")


def test_disabled_progress_prints_nothing(capsys):
    bar = progress_bar(2, desc="x", enabled=False, heartbeat_s=0.01)
    bar.set_postfix(a=1)
    bar.update(2)
    bar.close()
    assert capsys.readouterr() == ("", "")


def test_heartbeat_until_the_first_step_only(capsys):
    bar = progress_bar(3, desc="fine-tuning", heartbeat_s=0.01)
    err, deadline = "", time.monotonic() + 60  # waits for the thread; asserts no duration
    while "still running" not in err and time.monotonic() < deadline:
        time.sleep(0.02)
        err += capsys.readouterr().err
    assert "[spaneval] fine-tuning: step 1/3 still running after" in err
    bar.update(1)
    time.sleep(0.05)
    capsys.readouterr()
    time.sleep(0.1)
    bar.close()
    assert "still running" not in capsys.readouterr().err


def test_run_reports_progress_warning_and_scale_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    quick = ["max_train_examples=16", "max_eval_examples=10", "max_seq_len=128", "epochs=1", "batch_size=8"]
    assert main(["run", "squad", "--model", "tiny", "--output", str(tmp_path), *quick]) == 0
    out, err = capsys.readouterr()
    assert "[spaneval]" not in out
    assert "[spaneval] fine-tuning: step " in err and "[spaneval] predicting: batch " in err
    assert "WARNING: only " in err and "fewer than 100" in err and "mostly noise" in err
    assert "f1 = " in err and " (percent); record " in err


def test_a_terminal_gets_a_tqdm_bar_on_stderr(monkeypatch, capsys):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = progress_bar(5, desc="predicting", unit="batch", heartbeat_s=0)
    bar.update(5)
    bar.close()
    assert "predicting: 100%" in terminal.getvalue() and "5/5" in terminal.getvalue()
    assert capsys.readouterr().out == ""
