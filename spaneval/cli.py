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
        print(
            "spaneval: interrupted. Finished results and the last checkpoint are intact; "
            "continue a run with `python -m spaneval run --resume RUN_DIR`.",
            file=sys.stderr,
        )
        return 130


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
    _add_pretrain(sub)
    p = sub.add_parser(
        "quickstart", help="offline demo: pretrain tiny SpanBERT and BERT-1seq, fine-tune, compare"
    )
    p.add_argument(
        "--output", default="quickstart", help="directory for models and results (default: ./quickstart)"
    )
    p.set_defaults(func=quickstart)
    p = sub.add_parser("report", help="write a reproducibility report (Markdown, LaTeX or HTML)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--format", choices=["md", "latex", "html"], default="md")
    p.add_argument("--output", required=True, help="file to write")
    p.set_defaults(func=report)
    p = sub.add_parser("ls", help="list tasks, models, presets, objectives and config keys")
    p.set_defaults(func=ls)
    p = sub.add_parser("dashboard", help="open the Streamlit leaderboard (a wrapper over `streamlit run`)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=dashboard)
    p = sub.add_parser("bench", help=f"benchmarks, each printing one JSON line: {', '.join(BENCHES)}")
    p.add_argument("name", help="benchmark name")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    p.set_defaults(func=bench)
    return parser


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="fine-tune a model on a task, evaluate, write a result record")
    p.add_argument("task", nargs="?", help="task name (see `spaneval ls`)")
    p.add_argument("--model", help="registered model name or a save_pretrained directory")
    p.add_argument("--data", default=None, help="training data: a named source (e.g. bundled, hub) or a path")
    p.add_argument("--eval-data", default=None, help="evaluation data (default: the eval split of --data)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", default=None, help="comma-separated seeds, one run each (e.g. 1,2,3)")
    p.add_argument("--output", default="results", help="results directory (default: ./results)")
    p.add_argument("--preset", default=None, help="named hyperparameter preset of the task")
    p.add_argument("--revision", default=None, help="hub revision (commit sha) of the model")
    p.add_argument("--fold", default=None, help="cross-validation fold (coref on LitBank): fold=N")
    p.add_argument("--patch", default=None, help="label patch file (TACRev / Re-TACRED): patch=FILE")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the resumable checkpoint afterwards")
    p.add_argument("--save-model", action="store_true", help="save the fine-tuned model in RUN_DIR/model")
    p.add_argument(
        "--lowercase",
        action="store_true",
        help="lowercase like the hub copy of the SpanBERT tokenizer (default: cased, as it was trained)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=run)


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score a predictions file with the official metrics; prints JSON")
    p.add_argument("task", help="squad, squad_v2, coref, tacred or semeval2010")
    p.add_argument("--data", help="gold data (SQuAD JSON, TACRED JSON)")
    p.add_argument("--predictions", help="predictions file in the official format")
    p.add_argument("--na-prob", default=None, help="SQuAD 2.0 no-answer probabilities JSON")
    p.add_argument("--key", help="gold key file (coref CoNLL, SemEval answer key)")
    p.add_argument("--response", help="system CoNLL file (coref)")
    p.add_argument("--patch", default=None, help="TACRev / Re-TACRED label patch")
    p.set_defaults(func=score)


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
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
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
            command=args.command_line,
            lowercase=args.lowercase,
        )
        run_task(req)
    return 0


SCORERS = {
    "squad": ("tasks.qa_data", "score_squad_files", ("data", "predictions")),
    "squad_v2": ("tasks.qa_data", "score_squad_files", ("data", "predictions")),
    "coref": ("tasks.coref_data", "score_conll_files", ("key", "response")),
    "semeval2010": ("tasks.relation_data", "score_semeval_files", ("key", "predictions")),
    "tacred": ("tasks.relation_data", "score_tacred_files", ("data", "predictions")),
}


def score(args: argparse.Namespace) -> int:
    """`spaneval score TASK ...`: official metrics of an existing predictions file, as one JSON object."""
    import importlib

    module_name, func_name, required = lookup(SCORERS, args.task, "scorable task")
    missing = [f"--{name.replace('_', '-')}" for name in required if not getattr(args, name)]
    if missing:
        raise SpanevalError(f"score {args.task} needs {' and '.join(missing)}")
    func = getattr(importlib.import_module(module_name), func_name)
    if args.task.startswith("squad"):
        result = func(args.data, args.predictions, args.na_prob, version_2=args.task == "squad_v2")
    elif args.task == "tacred":
        result = func(args.data, args.predictions, args.patch)
    else:
        result = func(*(getattr(args, name) for name in required))
    for warning in result.pop("warnings", None) or []:
        print(f"spaneval: warning: {warning}", file=sys.stderr)
    print(json.dumps(result, indent=1))
    return 0


def pretrain(args: argparse.Namespace) -> int:
    """`spaneval pretrain ...`: writes a save_pretrained directory usable as `run --model DIR`."""
    from pretrain.train import pretrain as pretrain_model
    from spaneval.config import parse_overrides

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

    out = write_report(Path(args.results), args.format, Path(args.output))
    print(f"[spaneval] report written to {out}")
    return 0


def dashboard(args: argparse.Namespace) -> int:
    """`spaneval dashboard`: `streamlit run` the leaderboard app on --results."""
    from spaneval.dashboard import dashboard as launch

    return launch(args.results, args.port, [])


def ls(args: argparse.Namespace) -> int:
    """`spaneval ls`: everything that has a name."""
    from spaneval.listing import listing

    print(listing())
    return 0


def bench(args: argparse.Namespace) -> int:
    """`spaneval bench NAME [args]`: run a benchmark; it prints one JSON line."""
    import importlib

    module = importlib.import_module(lookup(BENCHES, args.name, "benchmark"))
    module.main(list(args.bench_args))
    return 0
