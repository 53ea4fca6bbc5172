"""`python -m spaneval quickstart`: the whole pipeline, offline, in about 6 minutes of CPU time.

1. pretrain a tiny SpanBERT (span masking + MLM + SBO) and a tiny BERT-1seq (subword MLM) on the
   bundled public-domain corpus sample, with the same preset, steps and tokens;
2. fine-tune both on the bundled SQuAD v1.1 training sample;
3. evaluate both on the held-out bundled SQuAD sample (other articles) and print them side by side.

The models are tiny (2 layers, 128 wide, 200 steps of 8 x 128 tokens), so the scores show that the pipeline
works end to end, not the paper's gap: that needs the `base` preset on a GPU.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spaneval.runner import FEW_STEPS

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
OBJECTIVES = ("spanbert", "bert-1seq")
# Tiny encoders have 128 positions; a higher learning rate suits their short, fresh training.
FINETUNE_OVERRIDES = {
    "max_seq_len": "128",
    "doc_stride": "64",
    "max_query_len": "32",
    "learning_rate": "5e-4",
    "batch_size": "32",
    "epochs": "3",
    "warmup_ratio": "0.1",
    "log_every_steps": "25",
}
# Measured with `time` (README): 348 s of CPU, 2012 s wall on a 2-core VM at load average 9-17.
ESTIMATE = "about 6 minutes of CPU time; 34 minutes measured on a busy 2-core VM"


def quickstart(out_dir: Path) -> Path:
    """Run the demo into `out_dir` (models/, results/); returns the results directory."""
    from spaneval.pretrain.train import pretrain
    from spaneval.runner import RunRequest, run_task

    out_dir = Path(out_dir)
    results = out_dir / "results"
    print(_plan(out_dir), flush=True)
    t0 = time.perf_counter()
    models = {}
    for objective in OBJECTIVES:
        print(f"\n== pretraining tiny {objective} ==", flush=True)
        # a second quickstart into the same directory resumes, i.e. reuses, the finished pretraining
        out = out_dir / "models" / objective
        models[objective] = pretrain(
            objective,
            "tiny",
            corpus=str(CORPUS),
            output=str(out),
            overrides={},
            resume=(out / "checkpoint").is_dir(),
        )
    for objective, model_dir in models.items():
        print(f"\n== fine-tuning {objective} on the SQuAD sample ==", flush=True)
        run_task(
            RunRequest(
                task="squad",
                model=str(model_dir),
                data="bundled",
                seed=1,
                results_dir=str(results),
                overrides=tuple(FINETUNE_OVERRIDES.items()),
            )
        )
    labels = {str(v): k for k, v in models.items()}
    print(f"\n== results (wall time {time.perf_counter() - t0:.0f} s) ==")
    print(side_by_side(results, labels))
    print(significance(results, labels))
    print(_next_steps(results))
    return results


def _plan(out_dir: Path) -> str:
    return (
        f"spaneval quickstart ({ESTIMATE}; everything offline, written under {out_dir}/):\n"
        f"  1. pretrain a tiny SpanBERT and a tiny BERT-1seq on the bundled corpus sample ({CORPUS.name}/),\n"
        "     same preset (`tiny`), same steps and tokens;\n"
        "  2. fine-tune both on the bundled SQuAD v1.1 training sample;\n"
        "  3. evaluate both on the held-out bundled SQuAD sample and compare (EM/F1 and span-level analysis)."
    )


def side_by_side(results: Path, labels: dict[str, str]) -> str:
    """EM/F1 per model from the run records, plus F1 by answer length (the span-level view)."""
    from spaneval.results_tables import breakdowns_table, load_runs, metrics_table

    runs = load_runs(results)
    metrics = metrics_table(runs)
    wide = metrics[metrics["metric"].isin(["exact_match", "f1"])].pivot_table(
        index="model", columns="metric", values="value", aggfunc="mean"
    )
    lines = [f"{'model':<12} {'EM':>7} {'F1':>7}   (SQuAD exact match and F1, in percent)"]
    for model, row in wide.iterrows():
        lines.append(f"{labels.get(model, model):<12} {row['exact_match']:7.2f} {row['f1']:7.2f}")
    bd = breakdowns_table(runs)
    by_len = bd[(bd["table"] == "f1_by_answer_length") & (bd["metric"] == "f1")]
    if not by_len.empty:
        grid = by_len.pivot_table(index="model", columns="bucket", values="value", aggfunc="mean")
        buckets = [b for b in ("1", "2", "3-4", "5-7", "8+") if b in grid.columns]
        lines.append("\nF1 by gold answer length (words): " + "  ".join(f"{b:>6}" for b in buckets))
        for model, row in grid.iterrows():
            lines.append(f"{labels.get(model, model):<34}" + "  ".join(f"{row[b]:6.1f}" for b in buckets))
    return "\n".join(lines)


def significance(results: Path, labels: dict[str, str], n_resamples: int = 1000) -> str:
    """The paired bootstrap test of SpanBERT vs BERT-1seq F1 on the same questions (latest run of each),
    with a reminder of how little fine-tuning the tiny models had."""
    from spaneval.results_tables import load_predictions, load_runs
    from spaneval.significance import compare_rows
    from spaneval.tasks.registry import TASKS

    latest = {}
    for record in sorted(load_runs(results).records, key=lambda r: r.get("started_at", "")):
        latest[labels.get(record["model"]["name"], record["model"]["name"])] = record
    if not all(name in latest for name in OBJECTIVES):
        return ""
    a, b = (latest[name] for name in OBJECTIVES)
    rng = np.random.default_rng(0)
    sig = compare_rows(
        load_predictions(a),
        load_predictions(b),
        TASKS["squad"].rows.resampling,
        "f1",
        rng,
        n_resamples=n_resamples,
    )
    verdict = "significant" if sig.p_value < 0.05 else "not significant"
    steps = min(r.get("training", {}).get("steps", 0) for r in (a, b))
    interval = f"95% interval {sig.delta_low:+.2f} to {sig.delta_high:+.2f}, p = {sig.p_value:.3f}"
    noise = f" (fewer than {FEW_STEPS}): these scores are mostly noise" if steps < FEW_STEPS else ""
    return (
        f"\n{OBJECTIVES[0]} - {OBJECTIVES[1]} F1: {sig.delta:+.2f} points, {interval}\n"
        f"(paired bootstrap over the same {sig.n_examples} questions): {verdict} at 0.05.\n"
        f"Each model fine-tuned for {steps} optimizer steps{noise}.\n"
        "The quickstart shows that the pipeline works, not which pretraining objective is better\n"
        "(that needs the base preset on a GPU)."
    )


def _next_steps(results: Path) -> str:
    return (
        "\nNext:\n"
        f"  python -m spaneval dashboard --results {results}      # browse runs, breakdowns, examples\n"
        f"  python -m spaneval report --results {results} --format md --output report.md\n"
        "  python -m spaneval run squad --model spanbert        # the real models, on a GPU with hub access"
    )
