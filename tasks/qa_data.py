"""Extractive QA data: validated readers for SQuAD v1.1/v2.0 JSON and MRQA 2019 jsonl(.gz).

Every question becomes one `QAExample`. Readers return `(examples, warnings)`; bad input raises
`DataError(path, "article <title>, question <qid>", problem)`. An answer whose text is not at its
`answer_start` is repaired by taking the occurrence of the text nearest to the given start (with a
warning); an answer whose text does not occur in the context at all raises, or with `strict=False`
is dropped with a warning (a question left without answers is then dropped too).

`Answer.start == -1` marks a text-only gold answer (kept for scoring, never used as a training label):
MRQA `answers` strings that do not occur in the context, and, when scoring, SQuAD answers that cannot
be located.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from spaneval.errors import DataError, excerpt
from spaneval.userfiles import parse_json, read_text


@dataclass(frozen=True)
class Answer:
    """A gold answer: its text and character start in the context (-1: text only, position unknown)."""

    text: str
    start: int


@dataclass(frozen=True)
class QAExample:
    """One question over one context; `answers` is empty exactly when `is_impossible`."""

    qid: str
    title: str
    context: str
    question: str
    answers: tuple[Answer, ...]
    is_impossible: bool
    # The texts scored against when they are not the answers' texts: MRQA's `answers` field, the
    # only gold of the official MRQA evaluation (`answers` above also holds detected spans).
    scored_texts: tuple[str, ...] | None = None

    @property
    def gold_texts(self) -> tuple[str, ...]:
        """The gold texts of the official metric (max over them per question)."""
        return self.scored_texts if self.scored_texts is not None else tuple(a.text for a in self.answers)


def _where(title: object, qid: object = None) -> str:
    return f"article {title}" + (f", question {qid}" if qid is not None else "")


def _load_json(path: Path) -> object:
    text = read_text(path)
    if not text.strip():
        raise DataError(path, None, "file is empty; expected SQuAD JSON {'version': ..., 'data': [...]}")
    return parse_json(text, path)


def _field(obj: object, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> object:
    if not isinstance(obj, dict):
        raise DataError(path, where, f"expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise DataError(path, where, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(path, where, f"field {key!r} must be {names}, got {type(value).__name__}")
    return value


def occurrences(context: str, text: str) -> list[int]:
    """Every start offset (overlapping occurrences included) of `text` in `context`."""
    found, pos = [], context.find(text)
    while pos != -1 and text:
        found.append(pos)
        pos = context.find(text, pos + 1)
    return found


def locate_answer(context: str, text: str, start: int) -> int | None:
    """`start` if `text` is there, else the occurrence nearest to `start`, else None."""
    if start >= 0 and context.startswith(text, start):
        return start
    found = occurrences(context, text)
    return min(found, key=lambda pos: (abs(pos - start), pos)) if found else None


@dataclass
class _Reader:
    """Context for validating one file: where to report, how to treat unlocatable answers."""

    path: Path
    on_unlocated: str  # "raise", "drop" or "keep" (keep: Answer(text, -1), used for scoring)
    warnings: list[str]

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{self.path}, {where}: {message}")

    def answer(self, context: str, text: str, start: int, where: str) -> Answer | None:
        if not text.strip():  # "" occurs everywhere: it would train on an empty span at answer_start
            return self.unlocated(text, where, f"answer text {text!r} is empty")
        pos = locate_answer(context, text, start)
        if pos == start:
            return Answer(text, start)
        if pos is not None:
            self.warn(where, f"answer {excerpt(text)} is not at answer_start {start}; using offset {pos}")
            return Answer(text, pos)
        problem = f"answer {excerpt(text)} (answer_start {start}) does not occur in the context"
        return self.unlocated(text, where, problem)

    def unlocated(self, text: str, where: str, problem: str) -> Answer | None:
        if self.on_unlocated == "raise":
            raise DataError(self.path, where, problem + " (use strict=False to drop such answers)")
        if self.on_unlocated == "keep":
            return Answer(text, -1)
        self.warn(where, problem + "; dropped")
        return None


def _squad_answers(r: _Reader, qa: dict, context: str, where: str) -> tuple[Answer, ...]:
    raw = _field(qa, "answers", list, r.path, where)
    answers = []
    for i, ans in enumerate(raw):
        at = f"{where}, answer {i}"
        text = _field(ans, "text", str, r.path, at)
        start = _field(ans, "answer_start", int, r.path, at)
        found = r.answer(context, text, start, where)
        if found is not None:
            answers.append(found)
    return tuple(answers)


def _squad_question(r: _Reader, qa: object, title: str, context: str, seen: set) -> QAExample | None:
    qid = _field(qa, "id", str, r.path, _where(title))
    where = _where(title, qid)
    if qid in seen:
        raise DataError(r.path, where, "duplicate question id")
    seen.add(qid)
    question = _field(qa, "question", str, r.path, where)
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise DataError(r.path, where, "field 'is_impossible' must be true or false")
    answers = _squad_answers(r, qa, context, where)
    if impossible and qa["answers"]:
        raise DataError(r.path, where, "is_impossible is true but 'answers' is not empty")
    if not impossible and not qa["answers"]:
        raise DataError(r.path, where, "answerable question (is_impossible false or absent) has no answers")
    if not impossible and not answers:
        r.warn(where, "no answer could be located; question dropped")
        return None
    return QAExample(qid, title, context, question, answers, impossible)


def _squad_examples(r: _Reader, data: object) -> Iterator[QAExample]:
    if not isinstance(data, dict) or "data" not in data:
        raise DataError(r.path, None, "expected a JSON object with a 'data' list (SQuAD format)")
    if not isinstance(data["data"], list):
        raise DataError(r.path, None, f"'data' must be a list, got {type(data['data']).__name__}")
    seen: set[str] = set()
    for a, article in enumerate(data["data"]):
        title = article.get("title", f"#{a}") if isinstance(article, dict) else f"#{a}"
        paragraphs = _field(article, "paragraphs", list, r.path, _where(title))
        for p, paragraph in enumerate(paragraphs):
            where = f"{_where(title)}, paragraph {p}"
            context = _field(paragraph, "context", str, r.path, where)
            if not context.strip():
                raise DataError(r.path, where, "empty context")
            for qa in _field(paragraph, "qas", list, r.path, where):
                example = _squad_question(r, qa, str(title), context, seen)
                if example is not None:
                    yield example


def read_squad(
    path: str | Path, *, strict: bool = True, keep_unlocated: bool = False
) -> tuple[list[QAExample], list[str]]:
    """Read official SQuAD v1.1 / v2.0 JSON into validated examples, plus repair warnings.

    An answer whose text is not at its offset (nor found nearby) is an error when `strict`, else
    dropped with a warning; `keep_unlocated` keeps it (scoring compares answer texts only).
    """
    path = Path(path)
    reader = _Reader(path, "keep" if keep_unlocated else ("raise" if strict else "drop"), [])
    examples = list(_squad_examples(reader, _load_json(path)))
    if not examples:
        raise DataError(path, None, "no questions found")
    return examples, reader.warnings


def _jsonl_lines(path: Path) -> Iterator[tuple[int, object]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                problem = f"not UTF-8 text (byte {e.start} of the line)"
                raise DataError(path, f"line {lineno}", problem) from None
            if line.strip():
                yield lineno, parse_json(line, f"{path}, line {lineno}")


def _mrqa_span_answers(r: _Reader, qa: dict, context: str, where: str) -> list[Answer]:
    answers = []
    for d, detected in enumerate(_field(qa, "detected_answers", list, r.path, where)):
        for span in _field(detected, "char_spans", list, r.path, f"{where}, detected answer {d}"):
            ok = isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)
            if not ok or not 0 <= span[0] <= span[1] < len(context):
                problem = f"char_span {excerpt(span)} is not [start, end] inside the context"
                raise DataError(r.path, where, problem)
            text = context[span[0] : span[1] + 1]  # MRQA char spans are inclusive
            if detected.get("text") not in (None, text):
                shown = excerpt(detected["text"])
                r.warn(where, f"detected answer {shown} differs from its span {excerpt(text)}")
            if Answer(text, span[0]) not in answers:
                answers.append(Answer(text, span[0]))
    return answers


def _mrqa_question(r: _Reader, qa: object, title: str, context: str) -> QAExample:
    qid = _field(qa, "qid", str, r.path, _where(title))
    where = _where(title, qid)
    question = _field(qa, "question", str, r.path, where)
    answers = _mrqa_span_answers(r, qa, context, where)
    texts = _field(qa, "answers", list, r.path, where)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise DataError(
            r.path, where, "'answers' must be a non-empty list of strings (the gold it is scored on)"
        )
    located = {a.text for a in answers}
    for text in texts:
        if text not in located:
            found = occurrences(context, text)
            answers.append(Answer(text, found[0] if found else -1))
            located.add(text)
    return QAExample(qid, title, context, question, tuple(answers), False, tuple(texts))


def read_mrqa(path: str | Path) -> tuple[list[QAExample], list[str]]:
    """Read an MRQA 2019 shared-task file (jsonl or jsonl.gz, header line first).

    Answers: one per distinct `detected_answers[*].char_spans` entry (positioned, used as labels),
    then each `answers` string not already covered, at its first occurrence or -1 (text only).
    Scoring uses the `answers` strings only (`QAExample.gold_texts`), as the official MRQA
    evaluation (mrqa_official_eval.py) does: a detected span's text may differ from them.
    The title is the header's dataset name.
    """
    path = Path(path)
    reader, examples, title = _Reader(path, "raise", []), [], None
    for lineno, obj in _jsonl_lines(path):
        if title is None:
            header = obj.get("header") if isinstance(obj, dict) else None
            if not isinstance(header, dict):
                raise DataError(path, f"line {lineno}", "first line must be the MRQA header {'header': ...}")
            title = str(header.get("dataset", path.stem))
            continue
        context = _field(obj, "context", str, path, f"line {lineno}")
        if not context.strip():
            raise DataError(path, f"line {lineno}", "empty context")
        for qa in _field(obj, "qas", list, path, f"line {lineno}"):
            examples.append(_mrqa_question(reader, qa, title, context))
    if title is None:
        raise DataError(path, None, "file is empty; expected an MRQA header line and context lines")
    if not examples:
        raise DataError(path, None, "no questions found")
    return examples, reader.warnings
