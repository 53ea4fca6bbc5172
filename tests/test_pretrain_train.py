"""The pretraining loop on a very small model and one bundled novel (CPU).

Covers: every objective runs end to end into a Hugging Face directory; a killed run resumed from
its checkpoint has exactly the loss curve and weights of an uninterrupted run; a NaN loss stops
the run with a clear error and keeps the last good checkpoint; two processes under torchrun (gloo)
see different data and end with identical weights.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import spaneval.pretrain.train as train_mod
from spaneval.errors import ConfigError, SpanevalError
from spaneval.pretrain.checkpoint import CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE
from spaneval.pretrain.model import PretrainingModel
from spaneval.pretrain.train import TrainingDivergedError, pretrain
from spaneval.safe_state import load_state

REPO = Path(__file__).resolve().parents[1]
NOVEL = "11_alices_adventures_in_wonderland.txt.gz"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, bundled) -> Path:
    """One bundled novel (34k tokens), so that tokenising it takes a fraction of a second."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(bundled / "corpus" / NOVEL, folder / NOVEL)
    return folder


@pytest.fixture(scope="module")
def fast(tmp_path_factory) -> dict[str, str]:
    """Overrides for a 1-layer, 32-wide model on 64-token blocks: a step takes milliseconds."""
    return {
        "hidden_size": "32",
        "num_layers": "1",
        "num_heads": "2",
        "intermediate_size": "64",
        "seq_len": "64",
        "max_position_embeddings": "64",
        "batch_size": "8",
        "micro_batch_size": "4",
        "max_steps": "8",
        "warmup_steps": "2",
        "checkpoint_every_steps": "4",
        "log_every_steps": "2",
        "tensorboard": "false",
        "num_threads": "1",
        "shard_cache": str(tmp_path_factory.mktemp("shards")),
    }


