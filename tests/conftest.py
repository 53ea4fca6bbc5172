"""Shared fixtures: the optional full data sets in ../shared/data, and the bundled samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spaneval.data_paths import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "spaneval" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $SPANEVAL_SHARED_DATA); the test is skipped when it is absent."""
    found = shared_data_dir()
    if found is None:
        pytest.skip("full data sets not available (../shared/data); set SPANEVAL_SHARED_DATA")
    return found


@pytest.fixture(scope="session")
def bundled() -> Path:
    """The real samples shipped inside the package."""
    return BUNDLED


@pytest.fixture(scope="session")
def minilm() -> Path:
    """../shared/models/all-MiniLM-L6-v2, a real pretrained uncased BertModel; skipped when absent."""
    env = os.environ.get("SPANEVAL_SHARED_MODELS")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "models"]:
        if (cand / "all-MiniLM-L6-v2" / "config.json").is_file():
            return cand / "all-MiniLM-L6-v2"
    pytest.skip("real model not available (../shared/models/all-MiniLM-L6-v2); set SPANEVAL_SHARED_MODELS")
