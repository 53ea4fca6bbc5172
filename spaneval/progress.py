"""Progress of long loops (pretraining, fine-tuning, prediction), always on stderr.

On a terminal: a tqdm bar. Elsewhere (log files, CI, pipes): plain lines, one per `set_postfix`
call, with an ETA, because a bar's carriage returns pile up into one unreadable line in a file.
Until the first step finishes a heartbeat line says the loop is still alive: the first step is
the slow one (allocation, kernel selection, torch.compile) and can take minutes at base size.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

HEARTBEAT_S = 15.0


def progress_bar(
    total: int,
    initial: int = 0,
    *,
    desc: str,
    unit: str = "step",
    enabled: bool = True,
    heartbeat_s: float = HEARTBEAT_S,
) -> Any:
    """A tqdm bar on a terminal, else a `LineProgress`; both take update(n) and set_postfix(**values)."""
    if enabled and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, mininterval=1.0, file=sys.stderr)

        def write(message: str) -> None:  # above the bar instead of through it
            tqdm.write(message, file=sys.stderr)

    else:
        bar, write = LineProgress(total, initial, desc, unit, enabled), _stderr
    first = f"[spaneval] {desc}: {unit} {initial + 1}/{total}"
    return _WithHeartbeat(bar, write, first, unit, heartbeat_s if enabled and initial < total else 0)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class LineProgress:
    """The part of tqdm's interface the loops use, printing one line per set_postfix call."""

    def __init__(self, total: int, initial: int, desc: str, unit: str, enabled: bool = True):
        self.total, self.n, self.first, self.desc, self.unit = total, initial, initial, desc, unit
        self.enabled, self.t0 = enabled, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        """Called just before update() for the step it describes."""
        if not self.enabled:
            return
        done = self.n + 1 - self.first
        eta_s = (time.perf_counter() - self.t0) / max(done, 1) * (self.total - self.n - 1)
        shown = "".join(f" {k} {v}" for k, v in values.items())
        _stderr(f"[spaneval] {self.desc}: {self.unit} {self.n + 1}/{self.total}{shown} eta {eta_s:.0f} s")

    def close(self) -> None:
        return None


class _WithHeartbeat:
    """Wraps a bar; until its first update a daemon thread reports every `interval_s` seconds."""

    def __init__(self, bar: Any, write, first: str, unit: str, interval_s: float):
        self.bar, self._stop = bar, threading.Event()
        if interval_s > 0:
            args = (interval_s, first, unit, write)
            threading.Thread(target=self._beat, args=args, daemon=True).start()

    def _beat(self, interval_s: float, first: str, unit: str, write) -> None:
        t0 = time.perf_counter()
        while not self._stop.wait(interval_s):
            elapsed_s = time.perf_counter() - t0
            write(f"{first} still running after {elapsed_s:.0f} s (the first {unit} is the slowest)")

    def update(self, n: int = 1) -> None:
        self._stop.set()
        self.bar.update(n)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.bar.set_postfix(refresh=refresh, **values)

    def close(self) -> None:
        self._stop.set()
        self.bar.close()
