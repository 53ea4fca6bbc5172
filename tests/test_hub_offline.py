"""Offline, a hub-only model or data set fails fast with a message, never a traceback.

"Fast" is checked by what happens, not by a clock (a loaded machine would make a timed test flaky):
with HF_HUB_OFFLINE no connection is attempted; without it, exactly one bounded TCP probe, and
no download call (huggingface_hub's retries are what cost 23-46 s).
"""

import os
import socket
import subprocess
import sys

import pytest

from spaneval import hub
from spaneval.cli import main
from spaneval.errors import HubUnavailableError
from spaneval.models import resolve_model


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path


@pytest.fixture
def connections(monkeypatch):
    """Every TCP connection attempted (each fails at once, as on a machine without network), and
    huggingface_hub downloads made impossible to reach unnoticed."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network unreachable (test)")

    def no_download(*args, **kwargs):
        raise AssertionError("a hub download was attempted offline")

    monkeypatch.setattr(socket, "create_connection", refuse)
    import huggingface_hub

    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, no_download)
    return attempts


def test_offline_flag_fails_at_once_naming_the_model(empty_hf_cache, monkeypatch, connections):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError) as err:
        resolve_model("spanbert")
    assert connections == []
    text = str(err.value)
    assert "SpanBERT/spanbert-base-cased" in text and "HF_HUB_OFFLINE is set" in text
    assert "--model PATH" in text and "HF_HUB_OFFLINE=1" in text


def test_unreachable_hub_fails_fast_without_the_offline_flag(empty_hf_cache, monkeypatch, connections):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    hub._reachable.clear()
    with pytest.raises(HubUnavailableError, match="cannot be reached"):
        resolve_model("bert")
    assert connections == [("hub.invalid", 443)]  # one probe, no retries
    with pytest.raises(HubUnavailableError):
        resolve_model("spanbert")
    assert len(connections) == 1  # the answer is cached for the process


def test_the_probe_is_bounded_by_its_timeout(monkeypatch):
    seen = {}

    def slow(address, timeout=None, **kwargs):
        seen["timeout"] = timeout
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", slow)
    hub._reachable.clear()
    assert hub.hub_reachable(timeout_s=0.5) is False
    assert seen["timeout"] == 0.5


def test_cli_run_offline_prints_message_not_traceback(empty_hf_cache):
    """The real command in a fresh process, hub unreachable, HF_HUB_OFFLINE unset: a message, exit 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HOME=str(empty_hf_cache / "hf"), HF_ENDPOINT="https://hub.invalid")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spaneval",
            "run",
            "squad",
            "--model",
            "spanbert",
            "--output",
            str(empty_hf_cache),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # a guard against a hang, not a measurement: imports alone take seconds under load
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "SpanBERT/spanbert-base-cased" in proc.stderr


def test_unknown_model_and_task_names_suggest_the_closest(capsys):
    assert main(["run", "squad", "--model", "spanbret"]) == 2
    assert "Did you mean 'spanbert'" in capsys.readouterr().err
    assert main(["run", "sqaud", "--model", "tiny"]) == 2
    assert "Did you mean 'squad'" in capsys.readouterr().err


def test_cached_hub_model_loads_offline_cased_with_its_commit_recorded(empty_hf_cache, monkeypatch):
    """A filled HF cache + HF_HUB_OFFLINE=1: the registered name resolves to the cached snapshot, the
    commit sha is recorded, and the hub tokenizer's do_lower_case=True is overridden (SpanBERT is cased)."""
    import json
    import shutil

    from spaneval.models import load_tokenizer, tiny_model_dir, tokenizer_settings

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = empty_hf_cache / "hf" / "hub" / "models--SpanBERT--spanbert-base-cased"
    snapshot = repo / "snapshots" / sha
    shutil.copytree(tiny_model_dir(), snapshot)
    cfg = json.loads((snapshot / "tokenizer_config.json").read_text())
    (snapshot / "tokenizer_config.json").write_text(json.dumps({**cfg, "do_lower_case": True}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    model = resolve_model("spanbert")
    assert model.path == snapshot and model.revision == sha
    assert model.hub_id == "SpanBERT/spanbert-base-cased"
    tokenizer = load_tokenizer(model)
    assert tokenizer.tokenize("Hello World") == ["Hello", "World"]
    assert tokenizer_settings(tokenizer)["do_lower_case"] is False
    assert load_tokenizer(model, lowercase=True).tokenize("Hello") == ["hello"]  # hub behaviour, on request
