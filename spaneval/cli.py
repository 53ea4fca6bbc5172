"""Command line: `python -m spaneval SUBCOMMAND ...`, one public function per subcommand."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from spaneval.errors import SpanevalError
from spaneval.registry import lookup

BENCHES = {
    "qa-decode": "spaneval.bench.qa_decode",
    "masking": "spaneval.bench.masking",
    "pretrain": "spaneval.bench.pretrain",
    "coref-score": "spaneval.bench.coref_score",
    "finetune": "spaneval.bench.finetune",
    "infer": "spaneval.bench.infer",
    "dashboard-load": "spaneval.bench.dashboard_load",
    "qa-parity": "spaneval.bench.qa_parity",
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    _quiet_libraries()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parser.parse_known_args(argv)
    args.command_line = "python -m spaneval " + shlex.join(argv)
    # argparse binds a trailing nargs="*" positional only once, so key=value items that follow options
    # arrive here; anything else is a genuine error.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpanevalError as err:
        print(f"spaneval: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spaneval: interrupted. {RESUME_HINTS.get(args.command, '')}".rstrip(), file=sys.stderr)
        return 130


RESUME_HINTS = {
    "run": "Finished results and the last checkpoint are intact; continue the run with "
    "`python -m spaneval run --resume RUN_DIR`.",
    "pretrain": "The last checkpoint is intact; continue with the same command plus --resume "
    "(`python -m spaneval pretrain --output OUTPUT --resume ...`).",
    "quickstart": "Finished steps are kept; run the same command again to continue.",
}


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spaneval",
        description="Pretrain SpanBERT and BERT baselines; fine-tune and evaluate them side by side on "
        "span tasks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_score(sub)
    _add_predict(sub)
    _add_pretrain(sub)
    p = sub.add_parser(
        "quickstart", help="offline demo: pretrain tiny SpanBERT and BERT-1seq, fine-tune, compare"
    )
    p.add_argument(
        "--output", default="quickstart", help="directory for models and results (default: ./quickstart)"
    )
    p.set_defaults(func=quickstart)
    _add_experiment(sub)
    p = sub.add_parser(
        "archive", help="shrink finished runs for a repository: n-best cut, predictions gzip-compressed"
    )
    p.add_argument("run_dirs", nargs="+", help="run directories, or folders holding them")
    p.add_argument("--nbest", type=int, default=5, help="n-best entries kept per question (default 5)")
    p.set_defaults(func=archive)
    p = sub.add_parser("report", help="write a reproducibility report (Markdown, LaTeX or HTML)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--format", choices=["md", "latex", "html"], default="md")
    p.add_argument("--output", required=True, help="file to write")
    p.set_defaults(func=report)
    p = sub.add_parser("ls", help="list tasks, models, presets, objectives and config keys")
    p.add_argument(
        "--preset",
        default=None,
        metavar="[TASK:]NAME",
        help="print the values of a preset: NAME in every task and pretraining, or TASK:NAME, pretrain:NAME",
    )
    p.set_defaults(func=ls)
    p = sub.add_parser("dashboard", help="open the Streamlit leaderboard (a wrapper over `streamlit run`)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 shares it on the network)",
    )
    p.set_defaults(func=dashboard)
    p = sub.add_parser("bench", help=f"benchmarks, each printing one JSON line: {', '.join(BENCHES)}")
    p.add_argument("name", help="benchmark name")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    p.set_defaults(func=bench)
    return parser


def _add_experiment(sub) -> None:
    p = sub.add_parser(
        "experiment", help="run a models x tasks x seeds grid from a TOML file (resumable), then report"
    )
    p.add_argument("file", help="grid file, e.g. experiments/minilm-cpu.toml")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the cells, what is finished and the cost left (builds derived data, trains nothing)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="run only matching cells: MODEL/TASK/SEED globs (minilm/squad/*) or a label (squad); repeatable",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the reports after the cells")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="edit the grid before running: dotted TOML key, '*' for every label "
        "(e.g. 'models.*.pretrain.overrides.max_steps=2', 'seeds=[1]')",
    )
    p.set_defaults(func=experiment)


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="fine-tune a model on a task, evaluate, write a result record")
    p.add_argument("task", nargs="?", help="task name (see `spaneval ls`)")
    p.add_argument("--model", help="registered model name or a save_pretrained directory")
    p.add_argument("--data", default=None, help="training data: a named source (e.g. bundled, hub) or a path")
    p.add_argument("--eval-data", default=None, help="evaluation data (default: the eval split of --data)")
    p.add_argument("--seed", default="1", help="random seed, an integer >= 0 (default 1)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds, one run each (e.g. 1,2,3)")
    p.add_argument("--output", default="results", help="results directory (default: ./results)")
    p.add_argument("--preset", default=None, help="named hyperparameter preset of the task")
    p.add_argument("--revision", default=None, help="hub revision (commit sha) of the model")
    p.add_argument(
        "--name", default=None, help="readable label shown for this model in reports and the dashboard"
    )
    p.add_argument("--fold", default=None, help="cross-validation fold (coref on LitBank): fold=N")
    p.add_argument("--patch", default=None, help="label patch file (TACRev / Re-TACRED): patch=FILE")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the resumable checkpoint afterwards")
    p.add_argument("--save-model", action="store_true", help="save the fine-tuned model in RUN_DIR/model")
    p.add_argument(
        "--new-head",
        action="store_true",
        help="start a new QA head even when --model was saved with one (default: continue it, as "
        "AutoModelForQuestionAnswering does)",
    )
    p.add_argument(
        "--lowercase",
        action="store_true",
        help="lowercase like the hub copy of the SpanBERT tokenizer (default: cased, as it was trained)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=run)


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score a predictions file with the official metrics; prints JSON")
    p.add_argument("task", help="a task with a file scorer (squad, squad_v2, coref, tacred, semeval2010)")
    p.add_argument("--data", help="gold data (SQuAD JSON, TACRED JSON)")
    p.add_argument("--predictions", help="predictions file in the official format")
    p.add_argument("--na-prob", default=None, help="SQuAD 2.0 no-answer probabilities JSON")
    p.add_argument("--key", help="gold key file (coref CoNLL, SemEval answer key)")
    p.add_argument("--response", help="system CoNLL file (coref)")
    p.add_argument("--patch", default=None, help="TACRev / Re-TACRED label patch")
    p.set_defaults(func=score)


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict (and score) a data file with a model saved by run --save-model"
    )
    p.add_argument("task", help="task name (the task the model was fine-tuned on)")
    p.add_argument(
        "--model", required=True, help="a model folder written by run --save-model (RUN_DIR/model)"
    )
    p.add_argument("--data", required=True, help="data file or named source, read as the task's eval split")
    p.add_argument("--output", default=None, help="output directory (default: RUN_DIR/predict)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="task config overrides")
    p.set_defaults(func=predict)


def _add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain SpanBERT or a BERT baseline")
    p.add_argument("--objective", default="spanbert", help="spanbert, spanbert-nosbo, bert-1seq or bert-nsp")
    p.add_argument("--preset", default="tiny", help="tiny, small, base or large")
    p.add_argument("--corpus", default=None, help="text files / directory (default: the bundled sample)")
    p.add_argument("--output", required=True, help="output directory (save_pretrained format)")
    p.add_argument("--init", default=None, help="continue pretraining from a model name or directory")
    p.add_argument("--resume", action="store_true", help="resume from the checkpoint in --output")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=pretrain)


def archive(args: argparse.Namespace) -> int:
    """`spaneval archive RUN_DIR...`: predictions.jsonl -> predictions.jsonl.gz with a cut n-best."""
    from spaneval.archive import archive as archive_runs

    return archive_runs(args.run_dirs, args.nbest)


def experiment(args: argparse.Namespace) -> int:
    """`spaneval experiment FILE`: every unfinished cell of the grid, then the reports."""
    from spaneval.experiment import run_experiment

    return run_experiment(
        args.file, dry_run=args.dry_run, only=args.only, write_report=not args.no_report, sets=args.set
    )


def run(args: argparse.Namespace) -> int:
    """`spaneval run TASK --model NAME ...`: one record per seed."""
    from spaneval.config import parse_overrides
    from spaneval.runner import RunRequest, resume_run, run_task

    if args.resume:
        resume_run(Path(args.resume))
        return 0
    if not args.task or not args.model:
        raise SpanevalError("run needs a task and --model (or --resume RUN_DIR)")
    overrides = parse_overrides(args.overrides)
    for key in ("fold", "patch"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    seeds = parse_seeds(args.seeds or args.seed)
    for seed in seeds:
        req = RunRequest(
            task=args.task,
            model=args.model,
            data=args.data,
            eval_data=args.eval_data,
            seed=seed,
            results_dir=args.output,
            preset=args.preset,
            overrides=tuple(overrides.items()),
            revision=args.revision,
            keep_checkpoint=args.keep_checkpoint,
            save_model=args.save_model,
            new_head=args.new_head,
            command=args.command_line,
            lowercase=args.lowercase,
            name=args.name,
        )
        run_task(req)
    return 0


def parse_seeds(text: str) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; seeds are integers >= 0 (numpy's generators refuse negative seeds)."""
    seeds = []
    for part in text.split(","):
        if not (part.strip().isascii() and part.strip().isdigit()):
            raise SpanevalError(
                f"seed {part.strip()!r} in {text!r}: expected integers >= 0, e.g. --seeds 1,2,3"
            )
        seeds.append(int(part))
    return seeds


