"""Relation extraction tasks: TACRED (SpanBERT paper, Sec. 4.3) and SemEval-2010 Task 8.

    python -m spaneval run tacred --model spanbert --data DIR [--patch FILE|DIR]
    python -m spaneval run semeval2010 --model spanbert
    python -m spaneval score tacred --data DATA.json --predictions PRED.json|txt
    python -m spaneval score semeval2010 --key KEY.txt --predictions ANSWERS.txt

The reading and validation live in tasks/relation_data.py, the input formats in
tasks/relation_formats.py, the classifier in tasks/relation_model.py and the metrics in
spaneval/metrics/relation.py; this module wires them into the Task protocol (tasks/base.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spaneval import atomic
from spaneval.config import check_ranges, option
from spaneval.data_paths import shared_path
from spaneval.errors import ConfigError, DataError, SpanevalError
from spaneval.metrics import relation as metrics
from spaneval.tasks import relation_data as data
from spaneval.tasks import relation_formats as formats
from spaneval.tasks import relation_score_files as score_files
from spaneval.tasks.base import (
    DataSplit,
    PredictionRows,
    Scores,
    TaskInfo,
    combined_fingerprint,
    file_fingerprint,
)
from spaneval.tasks.relation_model import RelationClassifier, argmax_labels, collate_features
from spaneval.tasks.relation_rows import relation_rows
from spaneval.training_core import default_param_groups

REPO = Path(__file__).resolve().parents[1]
BUNDLED_SEMEVAL = REPO / "spaneval" / "data" / "semeval2010"


@dataclass(frozen=True)
class TacredConfig:
    """Options of the TACRED task."""

    input_format: Literal[
        "entity_mask",
        "entity_marker",
        "entity_marker_punct",
        "typed_entity_marker",
        "typed_entity_marker_punct",
    ] = option("entity_mask", "how subject and object are shown (SpanBERT: entity_mask)")
    classifier: Literal["cls", "entity_start"] = option("cls", "classify [CLS] or the entity-start vectors")
    max_seq_len: int = option(128, "word pieces per input, [CLS] and [SEP] included", min=8, max=8192)
    dropout: float = option(0.1, "dropout before the classifier", min=0, below=1)
    labels: Literal["tacred", "retacred"] = option("tacred", "label inventory: TACRED/TACRev or Re-TACRED")
    patch: str | None = option(
        None, "TACRev/Re-TACRED label patch: a file, or a directory of per-split files"
    )
    eval_split: Literal["dev", "test"] = option(
        "test", "split scored as 'eval': papers report test; use dev when eval_every_steps selects weights"
    )

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class SemevalConfig:
    """Options of the SemEval-2010 Task 8 task (the release has train and test only)."""

    # entity_mask would hide the nominals, which carry most of the signal in SemEval (there are
    # no entity types to show instead), so the default marks them.
    input_format: Literal[
        "entity_mask",
        "entity_marker",
        "entity_marker_punct",
        "typed_entity_marker",
        "typed_entity_marker_punct",
    ] = option("entity_marker", "how e1 and e2 are shown (typed formats need types)")
    classifier: Literal["cls", "entity_start"] = option("cls", "classify [CLS] or the entity-start vectors")
    max_seq_len: int = option(128, "word pieces per input, [CLS] and [SEP] included", min=8, max=8192)
    dropout: float = option(0.1, "dropout before the classifier", min=0, below=1)

    def __post_init__(self) -> None:
        check_ranges(self)


# SpanBERT (Joshi et al. 2020), Appendix B and the TACRED command of its README (run_tacred.py):
# lr 2e-5, batch 32, 10 epochs, max_seq_length 128, warmup 0.1, NER-typed entity masks, [CLS].
PAPER = {"learning_rate": 2e-5, "batch_size": 32, "epochs": 10, "warmup_ratio": 0.1, "max_seq_len": 128}
# Zhou and Chen (2021), "An Improved Baseline for Sentence-level RE": their released train_tacred.py
# defaults (lr 3e-5, micro-batches of 32 with 2 accumulation steps = 64 per update, Adam eps 1e-6,
# 5 epochs, warmup 0.1, max length 512, clipping 1.0), typed entity markers (punct) and the
# entity-start classifier.
IMPROVED = {
    "learning_rate": 3e-5,
    "batch_size": 64,
    "grad_accum_steps": 2,
    "adam_eps": 1e-6,
    "epochs": 5,
    "warmup_ratio": 0.1,
    "max_grad_norm": 1.0,
    "max_seq_len": 512,
    "classifier": "entity_start",
}
# A seconds-long smoke run on CPU (not a paper setting).
TINY = {"batch_size": 8, "epochs": 1, "max_seq_len": 64}


class RelationTask:
    """What the relation tasks share (encoding, model, decoding); TacredTask and SemevalTask add
    their data: reading, label inventory (`labels_of(cfg)`, whose order fixes the classifier's
    outputs), scoring and the official scorers' files."""

    config_cls: type
    rows: PredictionRows
    score_options: tuple[str, ...]
    subj_types: tuple[str, ...] = ()
    obj_types: tuple[str, ...] = ()

    def __init__(self, info: TaskInfo, presets: dict[str, dict[str, Any]]):
        self.info, self.presets = info, presets

    def labels_of(self, cfg: Any) -> tuple[str, ...]:
        raise NotImplementedError

    def new_tokens(self, cfg: Any) -> tuple[str, ...]:
        """The tokens `prepare_tokenizer` adds, fixed by the format and the type inventory."""
        try:
            return formats.new_tokens(cfg.input_format, self.subj_types, self.obj_types)
        except ValueError as err:
            raise ConfigError(f"{self.info.name}: {err}") from None

    def prepare_tokenizer(self, tokenizer: Any, cfg: Any) -> Any:
        tokens = self.new_tokens(cfg)
        if tokens:
            tokenizer.add_tokens(list(tokens), special_tokens=True)
        return tokenizer

    def encode(self, examples, tokenizer, cfg, train: bool) -> list[dict]:
        # refuses a typed format on untyped data, and an unprepared tokenizer, before tokenizing
        missing = [
            t for t in self.new_tokens(cfg) if tokenizer.convert_tokens_to_ids(t) == tokenizer.unk_token_id
        ]
        if missing:
            raise ConfigError(
                f"{self.info.name}: call prepare_tokenizer first; {missing[0]!r} is not in the vocabulary"
            )
        try:
            return formats.encode_examples(
                examples, tokenizer, cfg.input_format, cfg.max_seq_len, self.labels_of(cfg)
            )
        except ValueError as err:
            raise ConfigError(f"{self.info.name}: {err}") from None

    def collate(self, features: Sequence[dict]) -> dict[str, Any]:
        return collate_features(features)

    def build_model(self, encoder: Any, tokenizer: Any, cfg: Any) -> RelationClassifier:
        if encoder.get_input_embeddings().num_embeddings < len(tokenizer):
            encoder.resize_token_embeddings(len(tokenizer))
        return RelationClassifier(encoder, len(self.labels_of(cfg)), cfg.classifier, cfg.dropout)

    def param_groups(self, model: Any, train_cfg: Any) -> list[dict]:
        return default_param_groups(model, train_cfg.learning_rate, train_cfg.weight_decay)

    def decode(self, examples, features, outputs, cfg) -> list[str]:
        return argmax_labels(features, outputs, self.labels_of(cfg))