def losses(out: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    keep = ("step", "grad_norm", "tokens_seen")
    return [{k: v for k, v in row.items() if k.endswith("loss") or k in keep} for row in rows]


@pytest.mark.parametrize("objective", ["spanbert", "spanbert-nosbo", "bert-1seq", "bert-nsp"])
def test_every_objective_pretrains_into_a_hugging_face_directory(tmp_path, corpus, fast, objective):
    from transformers import AutoModel

    model_dir = pretrain(objective, "tiny", str(corpus), str(tmp_path), {**fast, "max_steps": "3"})
    assert model_dir == tmp_path / "model"
    encoder = AutoModel.from_pretrained(model_dir)
    assert encoder.config.hidden_size == 32
    card = (model_dir / "README.md").read_text()
    assert objective in card and "tokens seen" in card
    info = json.loads((model_dir / "pretraining.json").read_text())
    assert info["steps"] == 3 and info["tokens_seen"] > 3 * 8 * 32
    assert info["corpus_fingerprint"].startswith("sha256:")
    rows = losses(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    assert ("sbo_loss" in rows[0]) == (objective == "spanbert")
    assert ("nsp_loss" in rows[0]) == (objective == "bert-nsp")


class Killed(Exception):
    """Stands in for the run being killed."""


def test_resumed_run_has_the_same_loss_curve_and_weights(tmp_path, corpus, fast, monkeypatch):
    straight = tmp_path / "straight"
    pretrain("spanbert", "tiny", str(corpus), str(straight), fast)

    killed = tmp_path / "killed"
    real_take = train_mod.BatchLoader.take
    calls = {"n": 0}

    def dies_in_step_6(self):
        calls["n"] += 1
        if calls["n"] > 5 * 2:  # 2 micro-batches per step: step 6 never completes
            raise Killed
        return real_take(self)

    monkeypatch.setattr(train_mod.BatchLoader, "take", dies_in_step_6)
    with pytest.raises(Killed):
        pretrain("spanbert", "tiny", str(corpus), str(killed), fast)
    monkeypatch.setattr(train_mod.BatchLoader, "take", real_take)
    # Rows reach metrics.jsonl at log points (every 2 steps here): step 5 was still on the device.
    assert [r["step"] for r in losses(killed)] == [1, 2, 3, 4]

    pretrain("spanbert", "tiny", str(corpus), str(killed), fast, resume=True)
    assert losses(killed) == losses(straight)
    summary = [json.loads((d / "train_summary.json").read_text()) for d in (straight, killed)]
    assert summary[0]["ranks"] == summary[1]["ranks"]
    assert summary[0]["tokens_seen"] == summary[1]["tokens_seen"]


def test_existing_checkpoint_needs_resume_with_the_same_settings(tmp_path, corpus, fast):
    pretrain("bert-1seq", "tiny", str(corpus), str(tmp_path), {**fast, "max_steps": "1"})
    with pytest.raises(ConfigError, match="--resume"):
        pretrain("bert-1seq", "tiny", str(corpus), str(tmp_path), {**fast, "max_steps": "1"})
    other_lr = {**fast, "learning_rate": "2e-3"}
    with pytest.raises(ConfigError, match=r"learning_rate: saved 0\.001, now 0\.002"):
        pretrain("bert-1seq", "tiny", str(corpus), str(tmp_path), other_lr, resume=True)
    longer = {**fast, "max_steps": "2"}
    pretrain("bert-1seq", "tiny", str(corpus), str(tmp_path), longer, resume=True)
    assert [row["step"] for row in losses(tmp_path)] == [1, 2]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, fast, monkeypatch):
    real_forward = PretrainingModel.forward
    calls = {"n": 0}

    def nan_from_step_6(self, **batch):
        out = real_forward(self, **batch)
        calls["n"] += 1
        if calls["n"] > 5 * 2:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(PretrainingModel, "forward", nan_from_step_6)
    with pytest.raises(TrainingDivergedError, match=r"step 6: loss nan.*last good checkpoint"):
        pretrain("spanbert", "tiny", str(corpus), str(tmp_path), fast)
    saved = load_state(tmp_path / "checkpoint" / CHECKPOINT_FILE)
    assert saved["run"]["step"] == 4
    assert all(torch.isfinite(t).all() for t in saved["model"].values())
    assert not (tmp_path / "model").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_planted_pickle_trainer_checkpoint_is_refused_unread(tmp_path, corpus, fast, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoint").mkdir()
    torch.save({"model": _RunsCode()}, tmp_path / "checkpoint" / LEGACY_CHECKPOINT_FILE)
    with pytest.raises(SpanevalError, match=r"is a pickle .* delete it to restart from step 0"):
        pretrain("spanbert", "tiny", str(corpus), str(tmp_path), fast, resume=True)
    assert not (tmp_path / "pwned").exists()


def test_a_truncated_trainer_checkpoint_names_the_file_and_the_way_out(tmp_path, corpus, fast):
    pretrain("spanbert", "tiny", str(corpus), str(tmp_path), {**fast, "max_steps": "4"})
    ckpt = tmp_path / "checkpoint" / CHECKPOINT_FILE
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    expected = re.escape(f"checkpoint {ckpt} is corrupt; delete it to restart from step 0")
    with pytest.raises(SpanevalError, match=expected):
        pretrain("spanbert", "tiny", str(corpus), str(tmp_path), fast, resume=True)


def test_two_processes_under_torchrun_see_different_data_and_end_identical(tmp_path, corpus, fast):
    overrides = [f"{k}={v}" for k, v in {**fast, "max_steps": "4"}.items()]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "spaneval.pretrain.train", "--objective", "spanbert", "--preset", "tiny",
        "--corpus", str(corpus), "--output", str(tmp_path), *overrides,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    ranks = summary["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["data_digest"] != ranks[1]["data_digest"]
    assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"]
    # 8 sequences per step = 4 per rank, 1 micro-batch each: both ranks' tokens are counted.
    assert summary["tokens_seen"] > 4 * 8 * 32


def test_pretrain_benchmark_runs_on_cpu(corpus, fast, capsys):
    from spaneval.bench.pretrain import flops_per_token, main

    overrides = [f"{k}={fast[k]}" for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size")]
    overrides += ["seq_len=64", "max_position_embeddings=64", "micro_batch_size=4", "batch_size=4"]
    overrides += [f"shard_cache={fast['shard_cache']}", "num_threads=1"]
    argv = ["--device", "cpu", "--preset", "tiny", "--corpus", str(corpus), "--steps", "2", "--warmup", "1"]
    argv += ["--rounds", "1"]
    result = main([*argv, *overrides])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert result["tokens_per_s"] > 0 and result["step_ms"] > 0 and result["mfu"] is None
    assert result["hf_tokens_per_s"] > 0 and result["speedup_vs_hf"]["n"] == 1
    assert result["options"]["both"].endswith("torch.compile on neither")
    # hf_mlm_baseline.py's formula for BERT base at 512 tokens: ~590 MFLOP per token.
    assert flops_per_token(768, 12, 3072, 28996, 512) == pytest.approx(5.898e8, rel=1e-3)


def test_continued_pretraining_from_a_saved_model(tmp_path, corpus, fast):
    first = pretrain("spanbert", "tiny", str(corpus), str(tmp_path / "first"), {**fast, "max_steps": "2"})
    then = pretrain(
        "bert-nsp", "tiny", str(corpus), str(tmp_path / "then"), {**fast, "max_steps": "2"}, init=str(first)
    )
    info = json.loads((then / "pretraining.json").read_text())
    assert info["init"] == str(first) and info["objective"] == "bert-nsp"
    assert "initialised from: " + str(first) in (then / "README.md").read_text()


def test_a_run_killed_with_sigkill_resumes_to_the_same_curve(tmp_path, corpus, fast):
    overrides = {**fast, "max_steps": "30", "checkpoint_every_steps": "3"}
    straight = tmp_path / "straight"
    pretrain("spanbert", "tiny", str(corpus), str(straight), overrides)

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "spaneval.pretrain.train", "--objective", "spanbert", "--preset", "tiny"]
    cmd += ["--corpus", str(corpus), "--output", str(killed), *[f"{k}={v}" for k, v in overrides.items()]]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint" / CHECKPOINT_FILE).is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    pretrain("spanbert", "tiny", str(corpus), str(killed), overrides, resume=True)
    assert losses(killed) == losses(straight)


@pytest.mark.parametrize("objective", ["spanbert", "bert-nsp"])
def test_bf16_autocast_path_runs(tmp_path, corpus, fast, objective):
    """The GPU precision path (bf16 autocast, float32 losses), exercised with CPU autocast."""
    pretrain(objective, "tiny", str(corpus), str(tmp_path), {**fast, "max_steps": "2", "precision": "bf16"})
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in losses(tmp_path))
