"""Reading files the user names: one DataError line naming the file for a missing file, a
directory, bytes that are not UTF-8, or JSON that is malformed or nested too deeply (json.loads
raises RecursionError on 100,000 nested brackets)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spaneval.errors import DataError


def read_text(path: str | os.PathLike) -> str:
    """The file's text (UTF-8)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "cannot read the file: not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "cannot read the file: it is a directory") from None
    except OSError as err:
        raise DataError(path, None, f"cannot read the file: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            path, f"line {line}", f"not UTF-8 text (byte {err.start}); convert the file to UTF-8"
        ) from None


def parse_json(text: str, path: str | os.PathLike) -> Any:
    """`text` (read from `path`) as JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        problem = f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        raise DataError(path, None, problem) from None
    except RecursionError:
        raise DataError(path, None, "JSON nested too deeply to be data") from None


def read_json(path: str | os.PathLike) -> Any:
    return parse_json(read_text(path), path)