# --- TACRED -----------------------------------------------------------------------------------

TACRED_MISSING = (
    "TACRED is licensed by the LDC (LDC2018T24) and not bundled: pass --data DIR holding "
    "train.json, dev.json and test.json (the release's JSON files)"
)


def _tacred_patch_for(
    patch: str | None, split: str, many_splits: bool
) -> tuple[dict | None, bool, list[str]]:
    """(patch or None, strict id check, warnings) for one split; a directory holds per-split files."""
    if patch is None:
        return None, True, []
    path = Path(patch)
    if path.is_dir():
        for name in (f"{split}_patch.json", f"{split}_id2label.json"):
            if (path / name).is_file():
                return data.load_patch(path / name), True, []
        return None, True, [f"no patch for split {split!r} in {path} (TACRev patches only dev and test)"]
    if not path.is_file():
        raise DataError(path, None, "patch file not found")
    # one file for several splits: ids are matched where they occur
    return data.load_patch(path), not many_splits, []


def _named_tacred_dir() -> Path:
    """The `tacred` source: $SPANEVAL_TACRED_DIR, else ../shared/data/relation/tacred."""
    env = os.environ.get("SPANEVAL_TACRED_DIR")
    found = Path(env) if env and Path(env).is_dir() else shared_path("relation", "tacred")
    if found is not None and found.is_dir():
        return found
    raise SpanevalError(TACRED_MISSING + ", or set SPANEVAL_TACRED_DIR")


