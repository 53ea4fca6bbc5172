"""The fine-tuning loop: deterministic order, exact resume after an interrupt, NaN stop, batch checks."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from spaneval.distributed import DistInfo
from spaneval.errors import ConfigError, SpanevalError
from spaneval.finetune import (
    CHECKPOINT_FILE,
    LEGACY_CHECKPOINT_FILE,
    TrainConfig,
    batch_indices,
    finetune,
    token_chunks,
    total_steps,
)
from spaneval.safe_state import load_state
from spaneval.training_core import default_param_groups

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.drop = torch.nn.Dropout(0.3)  # consumes RNG: resume must restore it

    def forward(self, x, y):
        return {"loss": torch.nn.functional.mse_loss(self.lin(self.drop(x)).squeeze(-1), y)}


def features(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return [{"x": x[i], "y": np.float32(x[i].sum())} for i in range(n)]


def collate(chunk):
    return {"x": torch.tensor(np.stack([f["x"] for f in chunk])), "y": torch.tensor([f["y"] for f in chunk])}


def train(tmp: Path, cfg: TrainConfig, collate_fn=collate, resume=False, seed=3):
    torch.manual_seed(0)
    model = Regressor()
    summary = finetune(
        model,
        features(),
        collate_fn,
        default_param_groups(model, cfg.learning_rate, 0.0),
        cfg,
        dist=CPU,
        seed=seed,
        checkpoint_dir=tmp,
        resume=resume,
    )
    return model, summary


CFG = TrainConfig(
    learning_rate=0.05, batch_size=8, max_steps=12, checkpoint_every_steps=4, log_every_steps=100
)


def test_batch_order_is_a_function_of_seed_and_step():
    a = batch_indices(7, 40, 8, seed=1)
    assert np.array_equal(a, batch_indices(7, 40, 8, seed=1))
    assert not np.array_equal(a, batch_indices(7, 40, 8, seed=2))
    epoch = np.concatenate([batch_indices(s, 40, 8, seed=1) for s in range(5)])
    assert sorted(epoch.tolist()) == list(range(40))  # one epoch = a permutation
    assert len(batch_indices(4, 10, 8, seed=1)) == 8  # batches straddle epoch ends


def _interrupt_at(call: int):
    calls = {"n": 0}

    def interrupting(chunk):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return collate(chunk)

    return interrupting


def test_interrupted_run_resumes_to_the_same_losses_and_weights(tmp_path):
    full_model, full = train(tmp_path / "full", CFG)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", CFG, _interrupt_at(7))  # during step 7: the last checkpoint is step 4
    resumed_model, resumed = train(tmp_path / "cut", CFG, resume=True)
    assert resumed.losses == pytest.approx(full.losses, abs=0, rel=0)
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_wall_time_adds_up_across_resumes_and_resumes_are_recorded(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, CFG, _interrupt_at(7))
    first = load_state(tmp_path / CHECKPOINT_FILE)["state"]
    assert first["wall_s"] > 0 and first["train_wall_s"] > 0
    _, resumed = train(tmp_path, CFG, resume=True)
    assert resumed.resumed_at_steps == [4]
    assert resumed.earlier_sessions_wall_s == first["wall_s"]
    assert resumed.train_wall_s > first["train_wall_s"]


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path):
    calls = {"n": 0}

    def poisoned(chunk):
        calls["n"] += 1
        batch = collate(chunk)
        if calls["n"] == 6:
            batch["y"][0] = float("nan")
        return batch

    with pytest.raises(SpanevalError, match="loss became nan at step 5"):
        train(tmp_path, CFG, poisoned)
    state = load_state(tmp_path / CHECKPOINT_FILE)
    assert state["state"]["step"] == 4


class _RunsCode:
    """Unpickling this calls os.system: what a planted checkpoint would do."""

    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("name", [LEGACY_CHECKPOINT_FILE, CHECKPOINT_FILE])
def test_a_planted_pickle_checkpoint_is_refused_unread(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": _RunsCode()}, tmp_path / name)
    with pytest.raises(SpanevalError, match=r"(pickle|corrupt).*delete it to restart from step 0"):
        train(tmp_path, CFG, resume=True)
    assert not (tmp_path / "pwned").exists()


def test_a_truncated_checkpoint_names_the_file_and_the_way_out(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, CFG, _interrupt_at(7))
    ckpt = tmp_path / CHECKPOINT_FILE
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    expected = re.escape(f"checkpoint {ckpt} is corrupt; delete it to restart from step 0")
    with pytest.raises(SpanevalError, match=expected):
        train(tmp_path, CFG, resume=True)


def test_batch_size_must_split_over_accumulation():
    with pytest.raises(ConfigError, match="multiple of processes"):
        train(Path("/nonexistent"), TrainConfig(batch_size=10, grad_accum_steps=4))


def _weights_without_dropout(
    tmp: Path, cfg: TrainConfig, lengths: np.ndarray | None = None, forward_sizes: list | None = None
) -> torch.Tensor:
    torch.manual_seed(0)
    model = Regressor()
    model.drop.p = 0.0

    def counting_collate(chunk):
        if forward_sizes is not None:
            forward_sizes.append(len(chunk))
        return collate(chunk)

    finetune(
        model,
        features(),
        counting_collate,
        default_param_groups(model, 0.05, 0.0),
        cfg,
        dist=CPU,
        seed=3,
        checkpoint_dir=tmp,
        lengths=lengths,
    )
    return model.lin.weight.detach()


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    big = TrainConfig(learning_rate=0.05, batch_size=8, max_steps=3, log_every_steps=100)
    acc = TrainConfig(learning_rate=0.05, batch_size=8, max_steps=3, grad_accum_steps=2, log_every_steps=100)
    assert torch.allclose(
        _weights_without_dropout(tmp_path / "big", big),
        _weights_without_dropout(tmp_path / "acc", acc),
        atol=1e-6,
    )


def test_token_chunks_bound_the_padded_size_and_keep_the_order():
    lengths = np.array([3, 9, 2, 2, 30, 4, 4, 4])
    pieces = token_chunks(np.arange(8), lengths, max_tokens=12)
    assert [p.tolist() for p in pieces] == [[0], [1], [2, 3], [4], [5, 6, 7]]  # 9+3 > 12, 30 alone
    assert [p.tolist() for p in token_chunks(np.arange(8), lengths, max_tokens=10_000)] == [list(range(8))]


def test_cpu_token_pieces_of_unequal_size_give_the_big_batch_gradient(tmp_path):
    """On CPU a batch runs as pieces of at most cpu_micro_batch_tokens padded tokens; each piece's
    mean loss is weighted by its share of examples, so the update is that of the whole batch."""
    lengths = np.array([1 + (7 * i) % 10 for i in range(40)])
    pieces = dataclasses.replace(CFG, max_steps=3, cpu_micro_batch_tokens=12, group_by_length=False)
    whole = dataclasses.replace(pieces, cpu_micro_batch_tokens=0)
    first = batch_indices(0, 40, 8, seed=3)
    assert [len(p) for p in token_chunks(first, lengths, 12)] == [2, 1, 1, 1, 1, 2]  # unequal pieces
    sizes: list[int] = []
    assert torch.allclose(
        _weights_without_dropout(tmp_path / "whole", whole, lengths),
        _weights_without_dropout(tmp_path / "pieces", pieces, lengths, sizes),
        atol=1e-6,
    )
    assert sizes[:6] == [2, 1, 1, 1, 1, 2]  # the pieces of step 0 above, run one by one


def test_total_steps():
    assert total_steps(TrainConfig(batch_size=8, epochs=2.0), 40) == 10
    assert total_steps(TrainConfig(batch_size=8, epochs=0.1), 40) == 1
    assert total_steps(TrainConfig(batch_size=8, max_steps=3), 40) == 3


def test_length_grouped_batches_cover_the_same_examples_with_less_padding():
    rng = np.random.default_rng(0)
    n, bs = 1000, 8
    lengths = rng.integers(20, 384, size=n)
    steps = range(50)  # one group of 50 batches
    grouped = [batch_indices(s, n, bs, seed=5, lengths=lengths) for s in steps]
    plain = [batch_indices(s, n, bs, seed=5) for s in steps]
    assert sorted(np.concatenate(grouped).tolist()) == sorted(np.concatenate(plain).tolist())
    padded = lambda batches: sum(lengths[b].max() * len(b) for b in batches)  # noqa: E731
    assert padded(grouped) < 0.7 * padded(plain)
    assert np.array_equal(grouped[7], batch_indices(7, n, bs, seed=5, lengths=lengths))  # a function of step
