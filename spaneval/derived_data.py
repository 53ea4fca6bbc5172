"""Evaluation and training files derived from official SQuAD files by whole articles, in code.

Held-out sets must be disjoint from training by article (questions on one paragraph share answers),
and a reader must be able to rebuild them: each function is deterministic, keeps the official JSON
schema byte for byte in every kept article, and writes atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spaneval.atomic import write_json
from spaneval.errors import SpanevalError
from spaneval.userfiles import read_json


def _articles(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dataset = read_json(path)
    if not isinstance(dataset, dict) or not isinstance(dataset.get("data"), list):
        raise SpanevalError(f"{path}: expected a SQuAD file, an object with a 'data' list of articles")
    for i, article in enumerate(dataset["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("title"), str):
            raise SpanevalError(f"{path}: article {i} has no string 'title'")
    return dataset, dataset["data"]


def _write(out: Path, dataset: dict[str, Any], articles: list[dict[str, Any]]) -> Path:
    write_json(out, {**dataset, "data": articles}, indent=None)
    return out


def without_articles_of(source: Path, exclude: Path, out: Path) -> Path:
    """`source` minus every article whose title is in `exclude` (e.g. v1.1 dev minus a training file)."""
    dataset, articles = _articles(source)
    titles = {a["title"] for a in _articles(exclude)[1]}
    kept = [a for a in articles if a["title"] not in titles]
    if len(kept) == len(articles):
        raise SpanevalError(f"{exclude}: none of its article titles occur in {source}; nothing was held out")
    if not kept:
        raise SpanevalError(f"{source}: every article is also in {exclude}; nothing is left")
    return _write(out, dataset, kept)


def split_articles(source: Path, first_n: int, part: str, out: Path) -> Path:
    """The first `first_n` articles of `source` (part "first") or the others (part "rest"), in file order."""
    dataset, articles = _articles(source)
    if not 0 < first_n < len(articles):
        raise SpanevalError(f"{source}: has {len(articles)} articles; cannot put the first {first_n} apart")
    if part not in ("first", "rest"):
        raise SpanevalError(f"split_articles: part must be 'first' or 'rest', not {part!r}")
    return _write(out, dataset, articles[:first_n] if part == "first" else articles[first_n:])


def question_count(path: Path) -> int:
    """Questions in a SQuAD file."""
    return sum(len(p["qas"]) for a in _articles(path)[1] for p in a["paragraphs"])
