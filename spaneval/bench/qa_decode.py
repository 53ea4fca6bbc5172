"""Benchmark: vectorised n-best decoding (tasks.qa_decode) against a per-window Python loop.

`python -m spaneval bench qa-decode [--data dev-v1.1.json] [--seed 0] [--version-2]
[--logits peaked|gaussian] [--repeat 3]` encodes the SQuAD dev set at 384/128 with the bundled
cased vocabulary, draws fixed random logits from a seeded Generator, decodes with both decoders
(encoding time excluded), checks that every question gets the same text (and the same n-best
texts and scores), and prints one JSON line.

The baseline is written the way Hugging Face's `postprocess_qa_predictions`
(examples/pytorch/question-answering/utils_qa.py) does it: per example, per window, argsort the
top-20 starts and ends, nested loops over the pairs, a list of candidate dicts, one sort per
question, n-best texts and numpy softmax per question. Both sides build every question's n-best
list, as the real pipeline does (`tasks/qa_scoring.py` keeps each n-best with its row), so the
comparison is like for like: both end with the same entries as dicts, the form the pipeline
keeps and writes. Each side runs `--repeat` times, order alternated; the JSON gives
medians with their spread, in wall time and in process CPU time (steadier on a shared machine),
and the options of each side. `--out FILE` also writes the JSON line to FILE.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spaneval.bench.pairs import alternated, ratios, spread
from spaneval.data_paths import default_shared_path
from spaneval.errors import DataError
from spaneval.models import bundled_tokenizer
from spaneval.rng import generator
from spaneval.run_writer import cpu_name
from spaneval.tasks.qa_data import read_squad
from spaneval.tasks.qa_decode import decode, nbest_json
from spaneval.tasks.qa_windows import QAFeatures, encode_windows

DEFAULT_DATA = default_shared_path("squad", "dev-v1.1.json")


def baseline_inputs(features: QAFeatures) -> tuple[list[list[int]], list[list], list[dict]]:
    """Per-example window lists, per-window offset lists (None off context) and max-context dicts,
    the shapes the Hugging Face example keeps its features in."""
    by_example: dict[int, list[int]] = {}
    for w, e in enumerate(features.example_index.tolist()):
        by_example.setdefault(e, []).append(w)
    offsets = [[tuple(o) if o[0] >= 0 else None for o in row.tolist()] for row in features.context_offsets]
    max_ctx = [{j: True for j in np.nonzero(row)[0].tolist()} for row in features.max_context]
    n = int(features.example_index.max()) + 1 if len(features) else 0
    return [by_example.get(i, []) for i in range(n)], offsets, max_ctx


def window_candidates(start, end, offsets, is_max, n_best, max_answer_len):
    """Candidate dicts of one window: utils_qa.py's top-n start x end loop (also `bench qa-parity`'s)."""
    found = []
    start_indexes = np.argsort(start)[-1 : -n_best - 1 : -1].tolist()
    end_indexes = np.argsort(end)[-1 : -n_best - 1 : -1].tolist()
    for s in start_indexes:
        for e in end_indexes:
            if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                continue
            if e < s or e - s + 1 > max_answer_len:
                continue
            if not is_max.get(s, False):
                continue
            found.append(
                {
                    "offsets": (offsets[s][0], offsets[e][1]),
                    "score": start[s] + end[e],
                    "start_logit": start[s],
                    "end_logit": end[e],
                }
            )
    return found


def _finish_example(context, prelim, null, n_best, version_2, null_threshold):
    """HF's per-example tail: sort, n-best, texts, numpy softmax, null-score difference."""
    if version_2:
        prelim.append(null)
    nbest = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best]
    if version_2 and not any(p["offsets"] is None for p in nbest):
        nbest.append(null)
    for pred in nbest:
        pred["text"] = context[pred["offsets"][0] : pred["offsets"][1]] if pred["offsets"] else ""
    if nbest:
        scores = np.array([pred["score"] for pred in nbest])
        exp_scores = np.exp(scores - np.max(scores))
        for prob, pred in zip(exp_scores / exp_scores.sum(), nbest, strict=True):
            pred["probability"] = float(prob)
    nbest = [{k: float(v) if isinstance(v, np.floating) else v for k, v in p.items()} for p in nbest]
    spans = [p for p in nbest if p["offsets"] is not None]
    best = spans[0] if spans else {"text": "", "score": 0.0}
    text = best["text"]
    if version_2 and float(null["score"]) - best["score"] > null_threshold:
        text = ""
    return text, nbest


def baseline_decode(
    examples,
    windows,
    offsets,
    max_ctx,
    start_logits,
    end_logits,
    *,
    n_best=20,
    max_answer_len=30,
    version_2=False,
    null_threshold=0.0,
) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """({qid: text}, {qid: n-best dicts}), one example and one window at a time (the reference loop)."""
    predictions, nbests = {}, {}
    for i, ex in enumerate(examples):
        prelim, null = [], None
        for w in windows[i]:
            feature_null = start_logits[w][0] + end_logits[w][0]
            if null is None or null["score"] > feature_null:
                null = {"offsets": None, "score": feature_null, "start_logit": 0.0, "end_logit": 0.0}
            prelim += window_candidates(
                start_logits[w], end_logits[w], offsets[w], max_ctx[w], n_best, max_answer_len
            )
        predictions[ex.qid], nbests[ex.qid] = _finish_example(
            ex.context, prelim, null, n_best, version_2, null_threshold
        )
    return predictions, nbests


