"""Extractive QA tasks: SQuAD v1.1 (`squad`), v2.0 (`squad_v2`) and the MRQA 2019 format (`mrqa`).

Reading, windowing, decoding and metrics are pure helpers (qa_data, qa_windows, qa_decode,
spaneval.metrics.squad / qa_analysis); this module wires them to the model and the runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from spaneval.atomic import write_json
from spaneval.config import check_ranges, option
from spaneval.errors import SpanevalError
from spaneval.tasks import qa_rows
from spaneval.tasks.base import (
    DataSplit,
    Scores,
    TaskInfo,
    file_fingerprint,
    require_fast_tokenizer,
    unknown_source,
)
from spaneval.tasks.qa_data import QAExample, read_mrqa, read_squad
from spaneval.tasks.qa_model import SpanExtractionModel
from spaneval.tasks.qa_scoring import score_examples
from spaneval.training_core import default_param_groups

BUNDLED = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "squad"


@dataclass(frozen=True)
class QAConfig:
    """Options of the extractive QA tasks."""

    max_seq_len: int = option(384, "tokens per window (the paper preset uses 512)", min=16, max=8192)
    doc_stride: int = option(128, "tokens between window starts over a long context", min=1)
    max_query_len: int = option(64, "question tokens kept", min=1)
    passage_first: bool = option(
        False, "passage segment first (SpanBERT's released code) instead of question first"
    )
    n_best: int = option(20, "start and end candidates per window, and answers kept per question", min=1)
    max_answer_len: int = option(30, "longest answer in tokens", min=1)
    na_threshold: float | None = option(
        None,
        "v2.0: predict no-answer when score_diff > this (None: tune on the eval split, report both)",
        min=-1e4,
        max=1e4,
    )
    segment_ids: Literal["two", "zeros"] = option(
        "two",
        "token types: 'two' = 0/1 per segment (BERT, released SpanBERT code); 'zeros' = all 0 (SpanBERT "
        "pretrained single sequences, so its token-type-1 embedding was never trained)",
    )
    strict: bool = option(True, "an answer text missing from its context is an error (False: drop it, warn)")
    max_train_examples: int = option(0, "use only the first N training questions (0: all)", min=0)
    max_eval_examples: int = option(0, "use only the first N evaluation questions (0: all)", min=0)

    def __post_init__(self) -> None:
        check_ranges(self)


# Presets cite their sources; train fields go to TrainConfig.
QA_PRESETS: dict[str, dict[str, Any]] = {
    # SpanBERT paper (Joshi et al., 2020), Appendix B: lr 2e-5, batch 32, 4 epochs, 512 tokens, stride 128.
    "paper": {
        "learning_rate": 2e-5,
        "batch_size": 32,
        "epochs": 4.0,
        "max_seq_len": 512,
        "doc_stride": 128,
        "warmup_ratio": 0.1,
    },
    # Hugging Face transformers examples/pytorch/question-answering README (run_qa.py, bert-base).
    "hf": {
        "learning_rate": 3e-5,
        "batch_size": 12,
        "epochs": 2.0,
        "max_seq_len": 384,
        "doc_stride": 128,
        "warmup_ratio": 0.0,
    },
}

# Hub data sets. None: no commit sha could be verified offline; the data fingerprint is recorded.
HUB_DATASETS = {
    "squad": ("rajpurkar/squad", None, {"train": "train", "eval": "validation"}),
    "squad_v2": (
        "rajpurkar/squad_v2",
        "3ffb306f725f7d2ce8394bc1873b24868140c412",
        {"train": "train", "eval": "validation"},
    ),
    "mrqa": ("mrqa-workshop/mrqa", None, {"train": "train", "eval": "validation"}),
}
MRQA_SUBSETS = {
    "newsqa": "NewsQA",
    "triviaqa": "TriviaQA-web",
    "searchqa": "SearchQA",
    "hotpotqa": "HotpotQA",
    "naturalquestions": "NaturalQuestionsShort",
}


class QATask:
    """One extractive QA task (SQuAD v1.1, v2.0 or MRQA)."""

    config_cls = QAConfig
    presets = QA_PRESETS
    rows = qa_rows.ROWS

    def __init__(self, info: TaskInfo, version_2: bool, bundled: dict[str, str] | None):
        self.info, self.version_2, self.bundled = info, version_2, bundled
        # MRQA files are jsonl; the official SQuAD scripts read SQuAD JSON only
        self.score_options = ("data", "predictions") if bundled else ()

    # --- data -------------------------------------------------------------------------------
    def load(self, source: str | None, split: str, cfg: QAConfig) -> DataSplit:
        source = source or self.info.default_data
        limit = cfg.max_train_examples if split == "train" else cfg.max_eval_examples
        if source == "bundled" and self.bundled:
            path = BUNDLED / self.bundled[split]
        elif source == "hub" or source in MRQA_SUBSETS:
            return _limit(self._load_hub(source, split), limit)
        else:
            path = Path(source).expanduser()
            if not path.exists():
                raise unknown_source(self.info, source)
        reader = read_mrqa if self.info.name == "mrqa" else (lambda p: read_squad(p, strict=cfg.strict))
        examples, warnings = reader(path)
        if not examples:
            raise SpanevalError(f"{path}: no questions found")
        return _limit(
            DataSplit(examples, source, str(path), file_fingerprint(path), None, tuple(warnings)), limit
        )

    def _load_hub(self, source: str, split: str) -> DataSplit:
        from spaneval.tasks.qa_hub import load_hub_split

        repo, revision, splits = HUB_DATASETS[self.info.name]
        subset = MRQA_SUBSETS.get(source)
        examples, fingerprint = load_hub_split(repo, revision, splits[split], subset)
        return DataSplit(examples, source, None, fingerprint, revision)

    def prepare_tokenizer(self, tokenizer: Any, cfg: QAConfig) -> Any:
        return require_fast_tokenizer(tokenizer, "QA windowing", "character offsets")

    # --- encoding and model -------------------------------------------------------------------
    def encode(self, examples: Sequence[QAExample], tokenizer: Any, cfg: QAConfig, train: bool) -> Any:
        from spaneval.tasks.qa_windows import encode_windows

        features = encode_windows(
            examples,
            tokenizer,
            max_seq_len=cfg.max_seq_len,
            doc_stride=cfg.doc_stride,
            max_query_len=cfg.max_query_len,
            passage_first=cfg.passage_first,
            with_labels=train,
        )
        if cfg.segment_ids == "zeros":
            features = dataclasses.replace(features, token_type_ids=np.zeros_like(features.token_type_ids))
        return features

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Stack windows and trim padding to the longest window in the batch (dynamic padding)."""
        length = max(int(f["attention_mask"].sum()) for f in features)
        batch = {
            key: torch.from_numpy(np.stack([f[key][:length] for f in features]).astype(np.int64))
            for key in ("input_ids", "attention_mask", "token_type_ids")
        }
        if "start_positions" in features[0]:
            for key in ("start_positions", "end_positions"):
                batch[key] = torch.tensor([int(f[key]) for f in features], dtype=torch.long)
        return batch

    def build_model(self, encoder: Any, tokenizer: Any, cfg: QAConfig) -> torch.nn.Module:
        return SpanExtractionModel(encoder)

    def param_groups(self, model: torch.nn.Module, train_cfg: Any) -> list[dict]:
        return default_param_groups(model, train_cfg.learning_rate, train_cfg.weight_decay)

    # --- decoding and scoring -----------------------------------------------------------------
    def decode(
        self, examples: Sequence[QAExample], features: Any, outputs: list[dict], cfg: QAConfig
    ) -> list:
        from spaneval.tasks.qa_decode import decode as decode_logits

        start = _stack_padded([o["start_logits"] for o in outputs], cfg.max_seq_len)
        end = _stack_padded([o["end_logits"] for o in outputs], cfg.max_seq_len)
        return decode_logits(
            examples,
            features,
            start,
            end,
            n_best=cfg.n_best,
            max_answer_len=cfg.max_answer_len,
            version_2=self.version_2,
        )

    def score(self, examples: Sequence[QAExample], predictions: list, cfg: QAConfig) -> Scores:
        return score_examples(examples, predictions, self.version_2, cfg.na_threshold)

    def write_predictions(self, out_dir: Path, examples, predictions: list, scores: Scores) -> None:
        """The official scripts' input files: predictions.json ({qid: text}) and, for v2.0, na_prob.json."""
        write_json(out_dir / "predictions.json", {row["id"]: row["prediction"] for row in scores.per_example})
        if self.version_2:
            write_json(out_dir / "na_prob.json", {p.qid: float(p.null_score_diff) for p in predictions})
            keys = ("tuned_na_threshold", "best_f1_thresh", "best_exact_thresh")
            threshold = {k: scores.metrics[k] for k in keys if k in scores.metrics}
            threshold["apply_with"] = f"na_threshold={scores.metrics.get('tuned_na_threshold')}"
            write_json(out_dir / "na_threshold.json", threshold)

    def score_files(self, options: dict[str, Any]) -> dict[str, Any]:
        """`spaneval score squad|squad_v2 --data DEV.json --predictions PRED.json [--na-prob NA.json]`."""
        from spaneval.tasks.qa_score_files import score_squad_files

        na_prob = options.get("na_prob")
        return score_squad_files(options["data"], options["predictions"], na_prob, version_2=self.version_2)