def _tacred_file(source: str | None, split: str) -> tuple[Path, bool]:
    path = _named_tacred_dir() if source in (None, "", "tacred") else Path(source)
    if path.is_dir():
        name = "dev.json" if split == "dev" else f"{split}.json"
        if not (path / name).is_file():
            raise DataError(path / name, None, f"TACRED {split} split not found; {TACRED_MISSING}")
        return path / name, True
    if not path.is_file():
        raise DataError(path, None, f"not found; {TACRED_MISSING}")
    return path, False


def load_tacred(source: str | None, split: str, cfg: TacredConfig) -> DataSplit:
    split = cfg.eval_split if split == "eval" else split
    path, many_splits = _tacred_file(source, split)
    patch, strict, warnings = _tacred_patch_for(cfg.patch, split, many_splits)
    if patch and patch["kind"] == "retacred" and cfg.labels != "retacred":
        raise ConfigError(f"{patch['path']} is a Re-TACRED patch: set labels=retacred")
    examples = data.read_tacred(path, data.LABEL_SETS[cfg.labels], patch, strict_patch=strict)
    if patch and not any(ex.id in patch["updates"] for ex in examples):
        warnings.append(f"patch {patch['path']} changes no record of the {split} split")
    fingerprints = [file_fingerprint(path)] + ([file_fingerprint(patch["path"])] if patch else [])
    return DataSplit(
        examples, str(source), str(path), combined_fingerprint(*fingerprints), warnings=tuple(warnings)
    )


def _tacred_scores(examples, predictions, cfg) -> Scores:
    gold = [ex.label for ex in examples]
    result = metrics.tacred_score(gold, predictions)
    per_relation = {
        rel: {"precision": r["precision"], "recall": r["recall"], "f1": r["f1"], "count": r["gold"]}
        for rel, r in result["per_relation"].items()
    }
    breakdowns = data.span_breakdowns(examples, predictions, metrics.TACRED_NEGATIVE)
    breakdowns |= {"per_relation": per_relation, "confusion_matrix": result["confusion"]}
    per_example = [
        {**row, **metrics.tacred_example_counts(row["gold"], row["predicted"])}
        for row in _prediction_rows(examples, predictions)
    ]
    scores = {k: result[k] for k in ("precision", "recall", "f1")}
    return Scores(scores, per_example, breakdowns, data.BUCKET_ORDER)


def _tacred_sample_score(gold: list[str], predicted: list[str]) -> tuple[dict[str, float], float]:
    scored = metrics.tacred_score(gold, predicted)
    return {k: scored[k] for k in ("precision", "recall", "f1")}, scored["f1"]


class TacredTask(RelationTask):
    config_cls = TacredConfig
    rows = relation_rows(
        metrics.TACRED_NEGATIVE, ("per:title", "org:founded_by", "no_relation"), _tacred_sample_score
    )
    score_options = ("data", "predictions")
    subj_types = data.TACRED_SUBJ_TYPES
    obj_types = data.TACRED_OBJ_TYPES

    def labels_of(self, cfg: TacredConfig) -> tuple[str, ...]:
        return data.LABEL_SETS[cfg.labels]

    def load(self, source: str | None, split: str, cfg: TacredConfig) -> DataSplit:
        return load_tacred(source, split, cfg)

    def score(self, examples, predictions, cfg) -> Scores:
        return _tacred_scores(examples, predictions, cfg)

    def write_predictions(self, out_dir: Path, examples, predictions, scores: Scores) -> None:
        """tacred_predictions.txt (one label per line, data order), what `score tacred` reads."""
        atomic.write_text(Path(out_dir) / "tacred_predictions.txt", "".join(f"{p}\n" for p in predictions))

    def score_files(self, options: dict[str, Any]) -> dict[str, Any]:
        """`spaneval score tacred --data DATA.json --predictions PRED [--patch FILE]`."""
        return score_files.score_tacred_files(options["data"], options["predictions"], options.get("patch"))


