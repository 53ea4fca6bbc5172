"""`python -m spaneval dashboard`: a thin wrapper over `streamlit run` on the leaderboard app
(`dashboards/app.py` in the repository, installed as `spaneval.dashboards`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import spaneval
import spaneval.dashboards

APP = Path(spaneval.dashboards.__file__).resolve().parent / "app.py"


# Streamlit listens on every interface by default; results and predictions are private until the
# user asks to share them (--host 0.0.0.0).
DEFAULT_HOST = "127.0.0.1"


def streamlit_command(
    results_dir: str, port: int | None, extra_args: list[str], host: str = DEFAULT_HOST
) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, listening on `host` only,
    the app reads --results."""
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false", "--server.address", host]
    if port is not None:
        command += ["--server.port", str(port)]
    return [*command, *extra_args, "--", "--results", str(Path(results_dir).resolve())]


def streamlit_env() -> dict[str, str]:
    """The environment with the directory holding the `spaneval` package on PYTHONPATH, so the app
    imports it however spaneval was installed (streamlit puts only the script's folder there)."""
    root = str(Path(spaneval.__file__).resolve().parents[1])
    existing = os.environ.get("PYTHONPATH")
    return os.environ | {"PYTHONPATH": root + (os.pathsep + existing if existing else "")}


def dashboard(results_dir: str, port: int | None, extra_args: list[str], host: str = DEFAULT_HOST) -> int:
    """Serve the leaderboard for `results_dir` until interrupted; returns streamlit's exit code.

    SIGTERM (a service manager, `kill`) stops the Streamlit server too: without the handler the
    default action ends this process only and leaves the server running, orphaned.
    """
    print(f"[spaneval] dashboard for {Path(results_dir).resolve()} on {host} (Ctrl-C to stop)", flush=True)
    command = streamlit_command(results_dir, port, list(extra_args), host)
    server = subprocess.Popen(command, env=streamlit_env())
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        code = server.wait()
        return 0 if code == -signal.SIGTERM else code  # stopped as asked
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group); let it finish
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_server(server)


def stop_server(server: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Terminate the server if it still runs, then kill it if it has not exited after `grace_s`."""
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
