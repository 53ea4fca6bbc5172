"""`python -m spaneval experiment FILE`: run every cell of a models x tasks x seeds grid, then report.

A cell is finished when a record under the grid's output folder has the cell's task, model, seed,
data and resolved configuration; those cells are skipped, so an interrupted grid resumes where it
stopped (an interrupted cell continues from its last checkpoint). A failing cell is reported and
the others still run. The grid file format is in spaneval/experiment_file.py.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaneval.config import to_dict
from spaneval.errors import SpanevalError
from spaneval.experiment_file import Experiment, ModelEntry, TaskEntry, load_experiment
from spaneval.registry import lookup

_REQUEST_KEYS = ("task", "model", "data", "eval_data", "seed", "preset", "overrides", "revision", "lowercase")


@dataclass(frozen=True)
class Cell:
    """One fine-tuning run of the grid."""

    model: ModelEntry
    task: TaskEntry
    seed: int

    @property
    def cell_id(self) -> str:
        return f"{self.model.label}/{self.task.label}/{self.seed}"


def cells_of(exp: Experiment, only: list[str] | None = None) -> list[Cell]:
    """Seed-major order, so that every model/task pair has a first seed before any has a second."""
    cells = [Cell(m, t, s) for s in exp.seeds for t in exp.tasks for m in exp.models]
    if only:
        cells = [c for c in cells if any(_matches(c, pattern) for pattern in only)]
        if not cells:
            raise SpanevalError(
                f"--only {' '.join(only)}: no cell matches; cells are MODEL/TASK/SEED, e.g. "
                f"{exp.models[0].label}/{exp.tasks[0].label}/{exp.seeds[0]}"
            )
    return cells


def _matches(cell: Cell, pattern: str) -> bool:
    if "/" in pattern:
        return fnmatch.fnmatchcase(cell.cell_id, pattern)
    return any(fnmatch.fnmatchcase(part, pattern) for part in cell.cell_id.split("/"))


def model_ref(exp: Experiment, entry: ModelEntry) -> str:
    """What `run --model` gets: the registered name, the folder, or the experiment's pretrained folder."""
    if entry.pretrain is None:
        return entry.model or ""
    return str((exp.output / "models" / entry.label / "model").resolve())


def data_path(exp: Experiment, ref: str | None) -> str | None:
    if ref is not None and ref.startswith("derived:"):
        return str((exp.output / "data" / f"{ref[len('derived:') :]}.json").resolve())
    return ref


def request_fields(exp: Experiment, cell: Cell) -> dict[str, Any]:
    """The RunRequest fields that identify the cell (results folder and command aside)."""
    return {
        "task": cell.task.task,
        "model": model_ref(exp, cell.model),
        "data": data_path(exp, cell.task.data),
        "eval_data": data_path(exp, cell.task.eval_data),
        "seed": cell.seed,
        "preset": cell.task.preset,
        "overrides": cell.task.overrides,
        "revision": cell.model.revision,
        "lowercase": cell.model.lowercase,
    }


@functools.cache
def expected_config(cell: Cell) -> dict[str, Any]:
    """The resolved task and train configuration the cell's record must carry (computed once per
    cell: it is compared with every run found; callers must not modify it)."""
    from spaneval.runner import build_configs
    from spaneval.tasks.registry import TASKS

    task = lookup(TASKS, cell.task.task, "task")
    cfgs = build_configs(task, cell.task.preset, dict(cell.task.overrides))
    return {
        "task": to_dict(cfgs["task"]),
        "train": to_dict(cfgs["train"]),
        "defaults": _defaults(cfgs),
        "task_version": task.info.version,
    }


def _defaults(cfgs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: to_dict(type(cfg)()) for name, cfg in cfgs.items()}


# ---------------------------------------------------------------------------------------------------
# Which cells are finished: compare with the records already under the output folder.


@dataclass(frozen=True)
class FoundRun:
    run_dir: Path
    record: dict[str, Any] | None  # None: started, not finished
    request: dict[str, Any] | None  # run_args.json