# --- SemEval-2010 Task 8 ----------------------------------------------------------------------

SEMEVAL_MISSING = (
    "SemEval-2010 Task 8 (CC BY 3.0) is not here: pass --data with the release directory "
    "(SemEval2010_task8_all_data, holding TRAIN_FILE.TXT and TEST_FILE_FULL.TXT), or use the bundled sample"
)
_SEMEVAL_FILES = {"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"}


def _find_release_file(root: Path, split: str) -> Path:
    wanted = _SEMEVAL_FILES[split]
    found = sorted(p for p in root.rglob("*") if p.name.upper() == wanted)
    if not found:
        raise DataError(root, None, f"no {wanted} below this directory; {SEMEVAL_MISSING}")
    return found[0]


def _semeval_file(source: str | None, split: str) -> Path:
    if source in (None, "", "bundled"):
        return BUNDLED_SEMEVAL / f"{split}.txt"
    if source == "semeval2010":
        root = shared_path("relation", "semeval2010-task8")
        if root is None or not root.is_dir():
            raise SpanevalError(f"../shared/data/relation/semeval2010-task8 not found. {SEMEVAL_MISSING}")
        return _find_release_file(root, split)
    path = Path(source)
    if path.is_dir():
        return _find_release_file(path, split)
    if not path.is_file():
        raise DataError(path, None, f"not found; {SEMEVAL_MISSING}")
    return path


def load_semeval(source: str | None, split: str, cfg: SemevalConfig) -> DataSplit:
    warnings = []
    if split == "dev":
        warnings = ["SemEval-2010 Task 8 has no dev split: evaluating on the test split"]
    if split in ("eval", "dev"):  # the release has train and test only; papers report test
        split = "test"
    if split not in _SEMEVAL_FILES:
        raise ConfigError(f"semeval2010 has splits train and test, not {split!r}")
    path = _semeval_file(source, split)
    examples = data.read_semeval_release(path)
    return DataSplit(
        examples, source or "bundled", str(path), file_fingerprint(path), warnings=tuple(warnings)
    )


def _semeval_result_metrics(result: dict) -> dict[str, float]:
    official = result["evaluations"]["directed_10"]
    out = {"macro_f1": result["official_macro_f1"]}
    out |= {
        k: official[k]
        for k in (
            "macro_precision",
            "macro_recall",
            "micro_precision",
            "micro_recall",
            "micro_f1",
            "accuracy",
        )
    }
    out |= {
        f"{mode}_macro_f1": result["evaluations"][mode]["macro_f1"]
        for mode in ("directed_19", "undirected_10")
    }
    return out


def _semeval_scores(examples, predictions, cfg) -> Scores:
    key = {ex.id: ex.label for ex in examples}
    result = metrics.semeval_score(key, dict(zip(key, predictions, strict=True)))
    official = result["evaluations"]["directed_10"]
    per_relation = {
        rel: {"precision": r["precision"], "recall": r["recall"], "f1": r["f1"], "count": r["actual"]}
        for rel, r in official["per_relation"].items()
    }
    breakdowns = data.span_breakdowns(examples, predictions, metrics.SEMEVAL_OTHER)
    breakdowns |= {
        "per_relation": per_relation,
        "confusion_matrix": result["evaluations"]["directed_19"]["confusion"],
    }
    rows = _prediction_rows(examples, predictions)
    return Scores(_semeval_result_metrics(result), rows, breakdowns, data.BUCKET_ORDER)


