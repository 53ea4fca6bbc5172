"""Coreference resolution (`coref`): CoNLL-2012-style span ranking with SpanBERT / BERT.

Data: LitBank (`--data litbank`, 10-fold splits, `fold=N`), the bundled two LitBank documents
(`--data bundled`), local CoNLL files (a file, a directory, or comma-separated files) and
OntoNotes English from the hub (`--data ontonotes`). Reading, segmentation and span helpers live in
tasks/coref_data.py, features and batches in tasks/coref_encode.py, the model in
tasks/coref_model.py, the metrics in spaneval/metrics/coref.py.

Singletons: with `singletons=true` (LitBank, OntoGUM annotate them) gold singletons are kept for
training and scoring, a mention-detection loss is added, and every top span with a positive
mention score and no antecedent is predicted as a singleton. With `singletons=false` (OntoNotes
practice) gold singletons are removed before training and scoring and only clusters of two or
more mentions are predicted, as in Lee et al. (2018) and Joshi et al. (2019).

Where this differs from the released code (mandarjoshi90/coref, the SpanBERT paper's set-up):
- candidate spans start at a word start and end at a word end (theirs: any subtokens);
- a training document longer than `max_training_segments` segments becomes several training
  examples of consecutive segments (theirs: one random window of that many segments per step);
- encoder and task layers are two groups of one AdamW optimizer sharing the linear warmup/decay
  schedule and the global gradient clipping of spaneval/finetune.py (their optimization.py:
  AdamWeightDecay for BERT with warmup, plain Adam for the task layers with linear decay but no
  warmup, each clipped to norm 1 separately);
- the mention-detection loss and singleton prediction (`singletons=true`) are additions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch

from spaneval.atomic import write_text
from spaneval.config import check_ranges, option
from spaneval.errors import SpanevalError
from spaneval.metrics import coref as metrics
from spaneval.tasks import coref_rows
from spaneval.tasks.base import (
    DataSplit,
    Scores,
    TaskInfo,
    files_fingerprint,
    require_fast_tokenizer,
    unknown_source,
)
from spaneval.tasks.coref_data import ONTONOTES_GENRES, CorefDocument, format_conll, read_conll
from spaneval.tasks.coref_decode import decode_clusters
from spaneval.tasks.coref_encode import encode_document, pad_batch
from spaneval.tasks.coref_model import CorefModel
from spaneval.tasks.litbank import litbank_dir, litbank_split_files
from spaneval.training_core import default_param_groups

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "coref"
BUNDLED_FILES = {
    "train": ("74_the_adventures_of_tom_sawyer_brat.conll",),
    "eval": ("45_anne_of_green_gables_brat.conll",),
}
# Hub copy of OntoNotes 5.0 CoNLL-2012 (CC BY-NC-ND 4.0 on the hub; LDC terms for the original).
# Pinned to the commit that deleted the loading script ("Delete loading script", 0b6f818), so
# the Parquet files load without remote code; seen on the hub's commit page, not downloaded here
# (no hub access while writing). Override with hub_revision=<sha>.
ONTONOTES_HUB = ("ontonotes/conll2012_ontonotesv5", "english_v4", "0b6f81821e048d83872c59ab10defb9007c5a404")

# Breakdown buckets in reading order: lengths and distances ascending, mention types in the order
# coreference error analyses list them (pronoun, proper name, nominal).
BUCKET_ORDER = {
    "mentions_by_length": ("1", "2", "3-4", "5+"),
    "mentions_by_type": ("pronoun", "proper", "nominal"),
    "links_by_sentence_distance": ("0", "1", "2-4", "5+"),
}


@dataclass(frozen=True)
class CorefConfig:
    """Options of the coreference task."""

    fold: int = option(0, "LitBank cross-validation fold (0-9)", min=0, max=9)
    eval_split: Literal["dev", "test"] = option("dev", "LitBank / OntoNotes split used for evaluation")
    singletons: bool = option(
        True, "keep gold singletons and predict singletons (LitBank); false for OntoNotes"
    )
    max_segment_len: int = option(
        384, "subtokens per independently encoded segment, [CLS] and [SEP] included", min=8, max=8192
    )
    max_training_segments: int = option(
        3, "longer training documents are cut into runs of this many segments", min=1
    )
    max_span_width: int = option(30, "longest candidate mention in subtokens", min=1)
    top_span_ratio: float = option(0.4, "mentions kept per subtoken after pruning", above=0, max=1)
    max_top_antecedents: int = option(50, "antecedents per mention kept by the coarse scorer", min=1)
    coref_depth: int = option(2, "rounds of antecedent scoring (2 = one higher-order refinement)", min=1)
    ffnn_size: int = option(3000, "hidden size of the mention and pair scorers", min=1)
    ffnn_depth: int = option(1, "hidden layers of the mention and pair scorers", min=0)
    feature_size: int = option(20, "size of width, distance, speaker, genre and segment embeddings", min=1)
    dropout: float = option(0.3, "dropout of the task layers", min=0, below=1)
    task_learning_rate: float = option(
        1e-4, "learning rate of the task layers (encoder: learning_rate)", above=0, max=1
    )
    mention_loss_coef: float = option(
        1.0, "weight of the mention-detection loss (used only with singletons)", min=0
    )
    use_genre: bool = option(
        True, "genre embeddings from OntoNotes document names (bc, bn, mz, nw, pt, tc, wb)"
    )
    use_speakers: bool = option(True, "same-speaker embeddings when the data has speakers")
    hub_revision: str | None = option(None, "commit of the OntoNotes hub data set (None: the pinned one)")

    def __post_init__(self) -> None:
        check_ranges(self)


# Published configuration: mandarjoshi90/coref experiments.conf (commit efc1586), the set-up of
# the SpanBERT paper's coreference experiments (Joshi et al. 2020, section 4.2 and Appendix B).
# Shared there: 20 epochs, one document per step, dropout 0.3, ffnn 3000 x 1, feature size 20,
# max_span_width 30, top_span_ratio 0.4, 50 antecedents, coref_depth 2, adam_eps 1e-6.
_SHARED = {
    "epochs": 20.0,
    "batch_size": 1,
    "eval_batch_size": 1,
    "adam_eps": 1e-6,
    "warmup_ratio": 0.1,
    "ffnn_size": 3000,
    "dropout": 0.3,
}
COREF_PRESETS: dict[str, dict[str, Any]] = {
    # Without --preset: one document per step and the spanbert_base learning rates.
    "default": {"batch_size": 1, "eval_batch_size": 1, "learning_rate": 2e-5, "task_learning_rate": 1e-4},
    # spanbert_base: bert_learning_rate 2e-5, task_learning_rate 1e-4, segments of 384, 3 per document.
    "spanbert-base": {
        **_SHARED,
        "learning_rate": 2e-5,
        "task_learning_rate": 1e-4,
        "max_segment_len": 384,
        "max_training_segments": 3,
    },
    # spanbert_large: 1e-5 / 3e-4, segments of 512, 3 per document.
    "spanbert-large": {
        **_SHARED,
        "learning_rate": 1e-5,
        "task_learning_rate": 3e-4,
        "max_segment_len": 512,
        "max_training_segments": 3,
    },
    # bert_base: 1e-5 / 2e-4, segments of 128, 11 per document.
    "bert-base": {
        **_SHARED,
        "learning_rate": 1e-5,
        "task_learning_rate": 2e-4,
        "max_segment_len": 128,
        "max_training_segments": 11,
    },
    # bert_large: 1e-5 / 2e-4, segments of 384, 3 per document.
    "bert-large": {
        **_SHARED,
        "learning_rate": 1e-5,
        "task_learning_rate": 2e-4,
        "max_segment_len": 384,
        "max_training_segments": 3,
    },
    # OntoNotes practice: no singletons (Pradhan et al. 2012), genre embeddings on.
    "ontonotes": {"singletons": False, "use_genre": True},
    # Small and fast, for the tiny model on CPU (tests, smoke runs).
    "smoke": {
        "max_segment_len": 128,
        "max_training_segments": 2,
        "ffnn_size": 64,
        "coref_depth": 1,
        "max_top_antecedents": 10,
        "epochs": 1.0,
        "batch_size": 1,
        "eval_batch_size": 1,
    },
}


class CorefTask:
    """The coreference task (one instance, COREF)."""

    config_cls = CorefConfig
    presets = COREF_PRESETS
    rows = coref_rows.ROWS
    score_options = ("key", "response")

    def __init__(self, info: TaskInfo):
        self.info = info

    # --- data -------------------------------------------------------------------------------
    def load(self, source: str | None, split: str, cfg: CorefConfig) -> DataSplit:
        source = source or self.info.default_data
        wanted = "train" if split == "train" else cfg.eval_split
        if source == "ontonotes":
            return _load_ontonotes(wanted, cfg)
        files, described = split_files(source, split, wanted, cfg.fold)
        docs = [doc for path in files for doc in read_conll(path)]
        if not docs:
            raise SpanevalError(f"coref: no documents in {described}")
        if not cfg.singletons:
            docs = [drop_singletons(d) for d in docs]
        return DataSplit(docs, source, described, files_fingerprint(files))

    def prepare_tokenizer(self, tokenizer: Any, cfg: CorefConfig) -> Any:
        return require_fast_tokenizer(tokenizer, "coref", "word ids of subtokens")

    # --- encoding and model -------------------------------------------------------------------
    def encode(
        self, examples: Sequence[CorefDocument], tokenizer: Any, cfg: CorefConfig, train: bool
    ) -> list:
        genres = {g: i for i, g in enumerate(ONTONOTES_GENRES)}
        features = []
        for index, doc in enumerate(examples):
            features.extend(
                encode_document(
                    doc,
                    index,
                    tokenizer,
                    max_segment_len=cfg.max_segment_len,
                    max_segments=cfg.max_training_segments if train else 0,
                    genre_id=genres.get(doc.genre or "", 0),
                )
            )
        return features

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        return pad_batch(features)

    def build_model(self, encoder: Any, tokenizer: Any, cfg: CorefConfig) -> torch.nn.Module:
        return CorefModel(
            encoder,
            max_span_width=cfg.max_span_width,
            feature_size=cfg.feature_size,
            ffnn_size=cfg.ffnn_size,
            ffnn_depth=cfg.ffnn_depth,
            dropout=cfg.dropout,
            top_span_ratio=cfg.top_span_ratio,
            max_top_antecedents=cfg.max_top_antecedents,
            coref_depth=cfg.coref_depth,
            num_genres=len(ONTONOTES_GENRES),
            use_genre=cfg.use_genre,
            use_speakers=cfg.use_speakers,
            mention_loss_coef=cfg.mention_loss_coef if cfg.singletons else 0.0,
            task_learning_rate=cfg.task_learning_rate,
        )

    def param_groups(self, model: torch.nn.Module, train_cfg: Any) -> list[dict]:
        """The encoder at learning_rate with weight decay (none on biases and LayerNorm), the task
        layers at the model's task_learning_rate without weight decay: Joshi et al. (2019) train
        them with a separate Adam optimizer; here they are a separate AdamW group."""
        encoder = default_param_groups(model.encoder, train_cfg.learning_rate, train_cfg.weight_decay)
        task = [p for _, p in model.task_parameters() if p.requires_grad]
        groups = [*encoder, {"params": task, "lr": model.task_learning_rate, "weight_decay": 0.0}]
        return [g for g in groups if g["params"]]

    # --- decoding and scoring -----------------------------------------------------------------
    def decode(
        self,
        examples: Sequence[CorefDocument],
        features: Sequence[dict],
        outputs: list[dict],
        cfg: CorefConfig,
    ) -> list:
        """Predicted clusters (word spans) per document, in the order of `examples`."""
        rows = [
            {name: out[name][i] for name in ("top_starts", "top_ends", "top_scores", "antecedents")}
            for out in outputs
            for i in range(out["top_starts"].shape[0])
        ]
        if len(rows) != len(features):
            raise SpanevalError(f"coref: {len(rows)} model outputs for {len(features)} documents")
        predictions: list[list] = [[] for _ in examples]
        for feature, row in zip(features, rows, strict=True):
            predictions[feature["doc_index"]] = decode_clusters(
                row["top_starts"],
                row["top_ends"],
                row["top_scores"],
                row["antecedents"],
                feature["subtoken_to_word"],
                cfg.singletons,
            )
        return predictions

    def score(self, examples: Sequence[CorefDocument], predictions: list, cfg: CorefConfig) -> Scores:
        return score_predictions(examples, predictions)

    def write_predictions(self, out_dir: Path, examples, predictions: list, scores: Scores) -> None:
        """predictions.conll (the response) and key.conll (the gold it was scored against), so
        `spaneval score coref --key key.conll --response predictions.conll` (or the reference
        Perl scorer) reproduces the metrics."""
        write_text(Path(out_dir) / "predictions.conll", format_conll(examples, predictions))
        write_text(Path(out_dir) / "key.conll", format_conll(examples, [d.clusters for d in examples]))

    def score_files(self, options: dict[str, Any]) -> dict[str, Any]:
        """`spaneval score coref --key KEY.conll --response RESPONSE.conll`."""
        from spaneval.tasks.coref_score_files import score_conll_files

        return score_conll_files(options["key"], options["response"])


def score_predictions(docs: Sequence[CorefDocument], predictions: Sequence) -> Scores:
    """Official metrics (percentages), per-document counts and span-level breakdowns."""
    rows, length, kind, distance = [], [], [], []
    for doc, predicted in zip(docs, predictions, strict=True):
        counts = metrics.document_counts(doc.clusters, predicted)
        sentence_of = doc.sentence_of()
        tags = [r[4] if len(r) > 4 else "_" for r in doc.rows] if doc.rows else None
        length.append(
            metrics.mention_bucket_counts(
                doc.clusters, predicted, lambda m: metrics.length_bucket(m[1] - m[0] + 1)
            )
        )
        kind.append(
            metrics.mention_bucket_counts(
                doc.clusters,
                predicted,
                lambda m, d=doc, t=tags: metrics.mention_type(
                    d.words[m[0] : m[1] + 1], t[m[0] : m[1] + 1] if t else None
                ),
            )
        )
        distance.append(metrics.link_distance_counts(doc.clusters, predicted, sentence_of))
        rows.append(
            {
                "id": doc.doc_id,
                "sentences": _sentences(doc),
                "gold_clusters": [[list(m) for m in c] for c in doc.clusters],
                "predicted_clusters": [[list(m) for m in c] for c in predicted],
                "counts": counts,
            }
        )
    scores = metrics.to_percent(metrics.aggregate(metrics.sum_counts(r["counts"] for r in rows)))
    flat = {
        f"{name}_{k}": v
        for name, value in scores.items()
        if isinstance(value, dict)
        for k, v in value.items()
    }
    flat["conll_f1"] = scores["conll_f1"]
    counts = {"mentions_by_length": length, "mentions_by_type": kind, "links_by_sentence_distance": distance}
    breakdowns = {
        table: metrics.bucket_table(metrics.sum_counts(counts[table]), order)
        for table, order in BUCKET_ORDER.items()
    }
    return Scores(flat, rows, breakdowns, BUCKET_ORDER)


def _sentences(doc: CorefDocument) -> list[list[str]]:
    out, start = [], 0
    for end in doc.sentence_ends:
        out.append(list(doc.words[start:end]))
        start = end
    return out


def drop_singletons(doc: CorefDocument) -> CorefDocument:
    return replace(doc, clusters=tuple(c for c in doc.clusters if len(c) > 1))


def split_files(source: str, split: str, wanted: str, fold: int) -> tuple[list[Path], str]:
    """(CoNLL files, how to name them in the record) of a bundled, LitBank or local source.

    split: the runner's "train" / "eval"; wanted: "train", "dev" or "test".
    """
    if source == "bundled":
        return [BUNDLED_DIR / name for name in BUNDLED_FILES[split]], str(
            BUNDLED_DIR / BUNDLED_FILES[split][0]
        )
    if source == "litbank":
        root = litbank_dir()
        return litbank_split_files(root, fold, wanted), str(
            root / "tenfold_splits" / str(fold) / f"{wanted}.ids"
        )
    files = local_files(source, wanted)
    return files, str(files[0]) if len(files) == 1 else _describe(files)


def local_files(source: str, split: str) -> list[Path]:
    """CoNLL files for `--data`: one file, comma-separated files, or a directory. In a directory,
    files whose name contains the split ("train", "dev", "test") are used when there are any,
    else all *conll files (then training and evaluation read the same files)."""
    paths = [Path(p.strip()).expanduser() for p in source.split(",") if p.strip()]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise unknown_source(COREF.info, str(missing[0]), "CoNLL files")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*conll") if p.is_file())
            chosen = [p for p in found if split in p.name] or found
            files.extend(chosen)
        else:
            files.append(path)
    if not files:
        raise SpanevalError(f"coref: no *conll files in {source}")
    return files


def _describe(files: Sequence[Path]) -> str:
    """Several files as 'DIR/{a.conll,b.conll}' (one directory) or 'a.conll;b.conll'."""
    parents = {f.parent for f in files}
    if len(parents) == 1:
        return f"{files[0].parent}/{{{','.join(f.name for f in files)}}}"
    return ";".join(map(str, files))


def _load_ontonotes(split: str, cfg: CorefConfig) -> DataSplit:
    """OntoNotes English (CoNLL-2012, english_v4) from the hub; fails fast offline."""
    from spaneval.errors import HubUnavailableError
    from spaneval.hub import hub_offline, require_hub
    from spaneval.tasks.coref_hub import document_from_hub

    repo, subset, pinned = ONTONOTES_HUB
    revision = cfg.hub_revision or pinned
    what = f"data set {repo} ({subset}, {split}) @ {revision or 'main'}"
    ways_out = "  - pass local CoNLL-2012 files: --data DIR (e.g. the *_gold_conll files of the LDC release)"
    if not hub_offline():
        require_hub(what, ways_out)
    import datasets

    hub_split = {"train": "train", "dev": "validation", "test": "test"}[split]
    try:
        ds = datasets.load_dataset(repo, subset, split=hub_split, revision=revision)
    except (ConnectionError, OSError, ValueError) as err:
        raise HubUnavailableError(f"could not load {what}: {err}\nWays to proceed:\n{ways_out}") from None
    docs = [document_from_hub(row) for row in ds]
    if not cfg.singletons:
        docs = [drop_singletons(d) for d in docs]
    return DataSplit(
        docs, "ontonotes", None, f"hub:{repo}/{subset}@{revision or 'main'}:{hub_split}", revision
    )


COREF = CorefTask(
    TaskInfo(
        name="coref",
        version="1.0",
        description="CoNLL-2012-style coreference (span ranking, Lee et al. 2018 + Joshi et al. 2019)",
        main_metric="conll_f1",
        data_sources=("litbank", "bundled", "ontonotes"),
        default_data="bundled",
        citation="Lee et al. 2018 (NAACL); Joshi et al. 2019 (EMNLP); Bamman et al. 2020 (LitBank, LREC).",
    )
)