def bench_logits(
    rng: np.random.Generator, features: QAFeatures, profile: str
) -> tuple[np.ndarray, np.ndarray]:
    """[N, L] float32 start and end logits. "gaussian": pure N(0, 1) noise. "peaked": noise plus a
    bump (height 6, width 2 tokens) at a random context token for starts and 0-3 tokens later for
    ends, so that, as with a trained model, the top-20 starts and ends cluster and most pairs are
    valid candidates."""
    shape = features.input_ids.shape
    start = rng.standard_normal(shape, dtype=np.float32)
    end = rng.standard_normal(shape, dtype=np.float32)
    if profile == "peaked":
        in_context = features.context_offsets[:, :, 0] >= 0
        first = np.argmax(in_context, axis=1)
        peak = first + np.floor(rng.random(shape[0]) * in_context.sum(axis=1)).astype(np.int64)
        length = rng.integers(0, 4, shape[0])
        pos = np.arange(shape[1])[None, :]
        start += (6 * np.exp(-0.5 * ((pos - peak[:, None]) / 2) ** 2)).astype(np.float32)
        end += (6 * np.exp(-0.5 * ((pos - (peak + length)[:, None]) / 2) ** 2)).astype(np.float32)
    return start, end


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spaneval bench qa-decode", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD JSON (default: dev v1.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random logits")
    parser.add_argument("--version-2", action="store_true", help="decode with the null answer")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side, order alternated")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON line here")
    parser.add_argument("--logits", choices=("peaked", "gaussian"), default="peaked", help="logit profile")
    return parser.parse_args(argv)


def _timed(fn):
    """(fn(), wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _race(examples, features, start, end, version_2: bool, repeat: int):
    """Both decoders `repeat` times, order alternated, each building every question's n-best list.
    Returns {side: [(wall, cpu) per run]} and whether answers and n-best texts are identical."""
    prepared = baseline_inputs(features)
    outputs: dict[str, tuple] = {}

    def ours():
        predictions = decode(examples, features, start, end, version_2=version_2)
        return predictions, nbest_json(predictions)

    def baseline():
        return baseline_decode(examples, *prepared, start, end, version_2=version_2)

    def timed(name, fn):
        def run():
            outputs[name], wall, cpu = _timed(fn)
            return wall, cpu

        return run

    times = alternated({"ours": timed("ours", ours), "baseline": timed("baseline", baseline)}, repeat)
    (predictions, ours_nbest), (base, base_nbest) = outputs["ours"], outputs["baseline"]
    same = len(base) == len(predictions) and all(base[p.qid] == p.text for p in predictions)
    same_nbest = all(_texts_scores(base_nbest[q]) == _texts_scores(ours_nbest[q]) for q in base)
    return times, same, same_nbest


def _texts_scores(nbest: list[dict]) -> list[tuple[str, float]]:
    return [(e["text"], e["score"]) for e in nbest]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print one JSON line and return it as a dict."""
    args = _parse(argv)
    if not args.data.is_file():
        raise DataError(
            args.data, None, "SQuAD v1.1 dev file not found; pass --data PATH/dev-v1.1.json (official file)"
        )
    examples, _ = read_squad(args.data)
    t0 = time.perf_counter()
    features = encode_windows(examples, bundled_tokenizer(), max_seq_len=384, doc_stride=128)
    encode_s = time.perf_counter() - t0
    start, end = bench_logits(generator(args.seed), features, args.logits)
    times, identical, nbest_identical = _race(examples, features, start, end, args.version_2, args.repeat)
    wall = {side: [w for w, _ in runs] for side, runs in times.items()}
    cpu = {side: [c for _, c in runs] for side, runs in times.items()}
    result = {
        "bench": "qa-decode",
        "machine": cpu_name(),
        "questions": len(examples),
        "windows": len(features),
        "version_2": args.version_2,
        "logits": args.logits,
        "runs_per_side": args.repeat,
        "ours_s": spread(wall["ours"]),
        "baseline_s": spread(wall["baseline"]),
        "speedup": ratios(wall["baseline"], wall["ours"], 1),
        "ours_cpu_s": spread(cpu["ours"]),
        "baseline_cpu_s": spread(cpu["baseline"]),
        "speedup_cpu_time": ratios(cpu["baseline"], cpu["ours"], 1),
        "identical": identical,
        "nbest_identical": nbest_identical,
        "encode_s": round(encode_s, 3),
        "options": {
            "both": "same logits and windows (encoding untimed), n_best 20, max_answer_len 30, "
            "every question's n-best list built as dicts (texts, offsets, scores, probabilities), "
            "answers and n-best texts and scores checked identical, one thread",
            "ours": "tasks.qa_decode.decode + nbest_json (numpy pair search and ranking over all "
            "windows at once, then one dict per n-best entry, cyclic gc paused while they are built)",
            "baseline": "postprocess_qa_predictions' per-window loop (run_qa utils_qa.py), in this file, "
            "gc on as in that code",
        },
    }
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
