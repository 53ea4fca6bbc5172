"""Benchmark: spaneval's SQuAD fine-tuning and decoding against the Hugging Face reference pipeline.

`python -m spaneval bench qa-parity [--model DIR|NAME] [--train FILE] [--eval FILE] [--seeds 1,2,3] ...`
fine-tunes the same model on the same questions with the same max_seq_len, doc_stride, learning rate,
batch, epochs, warmup, weight decay and seed twice per seed: (a) spaneval's own pipeline, through the
runner `run squad` uses, and (b) run_qa.py's way (`bench/hf_qa_reference.py`: Trainer +
BertForQuestionAnswering). Both sets of predictions are scored with the same official SQuAD v1.1
logic (spaneval.metrics.squad). The pipelines alternate which goes first (spaneval first for the
first seed, Hugging Face first for the second, ...) so that a machine getting busier favours neither.
Both start from the same model per seed: the encoder plus the QA head run_qa.py draws for that seed
(saved once, loaded by both; `--independent-heads` lets each draw its own). Their training loops take
identical steps given the same windows, order and schedule (tests/test_qa_parity.py), so what differs
between the two is listed under "options" and the seed's randomness (dropout, batch order).
Prints one JSON line: EM/F1 per seed, mean and std, train and eval wall seconds, the options each side
had, model, data fingerprints, machine, library versions and the EM/F1 differences (spaneval - HF).

Defaults are the SQuAD cell of experiments/minilm-cpu.toml: all-MiniLM-L6-v2 from ../shared/models,
trained on ../shared/data/squad/train-from-v1.1-dev-extra-articles.json and evaluated on the other
v1.1 dev articles (built in code by `derived_data.without_articles_of`). Without the shared model or
data the benchmark prints a JSON line saying it was skipped. Both sides read the file's answer_start
values (the shared files' offsets were recovered by string search; a mismatch between what the two
readers would train on is an error). Known differences in the two recipes are listed under "options":
`doc_stride` is the step between window starts for spaneval (BERT's run_squad.py) and the overlap
between windows for run_qa.py; spaneval truncates questions to 64 tokens and keeps a span only in the
window giving it the most context.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The reference pipeline must never reach the hub: set before transformers / datasets look.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

from spaneval.atomic import write_json
from spaneval.bench.hf_qa_reference import ReferenceSettings, read_squad_rows, run_reference
from spaneval.errors import DataError
from spaneval.metrics.squad import aggregate_v1, score_v1
from spaneval.run_writer import cpu_name, git_commit

REPO = Path(__file__).resolve().parents[2]
SHARED_MODEL = "all-MiniLM-L6-v2"
SHARED_TRAIN = Path("squad") / "train-from-v1.1-dev-extra-articles.json"
SHARED_DEV = Path("squad") / "dev-v1.1.json"


def shared_dir(kind: str) -> Path:
    """$SPANEVAL_SHARED_DATA / $SPANEVAL_SHARED_MODELS, else ../shared/data or ../shared/models."""
    env = os.environ.get(f"SPANEVAL_SHARED_{kind.upper()}")
    return Path(env) if env else REPO.parent / "shared" / kind


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spaneval bench qa-parity", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help=f"model name or directory (default: shared {SHARED_MODEL})")
    p.add_argument("--train", type=Path, default=None, help="SQuAD v1.1 training file (default: shared)")
    p.add_argument("--eval", type=Path, default=None, help="SQuAD v1.1 eval file (default: held-out dev)")
    p.add_argument("--max-seq-len", type=int, default=256)
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument(
        "--no-group-by-length",
        dest="group_by_length",
        action="store_false",
        help="random batches on both sides (default: both group windows by length, as `run squad` does)",
    )
    p.add_argument(
        "--independent-heads",
        dest="same_head",
        action="store_false",
        help="each pipeline draws its own QA head (default: both start from the head run_qa.py draws "
        "for the seed, so the seed's head init, the largest source of seed-to-seed spread in short runs, "
        "is shared by the pair)",
    )
    p.add_argument(
        "--seeds", default="1,2,3", help="comma-separated seeds, one run of each pipeline per seed"
    )
    p.add_argument("--max-train-examples", type=int, default=0, help="first N training questions (0: all)")
    p.add_argument("--max-eval-examples", type=int, default=0, help="first N eval questions (0: all)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--output", type=Path, default=None, help="also write the JSON to this file")
    args = p.parse_args(argv)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not args.seed_list:
        p.error("--seeds names no seed")
    return args


def _inputs(args: argparse.Namespace, tmp: Path) -> tuple[str, Path, Path] | str:
    """(model, train file, eval file), or why the benchmark cannot run here."""
    from spaneval.derived_data import without_articles_of

    model = args.model or str(shared_dir("models") / SHARED_MODEL)
    if args.model is None and not (Path(model) / "config.json").is_file():
        return f"shared model {model} not found; pass --model or set SPANEVAL_SHARED_MODELS"
    train = args.train or shared_dir("data") / SHARED_TRAIN
    if args.eval is not None:
        return model, train, args.eval
    dev = shared_dir("data") / SHARED_DEV
    for path in (train, dev):
        if not path.is_file():
            return f"{path} not found; pass --train and --eval or set SPANEVAL_SHARED_DATA"
    return model, train, without_articles_of(dev, train, tmp / "dev-v1.1-held-out.json")


def check_same_answers(path: Path, rows: list[dict[str, Any]]) -> None:
    """Raise unless spaneval's reader keeps every question with the file's texts and answer_start values."""
    from spaneval.tasks.qa_data import read_squad

    examples, _ = read_squad(path)
    ours = {ex.qid: ([a.text for a in ex.answers], [a.start for a in ex.answers]) for ex in examples}
    for row in rows:
        theirs = (row["answers"]["text"], row["answers"]["answer_start"])
        if ours.get(row["id"]) != theirs:
            raise DataError(
                path,
                f"question {row['id']}",
                f"the two pipelines would train on different answers: spaneval {ours.get(row['id'])}, "
                f"file {theirs}",
            )


def score(rows: list[dict[str, Any]], predictions: dict[str, str]) -> dict[str, Any]:
    """Official v1.1 EM/F1 (a missing prediction scores 0), and how many predictions are non-empty
    substrings of their context."""
    scored = []
    for row in rows:
        exact, f1 = score_v1(row["answers"]["text"], predictions.get(row["id"], ""))
        scored.append({"exact": exact, "f1": f1})
    metrics = aggregate_v1(scored)
    valid = sum(1 for r in rows if predictions.get(r["id"]) and predictions[r["id"]] in r["context"])
    return {**metrics, "questions": len(rows), "valid_predictions": valid}


def run_spaneval(model: str, train: Path, eval_file: Path, args, seed: int, results: Path) -> dict[str, Any]:
    """One seed through `spaneval.runner.run_task`, as `run squad` calls it."""
    from spaneval.runner import RunRequest, run_task

    t0 = time.perf_counter()
    run_dir = run_task(
        RunRequest(
            task="squad",
            model=model,
            data=str(train),
            eval_data=str(eval_file),
            seed=seed,
            results_dir=str(results),
            overrides=tuple((k, str(v)) for k, v in spaneval_overrides(args).items()),
            command="python -m spaneval bench qa-parity",
        )
    )
    total_s = time.perf_counter() - t0
    record = json.loads((run_dir / "record.json").read_text())
    training = record["training"]
    return {
        "predictions": json.loads((run_dir / "predictions.json").read_text()),
        "train_s": training["train_wall_s"],
        "eval_s": record["eval_wall_s"],
        "total_s": total_s,
        "train_features": training["train_features"],
        "steps": training["steps"],
        "mean_train_loss": statistics.fmean(training["losses"]),
        "tokenizer": record["model"]["tokenizer"],
        "head": record["model"]["head"],
    }


def spaneval_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `run squad` overrides of the shared settings; fp32, as the reference runs on CPU."""
    return {
        "max_seq_len": args.max_seq_len,
        "doc_stride": args.doc_stride,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "warmup_ratio": args.warmup_ratio,
        "weight_decay": args.weight_decay,
        "max_train_examples": args.max_train_examples,
        "max_eval_examples": args.max_eval_examples,
        "precision": "fp32",
        "group_by_length": args.group_by_length,
    }