def _prediction_rows(examples, predictions) -> list[dict]:
    """Per-example rows: labels for the scorers, the sentence and entities for the example browser."""
    return [
        {
            "id": ex.id,
            "gold": ex.label,
            "predicted": p,
            "tokens": list(ex.tokens),
            "subj": [ex.subj_start, ex.subj_end],
            "obj": [ex.obj_start, ex.obj_end],
            "subj_type": ex.subj_type,
            "obj_type": ex.obj_type,
        }
        for ex, p in zip(examples, predictions, strict=True)
    ]


def _semeval_sample_score(gold: list[str], predicted: list[str]) -> tuple[dict[str, float], float]:
    ids = [str(i) for i in range(len(gold))]
    macro = metrics.semeval_score(dict(zip(ids, gold, strict=True)), dict(zip(ids, predicted, strict=True)))
    return {"macro_f1": macro["official_macro_f1"]}, macro["official_macro_f1"]


class SemevalTask(RelationTask):
    config_cls = SemevalConfig
    rows = relation_rows(
        metrics.SEMEVAL_OTHER,
        ("Cause-Effect(e1,e2)", "Component-Whole(e2,e1)", "Other"),
        _semeval_sample_score,
    )
    score_options = ("key", "predictions")

    def labels_of(self, cfg: SemevalConfig) -> tuple[str, ...]:
        return data.SEMEVAL_LABELS

    def load(self, source: str | None, split: str, cfg: SemevalConfig) -> DataSplit:
        return load_semeval(source, split, cfg)

    def score(self, examples, predictions, cfg) -> Scores:
        return _semeval_scores(examples, predictions, cfg)

    def write_predictions(self, out_dir: Path, examples, predictions, scores: Scores) -> None:
        _semeval_files(Path(out_dir), examples, predictions)

    def score_files(self, options: dict[str, Any]) -> dict[str, Any]:
        """`spaneval score semeval2010 --key KEY.txt --predictions ANSWERS.txt`."""
        return score_files.score_semeval_files(options["key"], options["predictions"])


def _semeval_files(out_dir: Path, examples, predictions) -> None:
    """The official scorer's inputs, so that its perl script can be run on the same run."""
    atomic.write_text(
        out_dir / "semeval_proposed_answers.txt",
        "".join(f"{ex.id}\t{p}\n" for ex, p in zip(examples, predictions, strict=True)),
    )
    atomic.write_text(
        out_dir / "semeval_answer_key.txt", "".join(f"{ex.id}\t{ex.label}\n" for ex in examples)
    )


# --- the task objects -------------------------------------------------------------------------

TACRED = TacredTask(
    info=TaskInfo(
        name="tacred",
        version="1.1",  # 1.1: the `cls` classifier uses BERT's pooled [CLS] (dense + tanh)
        description="TACRED relation classification (41 relations + no_relation), micro F1",
        main_metric="f1",
        data_sources=("tacred",),  # $SPANEVAL_TACRED_DIR or ../shared/data/relation/tacred
        default_data="tacred",
        citation="Zhang et al. 2017 (TACRED); Joshi et al. 2020 (SpanBERT) Sec. 4.3",
    ),
    presets={
        "paper": PAPER | {"input_format": "entity_mask", "classifier": "cls"},
        "improved_baseline": IMPROVED | {"input_format": "typed_entity_marker_punct"},
        "tiny": TINY,
    },
)

SEMEVAL2010 = SemevalTask(
    info=TaskInfo(
        name="semeval2010",
        version="1.1",  # 1.1: the `cls` classifier uses BERT's pooled [CLS] (dense + tanh)
        description="SemEval-2010 Task 8 (9 directed relations + Other), official macro F1",
        main_metric="macro_f1",
        data_sources=("bundled", "semeval2010"),
        default_data="bundled",
        citation="Hendrickx et al. 2010 (SemEval-2010 Task 8)",
    ),
    # SpanBERT did not evaluate on SemEval, so there is no "paper" preset: its TACRED recipe and
    # Zhou and Chen's, with markers instead of (untyped) masks.
    presets={
        "spanbert_recipe": PAPER | {"input_format": "entity_marker", "classifier": "cls"},
        "improved_baseline": IMPROVED | {"input_format": "entity_marker_punct"},
        "tiny": TINY,
    },
)
