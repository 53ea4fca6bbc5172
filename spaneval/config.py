"""Typed configuration: frozen dataclasses, `key=value` overrides checked against field types.

Each field carries a one-line doc and, if it is a number, its allowed range
(`option(default, doc, min=, max=, above=, below=)`), both shown by `spaneval ls`. Every config
class calls `check_ranges(self)` in `__post_init__`, so no config object outside its ranges can
exist, whether it comes from defaults, a preset or a `key=value` override. Presets are plain dicts
of overrides, defined next to the code they configure, each citing its source.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from spaneval.errors import ConfigError
from spaneval.registry import did_you_mean


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a number: min/max inclusive, above/below exclusive; always finite."""

    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    def allows(self, value: float) -> bool:
        return (
            math.isfinite(value)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
            and (self.above is None or value > self.above)
            and (self.below is None or value < self.below)
        )

    def describe(self, key: str) -> str:
        """'0 <= warmup_ratio <= 1', 'learning_rate > 0', ..."""
        low = f"{_num(self.min)} <= " if self.min is not None else ""
        low = f"{_num(self.above)} < " if self.above is not None else low
        high = f" <= {_num(self.max)}" if self.max is not None else ""
        high = f" < {_num(self.below)}" if self.below is not None else high
        return f"{low}{key}{high}" if low or high else f"{key} finite"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else str(x)


def option(
    default: Any,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> Any:
    """A dataclass field with a default, a one-line doc and, for numbers, the allowed range."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults in frozen configs")
    metadata = {"doc": doc, "range": Range(min, max, above, below)}
    return dataclasses.field(default=default, metadata=metadata)


def check_ranges(cfg: Any) -> None:
    """Raise ConfigError naming the key and its allowed range for any number outside its range.

    A number field without a declared range is a programming error (TypeError), so every numeric
    option of every config class is checked."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not _is_number_type(hints[f.name]) or value is None:
            continue
        allowed = f.metadata.get("range")
        if allowed is None or allowed == Range():
            raise TypeError(f"{type(cfg).__name__}.{f.name}: declare its range in option(...)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not allowed.allows(value):
            raise ConfigError(f"{f.name}={value!r} is out of range: expected {allowed.describe(f.name)}")


def _is_number_type(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_number_type(a) for a in typing.get_args(tp))
    return tp in (int, float)


def field_docs(cls: type) -> dict[str, tuple[str, Any, str]]:
    """{field name: (type name, default, doc with the allowed range)} for a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (_type_name(hints[f.name]), f.default, _doc(f, hints[f.name]))
        for f in dataclasses.fields(cls)
    }


def _doc(f: dataclasses.Field, tp: Any) -> str:
    doc, allowed = f.metadata.get("doc", ""), f.metadata.get("range")
    return f"{doc} [{allowed.describe(f.name)}]" if _is_number_type(tp) and allowed else doc


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