def _options(args: argparse.Namespace, settings: ReferenceSettings) -> dict[str, dict[str, Any]]:
    from spaneval.config import to_dict
    from spaneval.runner import build_configs
    from spaneval.tasks.qa import SQUAD

    configs = build_configs(SQUAD, None, {k: str(v) for k, v in spaneval_overrides(args).items()})
    head = (
        "both start from the head run_qa.py draws for the seed (set_seed, BertForQuestionAnswering)"
        if args.same_head
        else "each pipeline draws its own (spaneval: seeded torch RNG; HF: set_seed before from_pretrained)"
    )
    return {
        "qa_head_init": head,
        "spaneval": {
            **to_dict(configs["task"]),
            **to_dict(configs["train"]),
            "doc_stride_meaning": "step between window starts",
            "lr_schedule": "linear; warmup (step + 1) / int(warmup_ratio * steps), first step learns",
            "last_batch": "full: wraps into the next epoch's order",
            "decoding": "top-n starts x ends, span start must be in its max-context window",
        },
        "hf": {
            **vars(settings),
            "doc_stride_meaning": "tokens shared by consecutive windows (tokenizer stride=)",
            "lr_schedule": "linear; warmup step / ceil(warmup_ratio * steps), first step has rate 0",
            "last_batch": "partial",
            "decoding": "utils_qa.postprocess_qa_predictions: top-n starts x ends over every window",
            "padding": "per batch (DataCollatorWithPadding)",
            "precision": "fp32",
            "question_truncation": "none",
        },
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for key in ("exact_match", "f1", "train_s", "eval_s", "total_s"):
        values = [r[key] for r in runs]
        out[key] = {
            "mean": round(statistics.fmean(values), 3),
            "std": round(statistics.stdev(values), 3) if len(values) > 1 else None,
        }
    return out


def start_folder(model_path: Path, seed: int, out: Path) -> Path:
    """The model as run_qa.py builds it for `seed` (set_seed, then BertForQuestionAnswering with a new
    qa_outputs head), saved with its tokenizer: a starting point both pipelines can load."""
    from transformers import AutoTokenizer, BertForQuestionAnswering, set_seed

    set_seed(seed)
    BertForQuestionAnswering.from_pretrained(model_path, local_files_only=True).save_pretrained(out)
    AutoTokenizer.from_pretrained(model_path, local_files_only=True).save_pretrained(out)
    return out


def _run_seed(i: int, seed: int, ctx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    order = ("spaneval", "hf") if i % 2 == 0 else ("hf", "spaneval")
    model, model_path = ctx["model"], ctx["model_path"]
    if ctx["args"].same_head:
        model = model_path = str(start_folder(model_path, seed, ctx["results"].parent / f"start-seed{seed}"))
    out = {}
    for side in order:
        if side == "spaneval":
            raw = run_spaneval(model, ctx["train"], ctx["eval"], ctx["args"], seed, ctx["results"])
        else:
            raw = run_reference(model_path, ctx["train_rows"], ctx["eval_rows"], ctx["settings"], seed)
        predictions = raw.pop("predictions")
        out[side] = {
            "seed": seed,
            "position": order.index(side) + 1,
            **score(ctx["eval_rows"], predictions),
            **raw,
        }
        for key in ("train_s", "eval_s", "total_s", "mean_train_loss"):
            out[side][key] = round(out[side][key], 4)
    return out


def _describe_file(path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from spaneval.tasks.base import file_fingerprint

    return {"path": str(path), "fingerprint": file_fingerprint(path), "questions": len(rows)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both pipelines for every seed, print one JSON line and return it."""
    import torch
    import transformers

    from spaneval.models import resolve_model

    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="spaneval-qa-parity-") as tmp:
        found = _inputs(args, Path(tmp))
        if isinstance(found, str):
            result = {"bench": "qa-parity", "skipped": found}
            print(json.dumps(result), flush=True)
            return result
        model, train, eval_file = found
        train_rows = read_squad_rows(train, args.max_train_examples)
        eval_rows = read_squad_rows(eval_file, args.max_eval_examples)
        check_same_answers(train, train_rows)
        ref = resolve_model(model)
        settings = ReferenceSettings(
            args.max_seq_len,
            args.doc_stride,
            args.learning_rate,
            args.batch_size,
            args.epochs,
            args.warmup_ratio,
            args.weight_decay,
            group_by_length=args.group_by_length,
        )
        ctx = {
            "model": model,
            "model_path": ref.path,
            "train": train,
            "eval": eval_file,
            "args": args,
            "results": Path(tmp) / "results",
            "train_rows": train_rows,
            "eval_rows": eval_rows,
            "settings": settings,
        }
        # the runner's progress lines go to stderr: stdout carries the one JSON line
        data = {"train": _describe_file(train, train_rows), "eval": _describe_file(eval_file, eval_rows)}
        fixed = {
            "bench": "qa-parity",
            "model": ref.describe(),
            "data": data,
            "seeds": args.seed_list,
            "machine": cpu_name(),
            "threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "git": git_commit(),
            },
            "options": _options(args, settings),
        }
        per_seed: list[dict[str, dict[str, Any]]] = []
        with contextlib.redirect_stdout(sys.stderr):
            for i, seed in enumerate(args.seed_list):
                per_seed.append(_run_seed(i, seed, ctx))
                if args.output is not None and len(per_seed) < len(args.seed_list):
                    # an interrupted run keeps the seeds it finished (marked incomplete)
                    write_json(args.output, _result(fixed, per_seed, complete=False))
    result = _result(fixed, per_seed, complete=True)
    print(json.dumps(result), flush=True)
    if args.output is not None:
        write_json(args.output, result)
    return result


def _result(
    fixed: dict[str, Any], per_seed: list[dict[str, dict[str, Any]]], complete: bool
) -> dict[str, Any]:
    """The JSON line: fixed facts, both pipelines' per-seed runs with mean/std, and the differences."""
    ours, hf = (_summary([s[side] for s in per_seed]) for side in ("spaneval", "hf"))
    return {
        **fixed,
        "seeds_finished": [s["spaneval"]["seed"] for s in per_seed],
        "complete": complete,
        "spaneval": ours,
        "hf": hf,
        "difference": {
            key: {
                "mean": round(ours[key]["mean"] - hf[key]["mean"], 3),
                "per_seed": [round(s["spaneval"][key] - s["hf"][key], 3) for s in per_seed],
            }
            for key in ("exact_match", "f1")
        },
    }
