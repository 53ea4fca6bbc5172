"""Atomic writes: a crash or an interrupt never leaves a half-written file or directory behind.
And the output lock: two commands never write into one output directory at once."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from spaneval.errors import SpanevalError

LOCK_FILE = ".spaneval.lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(path, len(data)) from None
        raise


def _disk_full(path: Path, needed_bytes: int, bound: str = "") -> SpanevalError:
    free = shutil.disk_usage(path.parent).free
    return SpanevalError(
        f"no space left to write {path}: {bound}{needed_bytes / 1e6:.1f} MB needed, "
        f"{free / 1e6:.1f} MB free; free some space and run the command again "
        "(what was written before is intact)"
    )


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Delete temporary files of earlier writes of `path` that a kill (SIGKILL, power loss) left
    behind. Only for files one process writes at a time (checkpoints, under output_lock)."""
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: object, indent: int | None = 1) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_dir(path: str | os.PathLike, fill: Callable[[Path], None]) -> None:
    """Build a directory with `fill(tmp_dir)`, then swap it into place.

    The old directory (if any) is kept until the new one is complete, so an interrupt leaves
    either the old or the new directory, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        fill(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _replace_unless_beaten(tmp, path)
    except BaseException as err:
        written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(path, written, "more than ") from None
        raise


def _replace_unless_beaten(tmp: Path, path: Path) -> None:
    """Move `tmp` to the new `path`. If another process built the same directory meanwhile (two first
    runs filling one cache), its copy stays and ours is dropped: both were built from the same inputs."""
    try:
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not path.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (created if needed) while the block runs.

    A second command on the same directory stops at once with a message instead of interleaving its
    files with the first one's. The lock is an flock on `directory/.spaneval.lock`, so the system
    releases it when the holder exits, even when killed. A directory that cannot be written is
    reported here too, before any data is loaded.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise _not_writable(directory, err) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise SpanevalError(
                f"{directory} is in use by {holder}; wait for it to finish or choose another output"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"spaneval {command} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_writable(directory: str | os.PathLike) -> None:
    """SpanevalError now, rather than after minutes of loading and training, if nothing can be
    written in `directory` (created if needed)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise _not_writable(directory, err) from None


def _not_writable(directory: Path, err: OSError) -> SpanevalError:
    return SpanevalError(f"cannot write to {directory} ({err.strerror}); choose a writable output directory")
