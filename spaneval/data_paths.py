"""Where the optional full data sets are: $SPANEVAL_SHARED_DATA, else ../shared/data beside the checkout.

One lookup for the tasks, benchmarks and test fixtures, so the order of the places looked in is
the same everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data_roots() -> list[Path]:
    """The places the shared data may be, first match wins: $SPANEVAL_SHARED_DATA, ../shared/data."""
    env = os.environ.get("SPANEVAL_SHARED_DATA")
    return ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]


def shared_data_dir() -> Path | None:
    """The first existing shared-data root, or None."""
    return next((root for root in shared_data_roots() if root.is_dir()), None)


def shared_path(*parts: str) -> Path | None:
    """The existing directory or file `parts` below the first root that has it, or None."""
    return next(
        (root.joinpath(*parts) for root in shared_data_roots() if root.joinpath(*parts).exists()), None
    )


def default_shared_path(*parts: str) -> Path:
    """`parts` below the first shared-data root, whether or not it exists (a default to report)."""
    return shared_data_roots()[0].joinpath(*parts)
