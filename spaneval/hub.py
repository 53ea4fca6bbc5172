"""Every hub access goes through here, so that an offline machine fails in seconds, not minutes.

Without help the hub libraries retry for 23-46 s before giving up on an unreachable hub. We check
first: `HF_HUB_OFFLINE` set -> no network at all; otherwise one TCP connection attempt with a short
timeout (bounded DNS included), cached for the process.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from spaneval.errors import HubUnavailableError

PROBE_TIMEOUT_S = 3.0
_reachable: dict[str, bool] = {}


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for no network access."""
    return any(
        os.environ.get(v, "").upper() in {"1", "ON", "YES", "TRUE"}
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_host() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlparse(endpoint).hostname or "huggingface.co"


def hub_reachable(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connection to the hub (port 443), at most `timeout_s` including name resolution."""
    host = hub_host()
    if host not in _reachable:
        result: list[bool] = []

        def probe() -> None:
            try:
                with socket.create_connection((host, 443), timeout=timeout_s):
                    result.append(True)
            except OSError:
                result.append(False)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(timeout_s)
        _reachable[host] = bool(result and result[0])
    return _reachable[host]


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (huggingface_hub reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = (
        os.environ.get("HF_HOME")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    )
    return Path(home) / "hub"


def cached_snapshot(repo_id: str, revision: str | None, repo_type: str = "model") -> Path | None:
    """The local snapshot directory of a cached hub repo at `revision`, or None."""
    from huggingface_hub import try_to_load_from_cache

    probe_file = "config.json" if repo_type == "model" else "README.md"
    found = try_to_load_from_cache(
        repo_id, probe_file, cache_dir=hub_cache_dir(), revision=revision, repo_type=repo_type
    )
    return Path(found).parent if isinstance(found, str) else None


def require_hub(what: str, ways_out: str) -> None:
    """Raise HubUnavailableError now if `what` would need the hub and the hub cannot be used."""
    if hub_offline():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable():
        reason = f"the hub ({hub_host()}) cannot be reached from this machine"
    else:
        return
    raise HubUnavailableError(
        f"{what} is not available locally and {reason}.\n"
        f"Ways to proceed:\n{ways_out}\n"
        "  - on a machine with internet access, run the same command once to fill the Hugging Face cache "
        "(~/.cache/huggingface), copy the cache here and set HF_HUB_OFFLINE=1"
    )
