"""Explicit randomness: one seed per run, turned into Generators and torch seeds in one place."""

from __future__ import annotations

import random

import numpy as np


def generator(seed: int) -> np.random.Generator:
    """A numpy Generator for `seed` (PCG64)."""
    return np.random.default_rng(seed)


def seed_everything(seed: int) -> None:
    """Seed python, numpy's legacy global state and torch (CPU and all GPUs)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
