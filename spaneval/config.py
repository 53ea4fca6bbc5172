"""Typed configuration: frozen dataclasses, `key=value` overrides checked against field types.

Each field carries a one-line doc (`option(default, doc)`), shown by `spaneval ls`. Presets are
plain dicts of overrides, defined next to the code they configure, each citing its source.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from spaneval.errors import ConfigError
from spaneval.registry import did_you_mean


def option(default: Any, doc: str) -> Any:
    """A dataclass field with a default and a one-line doc."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults in frozen configs")
    return dataclasses.field(default=default, metadata={"doc": doc})


def field_docs(cls: type) -> dict[str, tuple[str, Any, str]]:
    """{field name: (type name, default, doc)} for a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (_type_name(hints[f.name]), f.default, f.metadata.get("doc", ""))
        for f in dataclasses.fields(cls)
    }


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(key: str, text: str, tp: Any) -> Any:
    """Convert the override text for `key` to the field type `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in {"none", "null"} and len(args) < len(typing.get_args(tp)):
            return None
        return parse_value(key, text, args[0])
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if text not in allowed:
            choices = [str(a) for a in allowed]
            hint = did_you_mean(text, choices)
            raise ConfigError(f"{key}={text!r}: expected one of {', '.join(choices)}.{hint}")
        return text
    if origin is tuple:
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return tuple(parse_value(key, part.strip(), inner) for part in text.split(",") if part.strip())
    if tp is bool:
        low = text.lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ConfigError(f"{key}={text!r}: expected a boolean (true/false)")
    if tp in (int, float):
        try:
            return tp(float(text)) if tp is int and _is_integral(text) else tp(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected {tp.__name__}") from None
    return text


def _is_integral(text: str) -> bool:
    try:
        return float(text).is_integer() and ("e" in text.lower() or "." in text)
    except ValueError:
        return False


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """['lr=3e-5', 'epochs=2'] -> {'lr': '3e-5', 'epochs': '2'}; malformed items are errors."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(configs: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Replace fields across several config objects ({"task": cfg, "train": cfg}) by field name.

    Values may be strings (parsed against the field type) or already-typed values (presets).
    An unknown key is a ConfigError with a did-you-mean over all known fields.
    """
    owners = {f.name: part for part, cfg in configs.items() for f in dataclasses.fields(cfg)}
    changes: dict[str, dict[str, Any]] = {part: {} for part in configs}
    for key, value in overrides.items():
        if key not in owners:
            raise ConfigError(
                f"unknown config key {key!r}.{did_you_mean(key, owners)} "
                f"Run `python -m spaneval ls` to list the keys."
            )
        part = owners[key]
        tp = typing.get_type_hints(type(configs[part]))[key]
        changes[part][key] = parse_value(key, value, tp) if isinstance(value, str) else value
    return {part: dataclasses.replace(cfg, **changes[part]) for part, cfg in configs.items()}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
