"""Lookup in plain-dict registries, with the known names and a did-you-mean on a miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from spaneval.errors import SpanevalError

T = TypeVar("T")


class UnknownNameError(SpanevalError):
    """A task, model, preset, objective or config key that is not registered."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' Did you mean 'x'?' for the closest known name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def lookup(registry: Mapping[str, T], name: str, kind: str) -> T:
    """registry[name], or an UnknownNameError listing the known names and the closest match."""
    if name in registry:
        return registry[name]
    known = ", ".join(sorted(registry))
    raise UnknownNameError(f"unknown {kind} {name!r}.{did_you_mean(name, registry)} Known {kind}s: {known}.")