def found_runs(output: Path) -> list[FoundRun]:
    """Every run directory under `output` (a folder holding run_args.json or record.json)."""
    runs = []
    dirs = {p.parent for p in output.rglob("run_args.json")} | {p.parent for p in output.rglob("record.json")}
    for run_dir in sorted(dirs):
        runs.append(FoundRun(run_dir, _read(run_dir / "record.json"), _read(run_dir / "run_args.json")))
    return runs


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _same_path(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a == b
    return a == b or Path(str(a)).resolve() == Path(str(b)).resolve()


def _same_data(found_source: Any, split_info: dict[str, Any], want: str) -> bool:
    """A named source matches by name; a file by path, or by content when it was moved or rebuilt
    elsewhere (a derived file in another output folder, the shared data at another place)."""
    if _same_path(found_source, want):
        return True
    from spaneval.tasks.base import file_fingerprint

    path = Path(want)
    return path.is_file() and split_info.get("fingerprint") == file_fingerprint(path)


def _config_matches(found: dict[str, Any], expected: dict[str, Any], defaults: dict[str, Any]) -> bool:
    # A key the record lacks was added to spaneval after the run: it matches if the cell leaves it at
    # its default, since the run behaved as that default does.
    for key, value in expected.items():
        if key in found:
            if found[key] != value and not (isinstance(value, tuple) and found[key] == list(value)):
                return False
        elif value != defaults.get(key):
            return False
    return True


def record_matches(
    exp: Experiment, cell: Cell, record: dict[str, Any], request: dict[str, Any] | None
) -> bool:
    """Whether a finished record is the cell's run (model, data, seed and resolved configuration)."""
    want = request_fields(exp, cell)
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    eval_info = data.get("eval") if isinstance(data.get("eval"), dict) else {}
    if record.get("seed") != want["seed"] or not _same_model_and_task(exp, cell, record):
        return False
    if config.get("preset") != want["preset"]:
        return False
    train_info = data.get("train") if isinstance(data.get("train"), dict) else {}
    if want["data"] is not None and not _same_data(data.get("source"), train_info, want["data"]):
        return False
    if want["eval_data"] is not None and not _same_data(eval_info.get("path"), eval_info, want["eval_data"]):
        return False
    if request is not None and bool(request.get("lowercase", False)) != want["lowercase"]:
        return False
    expected = expected_config(cell)
    if record.get("task_version", expected["task_version"]) != expected["task_version"]:
        return False  # the task changed how it trains or scores since this run
    return all(
        _config_matches(config.get(part) or {}, expected[part], expected["defaults"][part])
        for part in ("task", "train")
    )


def request_matches(exp: Experiment, cell: Cell, request: dict[str, Any] | None) -> bool:
    """Whether an unfinished run directory was started by this cell (so it can be resumed)."""
    if request is None:
        return False
    want = request_fields(exp, cell)
    got = {k: request.get(k) for k in _REQUEST_KEYS}
    got["overrides"] = tuple(tuple(kv) for kv in got.get("overrides") or ())
    return got == want


def cell_status(exp: Experiment, cell: Cell, runs: list[FoundRun]) -> tuple[str, FoundRun | None]:
    """("done", run) | ("resume", run) | ("todo", None)."""
    for run in runs:
        if run.record is not None and record_matches(exp, cell, run.record, run.request):
            return "done", run
    for run in runs:
        if (
            run.record is None
            and (run.run_dir / "checkpoint").is_dir()
            and request_matches(exp, cell, run.request)
        ):
            return "resume", run
    return "todo", None


# ---------------------------------------------------------------------------------------------------
# Running the grid.


def build_derived(exp: Experiment) -> None:
    """Write every derived data file into OUTPUT/data (deterministic; rebuilt each time, atomically)."""
    from spaneval import derived_data

    for d in exp.derived:
        out = exp.output / "data" / f"{d.label}.json"
        if d.kind == "without_articles_of":
            derived_data.without_articles_of(Path(d.args["source"]), Path(d.args["exclude"]), out)
        else:
            derived_data.split_articles(Path(d.args["source"]), d.args["first_n"], d.args["part"], out)


def pretrain_models(exp: Experiment, cells: list[Cell]) -> None:
    """Pretrain the grid's own models that the selected cells need (finished ones are reused)."""
    from spaneval.pretrain.train import pretrain

    needed = {c.model.label: c.model for c in cells if c.model.pretrain is not None}
    for label, entry in needed.items():
        spec = entry.pretrain
        _say(exp, f"pretraining {label}: {spec.objective}, preset {spec.preset}")
        out = exp.output / "models" / label
        pretrain(spec.objective, spec.preset, spec.corpus, str(out), dict(spec.overrides), resume=True)


def run_cell(exp: Experiment, cell: Cell, status: str, found: FoundRun | None) -> Path | None:
    from spaneval.runner import RunRequest, run_task

    fields = request_fields(exp, cell)
    request = RunRequest(
        **fields,
        results_dir=str(exp.output),
        command=f"python -m spaneval experiment {exp.file} --only {cell.cell_id}",
    )
    return run_task(request, resume_dir=found.run_dir if status == "resume" and found else None)


def _say(exp: Experiment, message: str) -> None:
    print(f"[experiment {exp.name}] {message}", flush=True)


def run_experiment(
    path: str | Path,
    dry_run: bool = False,
    only: list[str] | None = None,
    write_report: bool = True,
    sets: list[str] | None = None,
) -> int:
    """Run the grid in `path`; returns 0 when every selected cell finished, 1 when one failed."""
    exp = load_experiment(path, sets)
    cells = cells_of(exp, only)
    runs = found_runs(exp.output) if exp.output.is_dir() else []
    exp.output.mkdir(parents=True, exist_ok=True)
    build_derived(exp)  # also for --dry-run: a moved or fresh checkout matches runs by their data's content
    if dry_run:
        print(plan_text(exp, cells, runs))
        return 0
    failures = _run_cells(exp, cells, runs)
    if write_report:
        _write_reports(exp)
    _say(exp, f"{len(cells) - len(failures)}/{len(cells)} cells finished; results in {exp.output}")
    for cell_id, message in failures:
        _say(exp, f"FAILED {cell_id}: {message}")
    return 1 if failures else 0


def _run_cells(exp: Experiment, cells: list[Cell], runs: list[FoundRun]) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    statuses = [cell_status(exp, c, runs) for c in cells]
    todo = [(c, s, f) for c, (s, f) in zip(cells, statuses, strict=True) if s != "done"]
    _say(exp, f"{len(cells)} cells: {len(cells) - len(todo)} finished already, {len(todo)} to run")
    if todo:
        pretrain_models(exp, [c for c, _, _ in todo])
    for number, (cell, status, found) in enumerate(todo, 1):
        verb = "resuming" if status == "resume" else "running"
        _say(exp, f"cell {number}/{len(todo)} {cell.cell_id}: {verb}")
        t0 = time.perf_counter()
        try:
            run_dir = run_cell(exp, cell, status, found)
        except SpanevalError as err:
            failures.append((cell.cell_id, str(err)))
            continue
        except Exception as err:  # a bug in one cell must not cost the rest of the grid
            failures.append((cell.cell_id, f"{type(err).__name__}: {err}"))
            continue
        _say(exp, f"cell {cell.cell_id} finished in {time.perf_counter() - t0:.0f} s: {run_dir}")
    return failures


def _write_reports(exp: Experiment) -> None:
    from spaneval.report import report
    from spaneval.results_tables import load_runs

    if load_runs(exp.output).empty:
        _say(exp, "no finished runs yet; no report written")
        return
    suffix = {"md": "md", "latex": "tex", "html": "html"}
    for fmt in exp.formats:
        out = report(exp.output, fmt, exp.output / f"report.{suffix[fmt]}")
        _say(exp, f"report: {out}")


def _same_model_and_task(exp: Experiment, cell: Cell, record: dict[str, Any]) -> bool:
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    want = model_ref(exp, cell.model)
    return record.get("task") == cell.task.task and (
        model.get("name") == want or _same_path(model.get("path"), want)
    )


def _tokens_per_example(config: dict[str, Any]) -> float | None:
    value = config.get("max_seq_len") or config.get("max_segment_len")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def estimated_seconds(exp: Experiment, cell: Cell, runs: list[FoundRun]) -> tuple[float | None, str]:
    """(seconds, how it was estimated) for a cell still to run.

    Finished seeds of the same cell give their mean wall time. Otherwise a finished run of the same
    model and task (other settings) is scaled: training by the examples the cell will see (epochs or
    max_steps x batch) and by sequence length, evaluation as it was. Same machine assumed.
    """
    same_cell = [
        float(r.record["wall_s"])
        for r in runs
        if r.record is not None
        and isinstance(r.record.get("wall_s"), (int, float))
        and any(record_matches(exp, c, r.record, r.request) for c in _every_seed(exp, cell))
    ]
    if same_cell:
        return statistics.mean(same_cell), "finished seeds"
    for run in runs:
        record = run.record
        if record is None or not _same_model_and_task(exp, cell, record):
            continue
        scaled = _scaled_from(record, expected_config(cell))
        if scaled is not None:
            return scaled, f"scaled from {run.run_dir.name}"
    return None, "no finished run of this model and task yet"


def _every_seed(exp: Experiment, cell: Cell) -> list[Cell]:
    return [Cell(cell.model, cell.task, seed) for seed in exp.seeds]


def _scaled_from(record: dict[str, Any], expected: dict[str, Any]) -> float | None:
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    old_train, old_task = config.get("train") or {}, config.get("task") or {}
    train_s, seen, wall = training.get("train_wall_s"), training.get("examples_seen"), record.get("wall_s")
    if not all(isinstance(v, (int, float)) and v > 0 for v in (train_s, seen, wall)):
        return None
    new_train = expected["train"]
    if new_train["max_steps"]:
        examples = new_train["max_steps"] * new_train["batch_size"]
    elif old_train.get("max_steps") or not old_train.get("epochs"):
        return None  # examples per epoch of the cell's data unknown
    else:
        examples = seen * new_train["epochs"] / old_train["epochs"]
    old_len, new_len = _tokens_per_example(old_task), _tokens_per_example(expected["task"])
    length_ratio = new_len / old_len if old_len and new_len else 1.0
    return train_s * examples / seen * length_ratio + (wall - train_s)


def plan_text(exp: Experiment, cells: list[Cell], runs: list[FoundRun]) -> str:
    """The --dry-run listing: every cell, whether it is finished, and the cost still to pay."""
    lines = [f"experiment {exp.name} ({exp.file}): {len(cells)} cells; output {exp.output}"]
    for entry in {c.model.label: c.model for c in cells}.values():
        if entry.pretrain is not None:
            done = (exp.output / "models" / entry.label / "model" / "config.json").is_file()
            lines.append(
                f"  pretrain {entry.label}: {entry.pretrain.objective} preset {entry.pretrain.preset}"
                f" {dict(entry.pretrain.overrides) or ''} [{'finished' if done else 'to run'}]"
            )
    statuses = [cell_status(exp, c, runs) for c in cells]
    remaining, unknown = 0.0, 0
    for cell, (status, _) in zip(cells, statuses, strict=True):
        train = expected_config(cell)["train"]
        passes = f"{train['max_steps']} steps" if train["max_steps"] else f"{train['epochs']:g} epochs"
        estimate = ""
        if status != "done":
            seconds, how = estimated_seconds(exp, cell, runs)
            if seconds is None:
                unknown += 1
                estimate = f", time unknown ({how})"
            else:
                remaining += seconds
                estimate = f", about {seconds / 60:.0f} min ({how})"
        lines.append(f"  {cell.cell_id:<40} {status:<7} ({passes}{estimate})")
    lines.append(
        f"still to run: {sum(s != 'done' for s, _ in statuses)} cells, about {remaining / 60:.0f} min"
        + (f" plus {unknown} cells of unknown cost" if unknown else "")
    )
    return "\n".join(lines)
