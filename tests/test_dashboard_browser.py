"""The leaderboard in a real headless browser (Debian's /usr/bin/chromium, driven by Playwright).

Results come from a tiny real run (`spaneval run squad --model tiny`, spanbert-free: the tiny test
encoder) when the runner can produce one offline, else from the synthetic record builder; the test
output says which. A screenshot is saved under tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from spaneval import dashboard
from tests.records import build_results

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a tiny fine-tuning run (two seeds) and a browser: about 80 s on 2 CPU cores
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium not installed (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    from spaneval.cli import main as cli_main

    try:
        code = cli_main(
            ["run", "squad", "--model", "tiny", "--output", str(root), "--seeds", "1,2", "max_steps=5"]
        )
    except Exception as err:  # the runner is not this test's subject: fall back, and say so
        code = f"{type(err).__name__}: {err}"
    if code != 0 or not list(root.glob("**/record.json")):
        warnings.warn(f"tiny run unavailable ({code}); browser test uses synthetic records", stacklevel=1)
        build_results(root / "synthetic", bad_files=False)
        return root / "synthetic"
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout_s} s")


@pytest.fixture(scope="module")
def server(results):
    port = _free_port()
    command = dashboard.streamlit_command(str(results), port, [])
    process = subprocess.Popen(
        command, env=dashboard.streamlit_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_leaderboard_loads_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard_leaderboard.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("heading", name="Leaderboard").wait_for(timeout=60_000)
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1000)  # let the data grid paint before the screenshot
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot saved to {shot}")
