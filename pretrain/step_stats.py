"""Per-step losses, tokens and gradient norms, kept on the device and read back at log points.

Reading a loss (`.item()`, `.cpu()`) makes the host wait until the device has finished the step,
so the next step's kernels cannot be queued while this one runs. The training loop therefore
hands every step's statistics row to a StepStats window and reads the whole window back in one
copy every `log_every_steps` steps (and before each checkpoint); metrics.jsonl still gets one
row per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOSS_NAMES = ("loss", "mlm_loss", "sbo_loss", "nsp_loss")
ROW_WIDTH = len(LOSS_NAMES) + 2  # losses summed over micro-batches, tokens, gradient norm


@dataclass
class StepRecord:
    """One optimizer step as the host sees it after a read-back."""

    step: int
    losses: dict[str, float]  # mean over all processes' micro-batches
    tokens: int  # non-padding tokens, all processes
    grad_norm: float
    lr: float  # learning rate after the step (as the scheduler reports it)

    def problem(self) -> str | None:
        """What is not finite ('loss nan', 'gradient norm inf'), or None."""
        if not math.isfinite(self.losses["loss"]):
            return f"loss {self.losses['loss']}"
        if not math.isfinite(self.grad_norm):
            return f"gradient norm {self.grad_norm}"
        return None


class StepStats:
    """Statistics rows [ROW_WIDTH] of the steps since the last read-back, still on the device."""

    def __init__(self, loss_names: tuple[str, ...], micro_batches_per_step: int):
        self.loss_names = loss_names  # the losses this objective has, a subset of LOSS_NAMES
        self.micro_batches = micro_batches_per_step  # over all processes
        self._rows: list[torch.Tensor] = []
        self._steps: list[tuple[int, float]] = []

    def add(self, step: int, lr: float, row: torch.Tensor) -> None:
        self._rows.append(row)
        self._steps.append((step, lr))

    def read(self) -> list[StepRecord]:
        """The pending steps, in order, with one device-to-host copy; the window is emptied."""
        if not self._rows:
            return []
        table = torch.stack(self._rows).double().cpu()  # [steps, ROW_WIDTH], the one host sync
        records = [
            self._record(step, lr, row.tolist()) for (step, lr), row in zip(self._steps, table, strict=True)
        ]
        self._rows, self._steps = [], []
        return records

    def _record(self, step: int, lr: float, row: list[float]) -> StepRecord:
        losses = {
            name: row[i] / self.micro_batches for i, name in enumerate(LOSS_NAMES) if name in self.loss_names
        }
        return StepRecord(step, losses, int(row[len(LOSS_NAMES)]), row[-1], lr)
