"""Errors that speak to the user. The CLI prints their message and exits 2, never a traceback."""

from __future__ import annotations


class SpanevalError(Exception):
    """A problem the user can fix: bad input, an unknown name, a missing model or data set."""


class DataError(SpanevalError):
    """Bad input data. The message names the file, the record and what was expected."""

    def __init__(self, path: object, record: object | None, problem: str):
        self.path, self.record, self.problem = str(path), record, problem
        shown = record if record is None or len(str(record)) <= EXCERPT_CHARS else excerpt(record)
        where = f"{self.path}" + (f", record {shown}" if shown is not None else "")
        super().__init__(f"{where}: {problem}")


class ConfigError(SpanevalError):
    """An override or preset that does not fit the typed config."""


class HubUnavailableError(SpanevalError):
    """A model or data set is only on the hub, and the hub cannot be reached."""


EXCERPT_CHARS = 60


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """`text` quoted for an error message, cut to `limit` characters: a message that echoes a
    whole input line (a FewRel record is one 3.5 MB line) buries the problem it reports."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"
