"""scripts/gpu_checks.sh runs every check on CPU at tiny size (--cpu-tiny), so the one device call it
is written for cannot fail on a typo, a missing import or a package the GPU machine lacks."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("pretrain_eager", "finetune_base", "coref_infer", "pretrain_compile")


@pytest.mark.slow
def test_gpu_checks_script_runs_every_check_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_checks.sh"), "--cpu-tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=2700,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in CHECKS}
    assert all("status" not in r for r in results.values()), results
    assert results["pretrain_eager"]["hf_tokens_per_s"] > 0 and not results["pretrain_eager"]["compile"]
    assert results["pretrain_compile"]["compile"] and results["pretrain_compile"]["speedup_vs_hf"]
    assert results["finetune_base"]["hf_examples_per_s"]["n"] == 1
    assert results["coref_infer"]["task"] == "coref" and results["coref_infer"]["examples"] == 1
    assert "=== summary" in (tmp_path / "gpu_checks.log").read_text()


def test_gpu_checks_script_refuses_unknown_flags(tmp_path):
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_checks.sh"), "--tiny"],
        env={**os.environ, "OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "usage" in done.stderr