def score(args: argparse.Namespace) -> int:
    """`spaneval score TASK ...`: official metrics of an existing predictions file, as one JSON object."""
    from spaneval.record_schema import finite_or_null
    from spaneval.tasks.registry import TASKS

    scorable = {name: task for name, task in TASKS.items() if task.score_options}
    task = lookup(scorable, args.task, "scorable task")
    missing = [f"--{name.replace('_', '-')}" for name in task.score_options if not getattr(args, name)]
    if missing:
        raise SpanevalError(f"score {args.task} needs {' and '.join(missing)}")
    result = task.score_files(vars(args))
    for warning in result.pop("warnings", None) or []:
        print(f"spaneval: warning: {warning}", file=sys.stderr)
    # JSON has no NaN (a NaN in an na-prob file would print an invalid document): null instead
    print(json.dumps(finite_or_null(result), indent=1, allow_nan=False))
    return 0


def predict(args: argparse.Namespace) -> int:
    """`spaneval predict TASK --model DIR --data FILE`: prediction files and scores.json in --output."""
    from spaneval.config import parse_overrides
    from spaneval.predict import predict_file

    out = predict_file(args.task, args.model, args.data, args.output, parse_overrides(args.overrides))
    print(f"[spaneval] predictions and scores.json written to {out}")
    return 0


