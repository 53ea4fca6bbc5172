"""`spaneval score squad|squad_v2`: the official SQuAD v1.1 / v2.0 metrics of a predictions file."""

from __future__ import annotations

from pathlib import Path

from spaneval.errors import DataError
from spaneval.metrics import qa_analysis, squad
from spaneval.tasks.qa_data import QAExample, read_squad
from spaneval.userfiles import read_json


def _load_str_map(path: Path, value_kind: type | tuple[type, ...], what: str) -> dict:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, None, f"expected a JSON object {{question id: {what}}}")
    for qid, value in data.items():
        if not isinstance(value, value_kind) or isinstance(value, bool):
            raise DataError(path, f"question {qid}", f"expected {what}, got {type(value).__name__}")
    return data


def _score_rows(examples: list[QAExample], preds: dict, na_probs: dict | None, version_2: bool) -> list[dict]:
    """Per-question rows for the aggregators; a missing prediction scores 0 and is never switched."""
    score = squad.score_v2 if version_2 else squad.score_v1
    rows = []
    for ex in examples:
        gold = list(ex.gold_texts)
        answered = ex.qid in preds
        exact, f1 = score(gold, preds[ex.qid]) if answered else (0, 0.0)
        row = {"id": ex.qid, "exact": exact, "f1": f1, "has_answer": bool(gold)}
        if version_2:
            row["pred_empty"] = answered and preds[ex.qid] == ""
            if na_probs is not None:
                row["na_prob"] = float(na_probs[ex.qid]) if answered else float("-inf")
        rows.append(row)
    return rows


def _check_na_probs(na_probs: dict, preds: dict, examples: list[QAExample], path: Path) -> None:
    for ex in examples:
        if ex.qid in preds and ex.qid not in na_probs:
            raise DataError(path, f"question {ex.qid}", "no no-answer probability for a predicted question")


def _official_metrics(rows: list[dict], na_probs: dict | None, version_2: bool) -> dict:
    if not version_2:
        return squad.aggregate_v1(rows)
    if na_probs is None:
        return squad.aggregate_v2(rows)
    # The v2.0 script sweeps qids in the na-prob file's order; keep that order for ties.
    order = {qid: i for i, qid in enumerate(na_probs)}
    ordered = sorted(rows, key=lambda r: order.get(r["id"], -1))
    return squad.aggregate_v2(ordered, best_thresh=True)


def score_squad_files(
    data_path: str | Path,
    predictions_path: str | Path,
    na_prob_path: str | Path | None = None,
    version_2: bool = False,
) -> dict:
    """What `spaneval score squad|squad_v2` prints: the official metrics plus `analysis`.

    Keys follow the official scripts (v1.1: exact_match, f1; v2.0: exact, f1, total, HasAns_*,
    NoAns_*, and with na-probs best_exact(_thresh), best_f1(_thresh)), then `analysis` (the
    span-level tables of `spaneval.metrics.qa_analysis`, predictions located in the context by
    text) and `warnings` (missing predictions, repaired gold offsets, unknown ids).
    Missing predictions score 0; a question missing from the na-prob file is never switched to
    "no answer" by the threshold sweep.
    """
    data_path, predictions_path = Path(data_path), Path(predictions_path)
    examples, warnings = read_squad(data_path, keep_unlocated=True)
    preds = _load_str_map(predictions_path, str, "an answer string")
    na_probs = None if na_prob_path is None else _load_str_map(Path(na_prob_path), (int, float), "a number")
    if na_probs is not None:
        _check_na_probs(na_probs, preds, examples, Path(na_prob_path))
    known = {ex.qid for ex in examples}
    missing = [ex.qid for ex in examples if ex.qid not in preds]
    if missing:
        first = missing[0]
        warnings.append(
            f"{predictions_path}: {len(missing)} questions have no prediction, scored 0 (first: {first})"
        )
    unknown = [qid for qid in preds if qid not in known]
    if unknown:
        first = unknown[0]
        warnings.append(
            f"{predictions_path}: {len(unknown)} predictions for unknown question ids (first: {first})"
        )
    if not version_2 and any(ex.is_impossible for ex in examples):
        warnings.append(
            f"{data_path}: has unanswerable questions (SQuAD v2.0); they score 0 here, use squad_v2"
        )
    rows = _score_rows(examples, preds, na_probs, version_2)
    result = dict(_official_metrics(rows, na_probs, version_2))
    scores = {r["id"]: (r["exact"], r["f1"]) for r in rows}
    result["analysis"] = qa_analysis.analyze(qa_analysis.analysis_items(examples, preds, scores))
    result["warnings"] = warnings
    return result
