"""`spaneval score tacred|semeval2010`: the official figures of a predictions file."""

from __future__ import annotations

from pathlib import Path

from spaneval.errors import DataError, excerpt
from spaneval.metrics import relation as rel_metrics
from spaneval.tasks.relation_data import (
    RETACRED_LABELS,
    TACRED_LABELS,
    load_patch,
    read_semeval_answers,
    read_tacred,
    span_breakdowns,
)
from spaneval.userfiles import read_json, read_text


def read_tacred_predictions(path: str | Path, ids: list[str]) -> dict[str, str]:
    """Predictions as JSON {id: label} or as text, one label per line in the order of the (patched) data."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = read_json(path)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise DataError(path, None, "expected a JSON object {id: relation label}")
        missing = [i for i in ids if i not in data]
        if missing:
            raise DataError(path, missing[0], f"no prediction for this id ({len(missing)} missing)")
        return {i: data[i] for i in ids}
    labels = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if len(labels) != len(ids):
        raise DataError(
            path, None, f"expected {len(ids)} labels (one per line, data order), got {len(labels)}"
        )
    return dict(zip(ids, labels, strict=True))


def score_tacred_files(data_path: str, predictions_path: str, patch_path: str | None = None) -> dict:
    """`spaneval score tacred`: the official TACRED figures for a prediction file, as one dict."""
    patch = load_patch(patch_path) if patch_path else None
    labels = RETACRED_LABELS if patch and patch["kind"] == "retacred" else TACRED_LABELS
    examples = read_tacred(data_path, labels, patch, strict_patch=True)
    by_id = read_tacred_predictions(predictions_path, [ex.id for ex in examples])
    for n, (ex_id, label) in enumerate(by_id.items(), start=1):
        if label not in labels:
            raise DataError(
                predictions_path,
                ex_id if Path(predictions_path).suffix.lower() == ".json" else f"line {n}",
                f"unknown relation {excerpt(label)}",
            )
    predictions = [by_id[ex.id] for ex in examples]
    result = rel_metrics.tacred_score([ex.label for ex in examples], predictions)
    return {
        "data": str(data_path),
        "predictions": str(predictions_path),
        "patch": patch_path,
        "n_examples": len(examples),
        **result,
        "breakdowns": span_breakdowns(examples, predictions, rel_metrics.TACRED_NEGATIVE),
    }


def score_semeval_files(key_path: str, predictions_path: str) -> dict:
    """`spaneval score semeval2010`: every figure the official scorer prints, as one dict."""
    key = read_semeval_answers(key_path)
    proposed = read_semeval_answers(predictions_path)
    extra = [i for i in proposed if i not in key]
    if extra:
        raise DataError(predictions_path, extra[0], f"id not in the key {key_path}")
    return {
        "key": str(key_path),
        "predictions": str(predictions_path),
        **rel_metrics.semeval_score(key, proposed),
    }
