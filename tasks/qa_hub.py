"""SQuAD / MRQA from the Hugging Face hub (for users online or with a filled cache)."""

from __future__ import annotations

from spaneval.errors import HubUnavailableError
from spaneval.hub import hub_offline, require_hub
from spaneval.tasks.qa_data import Answer, QAExample, locate_answer

WAYS_OUT = (
    "  - pass a local file in the official format: --data path/to/dev-v1.1.json (SQuAD) or .jsonl.gz (MRQA)\n"
    "  - or use the bundled sample: --data bundled"
)


def load_hub_split(repo: str, revision: str | None, split: str, subset: str | None):
    """(examples, fingerprint) of one split of a hub QA data set; MRQA rows filtered by `subset`."""
    import datasets

    what = f"data set {repo}@{revision or 'main'} ({split})"
    if not hub_offline():
        require_hub(what, WAYS_OUT)
    try:
        ds = datasets.load_dataset(repo, split=split, revision=revision)
    except (ConnectionError, OSError, ValueError) as err:
        raise HubUnavailableError(f"could not load {what}: {err}\nWays to proceed:\n{WAYS_OUT}") from None
    if subset is not None:
        ds = ds.filter(lambda row: row["subset"] == subset)
    examples = [_squad_row(r) for r in ds] if subset is None else [_mrqa_row(r) for r in ds]
    return examples, f"hub:{repo}@{revision or 'main'}:{split}:{ds._fingerprint}"


def _squad_row(row: dict) -> QAExample:
    texts, starts = row["answers"]["text"], row["answers"]["answer_start"]
    answers = []
    for text, start in zip(texts, starts, strict=True):
        located = locate_answer(row["context"], text, start)
        answers.append(Answer(text, -1 if located is None else located))
    return QAExample(
        row["id"], row.get("title", ""), row["context"], row["question"], tuple(answers), not answers
    )


def _mrqa_row(row: dict) -> QAExample:
    spans = row["detected_answers"]["char_spans"]
    answers = [
        Answer(row["context"][s["start"][0] : s["end"][0] + 1], s["start"][0]) for s in spans if s["start"]
    ] or [Answer(t, -1) for t in row["answers"]]
    return QAExample(
        row["qid"],
        row["subset"],
        row["context"],
        row["question"],
        tuple(answers),
        False,
        tuple(row["answers"]),
    )
