"""Checkpoint files of tensors plus JSON: every value comes back, tied weights stay one tensor."""

import random

import numpy as np
import pytest
import torch

from spaneval.safe_state import CorruptCheckpointError, load_state, save_state


def test_rng_states_optimizer_keys_and_tied_weights_round_trip(tmp_path):
    lin = torch.nn.Linear(3, 3)
    state = {
        "tied_a": lin.weight,
        "tied_b": lin.weight,
        "row": lin.weight[1],  # another view of the same storage: stored as a copy
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "optimizer": {0: {"step": torch.tensor(3.0)}, 1: {}},
        "empty": torch.zeros(0),
        "plain": [1, 2.5, None, "x", True],
    }
    save_state(tmp_path / "s.safetensors", state)
    back = load_state(tmp_path / "s.safetensors")
    assert back["tied_a"] is back["tied_b"] and torch.equal(back["tied_a"], lin.weight)
    assert torch.equal(back["row"], lin.weight[1])
    assert back["numpy"][0] == "MT19937" and np.array_equal(back["numpy"][1], state["numpy"][1])
    assert back["numpy"][1].dtype == np.uint32 and back["python"] == state["python"]
    assert list(back["optimizer"]) == [0, 1] and back["plain"] == state["plain"]
    np.random.set_state(back["numpy"])
    random.setstate(back["python"])
    torch.set_rng_state(back["torch"])


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"garbage" * 10, lambda b: b""])
def test_damaged_files_raise_one_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "s.safetensors"
    save_state(path, {"w": torch.ones(100)})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptCheckpointError, match=str(path)):
        load_state(path)


def test_a_temporary_file_left_by_a_killed_save_is_removed_by_the_next_save(tmp_path):
    leftover = tmp_path / ".trainer.safetensors.abc123.tmp"
    leftover.write_bytes(b"\0" * 1000)  # what SIGKILL during write_bytes leaves
    save_state(tmp_path / "trainer.safetensors", {"w": torch.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer.safetensors"]
