"""Errors that speak to the user. The CLI prints their message and exits 2, never a traceback."""

from __future__ import annotations


class SpanevalError(Exception):
    """A problem the user can fix: bad input, an unknown name, a missing model or data set."""


class DataError(SpanevalError):
    """Bad input data. The message names the file, the record and what was expected."""

    def __init__(self, path: object, record: object | None, problem: str):
        self.path, self.record, self.problem = str(path), record, problem
        where = f"{self.path}" + (f", record {record}" if record is not None else "")
        super().__init__(f"{where}: {problem}")


class ConfigError(SpanevalError):
    """An override or preset that does not fit the typed config."""


class HubUnavailableError(SpanevalError):
    """A model or data set is only on the hub, and the hub cannot be reached."""
