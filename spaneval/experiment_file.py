"""Experiment grid files: a small TOML file naming models, tasks, seeds and an output folder.

    python -m spaneval experiment experiments/minilm-cpu.toml [--dry-run] [--only PATTERN]

Paths in the file are relative to the file itself. Every error names the file, the line and the key,
because a grid file is edited by hand and run for hours.

    name = "minilm-cpu"
    output = "../measured/minilm-cpu"          # results, derived data and pretrained models go here
    seeds = [1, 2, 3]

    [models.minilm]                            # a label, then exactly one of path / name / pretrain
    path = "../../shared/models/all-MiniLM-L6-v2"

    [models.spanbert-tiny.pretrain]            # pretrained by the experiment, into OUTPUT/models/LABEL
    objective = "spanbert"
    preset = "tiny"

    [derived.squad-heldout]                    # a data file built in code into OUTPUT/data/LABEL.json
    kind = "without_articles_of"
    source = "../../shared/data/squad/dev-v1.1.json"
    exclude = "../../shared/data/squad/train-from-v1.1-dev-extra-articles.json"

    [tasks.squad]                              # a label, then the task and its settings
    task = "squad"
    data = "../../shared/data/squad/train-from-v1.1-dev-extra-articles.json"
    eval_data = "derived:squad-heldout"
    overrides = { max_seq_len = 256, epochs = 2 }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from spaneval.errors import SpanevalError
from spaneval.registry import did_you_mean
from spaneval.userfiles import read_text

DERIVED_KINDS = {
    "without_articles_of": ("source", "exclude"),
    "split_articles": ("source", "first_n", "part"),
}
_TOP_KEYS = ("name", "description", "output", "seeds", "formats", "models", "tasks", "derived")
_MODEL_KEYS = ("path", "name", "pretrain", "lowercase", "revision")
_PRETRAIN_KEYS = ("objective", "preset", "corpus", "overrides")
_TASK_KEYS = ("task", "data", "eval_data", "preset", "overrides", "lowercase")
REPORT_FORMATS = ("md", "latex", "html")


@dataclass(frozen=True)
class PretrainSpec:
    """A model the experiment pretrains itself (pretrain.train.pretrain arguments)."""

    objective: str
    preset: str
    corpus: str | None  # None: the bundled corpus sample
    overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    """One model row of the grid: a registered name, a local folder, or one to pretrain first."""

    label: str
    model: str | None  # registered name or absolute folder; None when pretrained by the experiment
    pretrain: PretrainSpec | None = None
    lowercase: bool = False
    revision: str | None = None


@dataclass(frozen=True)
class TaskEntry:
    """One task column of the grid, with its data and the settings every model gets."""

    label: str
    task: str
    data: str | None  # a named source, an absolute path, or "derived:LABEL"
    eval_data: str | None
    preset: str | None
    overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DerivedData:
    """A data file derived in code from official files (spaneval.derived_data)."""

    label: str
    kind: str
    args: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Experiment:
    """A parsed grid file."""

    file: Path
    name: str
    description: str
    output: Path
    seeds: tuple[int, ...]
    formats: tuple[str, ...]
    models: tuple[ModelEntry, ...]
    tasks: tuple[TaskEntry, ...]
    derived: tuple[DerivedData, ...]


class _Located:
    """Raise errors that name the file, the line and the dotted key."""

    def __init__(self, file: Path, text: str) -> None:
        self.file, self.lines = file, text.splitlines()

    def line_of(self, table: tuple[str, ...], key: str | None = None) -> int | None:
        """1-based line of `key` in table `table` (or of the table header), found by reading the text."""
        current: tuple[str, ...] = ()
        header_line = None
        for number, raw in enumerate(self.lines, 1):
            line = raw.split("#", 1)[0].strip()
            header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                current = _dotted(header.group(1))
                if current[: len(table)] == table and header_line is None:
                    header_line = number
                continue
            name = re.match(r'^((?:"[^"]*"|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|[A-Za-z0-9_-]+))*)\s*=', line)
            if (
                name
                and key is not None
                and (*current, *_dotted(name.group(1)))[: len(table) + 1] == (*table, key)
            ):
                return number
        return header_line

    def error(self, table: tuple[str, ...], key: str | None, message: str) -> SpanevalError:
        where = ".".join([*table, key] if key else table) or "(top level)"
        line = self.line_of(table, key)
        at = f", line {line}" if line else ""
        return SpanevalError(f"{self.file}{at}: {where}: {message}")


def _dotted(text: str) -> tuple[str, ...]:
    """TOML dotted key parts, quoted parts kept whole: a."b.c" -> ("a", "b.c")."""
    return tuple(p.strip('"') for p in re.findall(r'"[^"]*"|[^.\s]+', text))


def apply_sets(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """`--set DOTTED.KEY=TOML_VALUE` edits before checking; `*` stands for every label of a table.

    e.g. --set 'models.*.pretrain.overrides.max_steps=2' --set 'seeds=[1]' (a smoke run of a grid).
    """
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpanevalError(f"--set {item!r}: expected DOTTED.KEY=VALUE, e.g. seeds=[1]")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word is a string
        _set_path(raw, _dotted(key.strip()), value, item)
    return raw


def _set_path(node: dict[str, Any], parts: tuple[str, ...], value: Any, item: str) -> None:
    head, rest = parts[0], parts[1:]
    targets = list(node.values()) if head == "*" else [node.setdefault(head, {} if rest else value)]
    if not rest:
        if head == "*":
            raise SpanevalError(f"--set {item!r}: '*' cannot be the last part")
        node[head] = value
        return
    for child in targets:
        if not isinstance(child, dict):
            raise SpanevalError(f"--set {item!r}: {head!r} is not a table")
        _set_path(child, rest, value, item)


def load_experiment(path: str | Path, sets: list[str] | None = None) -> Experiment:
    """Parse and check a grid file; every problem is a SpanevalError naming file, line and key."""
    file = Path(path)
    text = read_text(file)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpanevalError(f"{file}: not valid TOML: {err}") from None
    raw = apply_sets(raw, sets or [])
    loc = _Located(file, text)
    _check_keys(loc, (), raw, _TOP_KEYS)
    base = file.resolve().parent
    derived = tuple(_derived(loc, base, label, spec) for label, spec in _table(loc, raw, "derived").items())
    known_derived = {d.label for d in derived}
    seeds, formats = (
        _seeds(loc, raw.get("seeds", [1])),
        _formats(loc, raw.get("formats", list(REPORT_FORMATS))),
    )
    models = tuple(_model(loc, base, label, spec) for label, spec in _table(loc, raw, "models").items())
    tasks = tuple(
        _task(loc, base, label, spec, known_derived) for label, spec in _table(loc, raw, "tasks").items()
    )
    if not models or not tasks:
        raise loc.error((), "models" if not models else "tasks", "the grid needs at least one entry")
    return Experiment(
        file=file,
        name=_str(loc, (), "name", raw.get("name", file.stem)),
        description=_str(loc, (), "description", raw.get("description", "-")),
        output=(base / _str(loc, (), "output", _required(loc, (), raw, "output"))).resolve(),
        seeds=seeds,
        formats=formats,
        models=models,
        tasks=tasks,
        derived=derived,
    )


def _check_keys(loc: _Located, table: tuple[str, ...], raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in raw:
        if key not in allowed:
            hint = did_you_mean(key, list(allowed))
            raise loc.error(table, key, f"unknown key (known: {', '.join(allowed)}).{hint}")


def _required(loc: _Located, table: tuple[str, ...], raw: dict[str, Any], key: str) -> Any:
    if key not in raw:
        raise loc.error(table, None, f"missing required key {key!r}")
    return raw[key]


def _str(loc: _Located, table: tuple[str, ...], key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise loc.error(table, key, f"expected a non-empty string, got {value!r}")
    return value


def _table(loc: _Located, raw: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise loc.error((), key, f"expected tables such as [{key}.LABEL]")
    for label, entry in value.items():
        if entry and all(isinstance(v, dict) for v in entry.values()) and key != "models":
            raise loc.error((key, label), None, f'a label with a dot must be quoted: [{key}."{label}.…"]')
    return value


def _seeds(loc: _Located, value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(type(s) is int and s >= 0 for s in value)
    if not ok or len(set(value)) != len(value):
        raise loc.error((), "seeds", f"expected a list of distinct non-negative integers, got {value!r}")
    return tuple(value)


def _formats(loc: _Located, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or any(f not in REPORT_FORMATS for f in value):
        raise loc.error((), "formats", f"expected a list drawn from {', '.join(REPORT_FORMATS)}")
    return tuple(value)


def _overrides(loc: _Located, table: tuple[str, ...], value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise loc.error(table, "overrides", "expected an inline table such as { learning_rate = 3e-5 }")
    out = []
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise loc.error(table, "overrides", f"{key}: expected a number, string or boolean")
        out.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return tuple(out)


def _path(base: Path, value: str) -> str:
    return str((base / value).resolve())


def _data_ref(
    loc: _Located, table: tuple[str, ...], key: str, value: Any, base: Path, derived: set[str]
) -> Any:
    if value is None:
        return None
    value = _str(loc, table, key, value)
    if value.startswith("derived:"):
        if value[len("derived:") :] not in derived:
            hint = did_you_mean(value[len("derived:") :], sorted(derived))
            raise loc.error(table, key, f"no [derived.{value[8:]}] table in this file.{hint}")
        return value
    # A bare word is a named source of the task (litbank, bundled, semeval2010); anything else a path.
    return value if re.fullmatch(r"[A-Za-z0-9_-]+", value) else _path(base, value)


def _model(loc: _Located, base: Path, label: str, spec: dict[str, Any]) -> ModelEntry:
    table = ("models", label)
    _check_keys(loc, table, spec, _MODEL_KEYS)
    sources = [k for k in ("path", "name", "pretrain") if k in spec]
    if len(sources) != 1:
        raise loc.error(table, None, f"give exactly one of path, name, pretrain (got {sources or 'none'})")
    lowercase = spec.get("lowercase", False)
    if not isinstance(lowercase, bool):
        raise loc.error(table, "lowercase", "expected true or false")
    revision = spec.get("revision")
    if revision is not None:
        revision = _str(loc, table, "revision", revision)
    if "pretrain" in spec:
        return ModelEntry(label, None, _pretrain(loc, base, table, spec["pretrain"]), lowercase, revision)
    if "path" in spec:
        model = _path(base, _str(loc, table, "path", spec["path"]))
    else:
        model = _str(loc, table, "name", spec["name"])
    return ModelEntry(label, model, None, lowercase, revision)


def _pretrain(loc: _Located, base: Path, table: tuple[str, ...], spec: Any) -> PretrainSpec:
    table = (*table, "pretrain")
    if not isinstance(spec, dict):
        raise loc.error(table, None, "expected a table with objective and preset")
    _check_keys(loc, table, spec, _PRETRAIN_KEYS)
    corpus = spec.get("corpus")
    return PretrainSpec(
        objective=_str(loc, table, "objective", _required(loc, table, spec, "objective")),
        preset=_str(loc, table, "preset", _required(loc, table, spec, "preset")),
        corpus=None if corpus in (None, "bundled") else _path(base, _str(loc, table, "corpus", corpus)),
        overrides=_overrides(loc, table, spec.get("overrides", {})),
    )


def _task(loc: _Located, base: Path, label: str, spec: dict[str, Any], derived: set[str]) -> TaskEntry:
    table = ("tasks", label)
    _check_keys(loc, table, spec, _TASK_KEYS)
    preset = spec.get("preset")
    return TaskEntry(
        label=label,
        task=_str(loc, table, "task", spec.get("task", label)),
        data=_data_ref(loc, table, "data", spec.get("data"), base, derived),
        eval_data=_data_ref(loc, table, "eval_data", spec.get("eval_data"), base, derived),
        preset=None if preset is None else _str(loc, table, "preset", preset),
        overrides=_overrides(loc, table, spec.get("overrides", {})),
    )


def _derived(loc: _Located, base: Path, label: str, spec: dict[str, Any]) -> DerivedData:
    table = ("derived", label)
    kind = _str(loc, table, "kind", _required(loc, table, spec, "kind"))
    if kind not in DERIVED_KINDS:
        hint = did_you_mean(kind, list(DERIVED_KINDS))
        raise loc.error(table, "kind", f"unknown kind {kind!r} (known: {', '.join(DERIVED_KINDS)}).{hint}")
    _check_keys(loc, table, spec, ("kind", *DERIVED_KINDS[kind]))
    args: dict[str, Any] = {}
    for key in DERIVED_KINDS[kind]:
        value = _required(loc, table, spec, key)
        if key in ("source", "exclude"):
            args[key] = _path(base, _str(loc, table, key, value))
        elif key == "first_n":
            if type(value) is not int or value < 1:
                raise loc.error(table, key, f"expected a positive integer, got {value!r}")
            args[key] = value
        elif value not in ("first", "rest"):
            raise loc.error(table, key, f"expected 'first' or 'rest', got {value!r}")
        else:
            args[key] = value
    return DerivedData(label, kind, args)
