"""The names a user sees for a model: one short display name per run, and which models form the
comparison the project exists for (SpanBERT-like vs BERT-like).

`display_name(record)` is the one rule the dashboard and every report use:
1. the `--name` label given to `spaneval run` (stored as the record's "name"),
2. else the registry name (`spanbert`, `bert`, `tiny`, ...),
3. else the model card's name of a local folder (first `# ` heading of its README.md, up to the
   first comma: `spaneval pretrain` writes "# spanbert (tiny preset), pretrained with spaneval"),
4. else the folder's name (with its parent when the folder has a generic name such as `model`).
The full path stays in the record (`model.name`, `model.path`) for the run view and hover text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MAX_NAME_CHARS = 40
GENERIC_FOLDER_NAMES = frozenset({"model", "models", "final", "checkpoint", "output", "snapshot"})
CARD_FILE = "README.md"
PRETRAINING_FILE = "pretraining.json"  # written by `spaneval pretrain` beside the weights
# Pretraining objectives (pretrain/objectives.py) by the model family they reproduce.
SPANBERT_OBJECTIVES = frozenset({"spanbert", "spanbert-nosbo"})
BERT_OBJECTIVES = frozenset({"bert-1seq", "bert-nsp"})


def model_card_name(folder: str | Path) -> str | None:
    """The model card's name: its first `# ` heading up to the first comma, or None without a card."""
    card = Path(folder) / CARD_FILE
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("# "):
            name = line[2:].split(",", 1)[0].strip()
            return name[:MAX_NAME_CHARS] or None
    return None


def pretraining_objective(folder: str | Path) -> str | None:
    """The pretraining objective `spaneval pretrain` recorded in the folder, or None."""
    try:
        info = json.loads((Path(folder) / PRETRAINING_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    objective = info.get("objective") if isinstance(info, dict) else None
    return objective if isinstance(objective, str) else None


def model_card_fields(folder: str | Path | None) -> dict[str, str | None]:
    """What a run record stores about a local model folder's card (None values when there is none)."""
    if folder is None or not Path(folder).is_dir():
        return {"card_name": None, "objective": None}
    return {"card_name": model_card_name(folder), "objective": pretraining_objective(folder)}


def folder_name(path: str) -> str:
    """`runs/bert-1seq/model` -> `bert-1seq/model`; `/tmp/minilm` -> `minilm`."""
    parts = Path(path).parts
    if len(parts) >= 2 and parts[-1].lower() in GENERIC_FOLDER_NAMES:
        return "/".join(parts[-2:])
    return parts[-1] if parts else path


def display_name(record: dict[str, Any]) -> str:
    """The short name of a run's model (see the module docstring for the rule)."""
    from spaneval.models import MODELS

    label = record.get("name")
    if isinstance(label, str) and label.strip():
        return label.strip()
    model = record.get("model")
    if not isinstance(model, dict):
        return str(model)
    name = str(model.get("name") or "?")
    if name in MODELS:
        return name
    card = model.get("card_name")
    if card is None and "card_name" not in model and model.get("path"):
        card = model_card_name(model["path"])  # a record written before card names were stored
    return str(card) if card else folder_name(name)


def model_family(name: str, objective: str | None = None) -> str | None:
    """'spanbert' or 'bert' for a model that is one of the two compared families, else None.

    The pretraining objective decides when known; otherwise the name (`spanbert...` is SpanBERT-like,
    any other name containing `bert` as a word part is BERT-like).
    """
    if objective in SPANBERT_OBJECTIVES:
        return "spanbert"
    if objective in BERT_OBJECTIVES:
        return "bert"
    lowered = name.lower()
    if "spanbert" in lowered:
        return "spanbert"
    if re.search(r"(^|[^a-z])bert", lowered):
        return "bert"
    return None


def default_pair(models: Sequence[tuple[str, str | None]]) -> tuple[int, int] | None:
    """Indices (A, B) of the pair to compare first among (name, objective) models: the first
    SpanBERT-like against the first BERT-like, else the first two; None for fewer than two."""
    if len(models) < 2:
        return None
    families = [model_family(name, objective) for name, objective in models]
    span = _first(families, "spanbert")
    bert = _first(families, "bert")
    if span is not None and bert is not None:
        return span, bert
    return 0, 1


def _first(values: Iterable[str | None], wanted: str) -> int | None:
    return next((i for i, v in enumerate(values) if v == wanted), None)
