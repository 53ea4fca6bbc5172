"""The resumable checkpoint (checkpoint/trainer.safetensors) and the end-of-run summary.

trainer.safetensors holds the model, optimizer, scheduler, the run state and, for every rank, its
data position, RNG states and data digest, so a resumed run continues exactly where it stopped.
It holds only tensors and JSON (spaneval.safe_state), so loading it runs no code.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from spaneval.atomic import write_json
from spaneval.config import to_dict
from spaneval.distributed import DistInfo, barrier
from spaneval.errors import ConfigError
from spaneval.pretrain.loader import BatchLoader
from spaneval.pretrain.objectives import Objective
from spaneval.pretrain.presets import PretrainConfig
from spaneval.safe_state import save_state
from spaneval.training_core import read_checkpoint, rng_states, set_rng_states

CHECKPOINT_FILE = "trainer.safetensors"
LEGACY_CHECKPOINT_FILE = "trainer.pt"  # a pickle of older versions: refused, never loaded


def has_checkpoint(ckpt_dir: Path) -> bool:
    """A checkpoint (or a refused legacy pickle, to be reported) is in `ckpt_dir`."""
    return (ckpt_dir / CHECKPOINT_FILE).is_file() or (ckpt_dir / LEGACY_CHECKPOINT_FILE).is_file()


@dataclass
class RunState:
    """What advances with every optimizer step (saved in the checkpoint)."""

    step: int = 0
    tokens_seen: int = 0  # non-padding tokens, all processes
    wall_s: float = 0.0
    data_digest: str = field(default_factory=lambda: hashlib.sha256().hexdigest())  # this rank's batches
    last_losses: dict[str, float] = field(default_factory=dict)


def save_checkpoint(
    ckpt_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loader: BatchLoader,
    state: RunState,
    obj: Objective,
    cfg: PretrainConfig,
    dist: DistInfo,
) -> None:
    """Weights, optimizer, scheduler, step and every rank's data position and RNG states, atomically."""
    rank_state = {"data": loader.state_dict(), "rng": rng_states(), "data_digest": state.data_digest}
    ranks = _gather_objects(rank_state, dist)
    if dist.is_main:
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "run": {k: v for k, v in asdict(state).items() if k != "data_digest"},
            "ranks": ranks,
            "objective": obj.name,
            "world_size": dist.world_size,
            "config": to_dict(cfg),
        }
        # One file replaced atomically (tmp + os.replace): a kill at any moment leaves the old or
        # the new checkpoint, never neither.
        save_state(ckpt_dir / CHECKPOINT_FILE, payload)
    barrier()


def load_checkpoint(
    ckpt_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loader: BatchLoader,
    obj: Objective,
    cfg: PretrainConfig,
    dist: DistInfo,
) -> RunState:
    """Restore everything save_checkpoint wrote; this rank's data position and RNG states last."""
    payload = read_checkpoint(ckpt_dir / CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE)
    if payload["objective"] != obj.name or payload["world_size"] != dist.world_size:
        raise ConfigError(
            f"{ckpt_dir} was written by objective {payload['objective']!r} with {payload['world_size']} "
            f"process(es); resume it with the same objective and process count "
            f"(now {obj.name!r} with {dist.world_size})"
        )
    _check_same_config(payload["config"], to_dict(cfg), ckpt_dir)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    mine = payload["ranks"][dist.rank]
    loader.load_state_dict(mine["data"])
    set_rng_states(mine["rng"])
    return RunState(**payload["run"], data_digest=mine["data_digest"])


# Settings a resumed run may change; any other difference would make the continuation a new run.
RESUMABLE_CHANGES = frozenset(
    {"max_steps", "log_every_steps", "checkpoint_every_steps", "tensorboard", "num_threads", "compile"}
)


def _check_same_config(saved: dict[str, Any], now: dict[str, Any], ckpt_dir: Path) -> None:
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        details = ", ".join(f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in changed)
        raise ConfigError(f"{ckpt_dir} was written with other settings ({details}); resume with those")


def _gather_objects(obj: Any, dist: DistInfo) -> list[Any]:
    if dist.world_size == 1:
        return [obj]
    gathered: list[Any] = [None] * dist.world_size
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over every parameter's bytes, in state-dict order."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_summary(out: Path, model: torch.nn.Module, state: RunState, dist: DistInfo) -> None:
    """train_summary.json: per rank, the digest of the batches it saw and of its final weights."""
    mine = {"rank": dist.rank, "data_digest": state.data_digest, "weights_digest": weights_digest(model)}
    ranks = _gather_objects(mine, dist)
    if dist.is_main:
        write_json(
            out / "train_summary.json",
            {"steps": state.step, "tokens_seen": state.tokens_seen, "wall_s": state.wall_s, "ranks": ranks},
        )