def _stack_padded(arrays: list[np.ndarray], width: int) -> np.ndarray:
    """Concatenate [b, l_i] logits batches into [N, width], padding trimmed positions with -1e4."""
    out = np.full((sum(a.shape[0] for a in arrays), width), -1e4, dtype=np.float32)
    row = 0
    for a in arrays:
        out[row : row + a.shape[0], : a.shape[1]] = a
        row += a.shape[0]
    return out


def _limit(split: DataSplit, limit: int) -> DataSplit:
    if limit <= 0 or limit >= len(split.examples):
        return split
    return DataSplit(
        split.examples[:limit], split.source, split.path, split.fingerprint, split.revision, split.warnings
    )


SQUAD = QATask(
    TaskInfo(
        name="squad",
        version="1.0",
        description="SQuAD v1.1 extractive QA (Rajpurkar et al., 2016)",
        main_metric="f1",
        data_sources=("bundled", "hub"),
        default_data="bundled",
        citation="Rajpurkar et al., 2016. SQuAD: 100,000+ Questions for Machine Comprehension of Text.",
    ),
    version_2=False,
    bundled={"train": "train-sample.json", "eval": "dev-sample.json"},
)
SQUAD_V2 = QATask(
    TaskInfo(
        name="squad_v2",
        version="1.0",
        description="SQuAD v2.0 extractive QA with unanswerable questions",
        main_metric="f1",
        data_sources=("bundled", "hub"),
        default_data="bundled",
        citation="Rajpurkar et al., 2018. Know What You Don't Know: Unanswerable Questions for SQuAD.",
    ),
    version_2=True,
    bundled={"train": "train-v2-sample.json", "eval": "dev-v2-sample.json"},
)
MRQA = QATask(
    TaskInfo(
        name="mrqa",
        version="1.0",
        description="MRQA 2019 shared-task format (jsonl/jsonl.gz + header); in-domain hub sets by name",
        main_metric="f1",
        data_sources=tuple(MRQA_SUBSETS),
        default_data="newsqa",
        citation="Fisch et al., 2019. MRQA 2019 Shared Task: Evaluating Generalization in Reading "
        "Comprehension.",
    ),
    version_2=False,
    bundled=None,
)
