"""`spaneval dashboard` as a process: SIGTERM stops the Streamlit server it started, too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc/*/status: no psutil needed)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:  # the process ended while we looked
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_the_streamlit_server(tmp_path):
    command = [sys.executable, "-m", "spaneval", "dashboard", "--results", str(tmp_path)]
    parent = subprocess.Popen(
        [*command, "--port", str(_free_port())],
        cwd=REPO,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        deadline = time.monotonic() + 120  # a wait for the server to be spawned, not a timing check
        while server is None and time.monotonic() < deadline and parent.poll() is None:
            server = next(iter(_children(parent.pid)), None)
            time.sleep(0.2)
        assert server is not None, "spaneval dashboard started no server process"
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=120) == 0
        assert not _alive(server), "the Streamlit server outlived `spaneval dashboard`"
    finally:
        for pid in [server] if server and _alive(server) else []:
            os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