def pretrain(args: argparse.Namespace) -> int:
    """`spaneval pretrain ...`: writes a save_pretrained directory usable as `run --model DIR`."""
    from spaneval.config import parse_overrides
    from spaneval.pretrain.train import pretrain as pretrain_model

    out = pretrain_model(
        objective=args.objective,
        preset=args.preset,
        corpus=args.corpus,
        output=args.output,
        overrides=parse_overrides(args.overrides),
        init=args.init,
        resume=args.resume,
    )
    if out is not None:
        print(f"[spaneval] pretrained model written to {out}; fine-tune it: spaneval run squad --model {out}")
    return 0


def quickstart(args: argparse.Namespace) -> int:
    """`spaneval quickstart`: the offline end-to-end demo."""
    from spaneval.quickstart import quickstart as run_quickstart

    run_quickstart(Path(args.output))
    return 0


def report(args: argparse.Namespace) -> int:
    """`spaneval report`: a reproducibility report of every run under --results."""
    from spaneval.report import report as write_report

    if not Path(args.results).is_dir():
        raise SpanevalError(
            f"results directory {args.results} does not exist (runs write to ./results by default; "
            "pass --results DIR)"
        )
    out = write_report(Path(args.results), args.format, Path(args.output))
    print(f"[spaneval] report written to {out}")
    return 0


def dashboard(args: argparse.Namespace) -> int:
    """`spaneval dashboard`: `streamlit run` the leaderboard app on --results."""
    from spaneval.dashboard_server import dashboard as launch

    return launch(args.results, args.port, [], args.host)


def ls(args: argparse.Namespace) -> int:
    """`spaneval ls`: everything that has a name."""
    from spaneval.listing import listing, preset_listing

    print(preset_listing(args.preset) if args.preset else listing())
    return 0


def bench(args: argparse.Namespace) -> int:
    """`spaneval bench NAME [args]`: run a benchmark; it prints one JSON line."""
    import importlib

    module = importlib.import_module(lookup(BENCHES, args.name, "benchmark"))
    module.main(list(args.bench_args))
    return 0
