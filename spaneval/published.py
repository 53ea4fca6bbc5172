"""Published reference numbers (not measured by spaneval), each with its source.

Shown beside measured results as reference rows, always marked "published". Only numbers we could
check against the source are listed; where unsure, a number is left out. Note the settings: most
are *test-set* numbers (SQuAD test via the leaderboard, OntoNotes test, TACRED test), while the
README's base-size SQuAD numbers are *dev-set* numbers. spaneval evaluates on dev splits, so even a
perfect reproduction is only comparable to the dev rows.

Sources
- README: facebookresearch/SpanBERT README.md (commit 0670d8b6a38f6714b85ea7a033f16bd8cc162676),
  results table (F1 only). "The numbers marked as * are evaluated on the development sets ... All
  the other numbers are test numbers." The * rows are SQuAD 1.1 / 2.0 for the base models.
- Paper: Joshi et al. (2020), "SpanBERT: Improving Pre-training by Representing and Predicting
  Spans", TACL 8: 64-77. Table 1 (SQuAD 1.1 / 2.0 test), Table 3 (OntoNotes coreference test,
  average F1 of MUC, B3, CEAF-phi4), Table 4 (TACRED test).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

README = "SpanBERT README (facebookresearch/SpanBERT@0670d8b), results table"
PAPER = "Joshi et al. (2020), TACL"


@dataclass(frozen=True)
class PublishedScore:
    benchmark: str  # "squad1.1", "squad2.0", "ontonotes", "tacred"
    model: str  # spaneval model name this corresponds to: "spanbert" or "bert"
    size: str  # "base" or "large"
    metric: str  # spaneval metric key
    value: float
    split: str  # "dev" or "test"
    source: str
    note: str = ""


_BERT_LARGE = "Google BERT-large (Devlin et al. 2019) as fine-tuned by Joshi et al."
PUBLISHED: tuple[PublishedScore, ...] = (
    # README base-size rows: SQuAD numbers are dev (*), coref and TACRED are test.
    PublishedScore("squad1.1", "bert", "base", "f1", 88.5, "dev", README),
    PublishedScore("squad2.0", "bert", "base", "f1", 76.5, "dev", README),
    PublishedScore("ontonotes", "bert", "base", "conll_f1", 73.1, "test", README),
    PublishedScore("tacred", "bert", "base", "f1", 67.7, "test", README),
    PublishedScore("squad1.1", "spanbert", "base", "f1", 92.4, "dev", README),
    PublishedScore("squad2.0", "spanbert", "base", "f1", 83.6, "dev", README),
    PublishedScore("ontonotes", "spanbert", "base", "conll_f1", 77.4, "test", README),
    PublishedScore("tacred", "spanbert", "base", "f1", 68.2, "test", README),
    # README large-size rows (test), BERT-large being Google's BERT.
    PublishedScore("squad1.1", "bert", "large", "f1", 91.3, "test", README, _BERT_LARGE),
    PublishedScore("squad2.0", "bert", "large", "f1", 83.3, "test", README, _BERT_LARGE),
    PublishedScore("ontonotes", "bert", "large", "conll_f1", 77.1, "test", README, _BERT_LARGE),
    PublishedScore("tacred", "bert", "large", "f1", 66.4, "test", README, _BERT_LARGE),
    # Paper, SpanBERT-large (test): the F1 values agree with the README's large row.
    PublishedScore("squad1.1", "spanbert", "large", "exact_match", 88.8, "test", f"{PAPER}, Table 1"),
    PublishedScore("squad1.1", "spanbert", "large", "f1", 94.6, "test", f"{PAPER}, Table 1"),
    PublishedScore("squad2.0", "spanbert", "large", "exact_match", 85.7, "test", f"{PAPER}, Table 1"),
    PublishedScore("squad2.0", "spanbert", "large", "f1", 88.7, "test", f"{PAPER}, Table 1"),
    PublishedScore("ontonotes", "spanbert", "large", "conll_f1", 79.6, "test", f"{PAPER}, Table 3"),
    PublishedScore("tacred", "spanbert", "large", "precision", 70.8, "test", f"{PAPER}, Table 4"),
    PublishedScore("tacred", "spanbert", "large", "recall", 70.9, "test", f"{PAPER}, Table 4"),
    PublishedScore("tacred", "spanbert", "large", "f1", 70.8, "test", f"{PAPER}, Table 4"),
)

# Which published benchmark a spaneval run corresponds to, by (task, data source). Coreference is
# only comparable on OntoNotes (not LitBank); SemEval-2010 Task 8 is not in the paper.
_BENCHMARKS = {
    ("squad", None): "squad1.1",
    ("squad_v2", None): "squad2.0",
    ("coref", "ontonotes"): "ontonotes",
    ("tacred", None): "tacred",
}


def benchmark_for(task: str, data_source: str | None = None) -> str | None:
    """The published benchmark a run of `task` on `data_source` can be set beside, if any."""
    return _BENCHMARKS.get((task, data_source)) or _BENCHMARKS.get((task, None))


def published_table(tasks: Iterable[tuple[str, str | None]] | None = None) -> pd.DataFrame:
    """Published numbers as a table; with `tasks` ((task, data source) pairs) only matching ones.

    Columns: task, benchmark, model, size, metric, value, split, source, note, label. `label`
    reads e.g. "SpanBERT (large), published, test" so it can never be taken for a measurement.
    """
    wanted = None if tasks is None else {(t, s): benchmark_for(t, s) for t, s in tasks}
    rows: list[dict[str, Any]] = []
    for score in PUBLISHED:
        pairs = [(t, s) for (t, s), b in (wanted or {}).items() if b == score.benchmark]
        if wanted is None:
            pairs = [(t, None) for (t, s), b in _BENCHMARKS.items() if b == score.benchmark]
        for task, _ in pairs[:1]:
            name = "SpanBERT" if score.model == "spanbert" else "BERT"
            rows.append(
                {"task": task, **asdict(score), "label": f"{name} ({score.size}), published, {score.split}"}
            )
    columns = ["task", *PublishedScore.__dataclass_fields__, "label"]
    return pd.DataFrame(rows, columns=columns)
