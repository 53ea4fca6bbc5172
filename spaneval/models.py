"""Model registry and loading: hub models by name (pinned revisions), local directories, and `tiny`.

SpanBERT is cased, but the hub copy of its tokenizer lowercases by default (its tokenizer_config
says do_lower_case=True); we force `do_lower_case=False` for every cased model and record the
tokenizer settings with each result.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaneval.errors import SpanevalError
from spaneval.hub import cached_snapshot, hub_cache_dir, require_hub
from spaneval.names import model_card_fields
from spaneval.registry import lookup

BUNDLED_VOCAB = Path(__file__).parent / "data" / "vocab" / "bert-base-cased-vocab.txt"


@dataclass(frozen=True)
class ModelSpec:
    """A registered encoder: where it lives on the hub and how to tokenise for it."""

    hub_id: str | None  # None for models built locally (tiny)
    revision: str | None  # a commit sha; None where no verified sha is known (resolved sha recorded)
    cased: bool
    size: str
    description: str


# Revisions: the bert-* shas are the hub commits of google-bert/bert-{base,large}-cased that
# transformers users have cached for years. No SpanBERT sha could be verified from an offline
# machine, so those resolve "main" and every result records the commit sha actually loaded.
MODELS: dict[str, ModelSpec] = {
    "spanbert": ModelSpec(
        "SpanBERT/spanbert-base-cased", None, True, "base", "SpanBERT base, cased (Joshi et al., 2020)"
    ),
    "spanbert-large": ModelSpec(
        "SpanBERT/spanbert-large-cased", None, True, "large", "SpanBERT large, cased (Joshi et al., 2020)"
    ),
    "bert": ModelSpec(
        "google-bert/bert-base-cased",
        "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
        True,
        "base",
        "Google BERT base, cased",
    ),
    "bert-large": ModelSpec(
        "google-bert/bert-large-cased",
        "d9238236d8326ce4bc117132bb3b7e62e95f3a9a",
        True,
        "large",
        "Google BERT large, cased",
    ),
    "tiny": ModelSpec(
        None, None, True, "tiny", "2-layer, 128-wide BERT built locally with the BERT cased vocab (tests)"
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load from a local directory, with where it came from."""

    name: str
    path: Path
    hub_id: str | None
    revision: str | None
    cased: bool
    casing_rule: str = "registry"  # what decided `cased`: "registry", "vocabulary" or "tokenizer_config"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "revision": self.revision,
            "path": str(self.path),
            "cased": self.cased,
            "casing_rule": self.casing_rule,
            **model_card_fields(self.path),
        }


def cache_root() -> Path:
    return Path(os.environ.get("SPANEVAL_CACHE", Path.home() / ".cache" / "spaneval"))


def resolve_model(name_or_path: str, revision: str | None = None) -> ResolvedModel:
    """A registered name, or a directory written by save_pretrained, as a local directory.

    Hub models come from the Hugging Face cache when present; otherwise the hub is checked first
    so that an offline machine fails in seconds with a message saying what to do.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        check_model_dir(path)
        cased, rule = decide_casing(path)
        return ResolvedModel(str(path), path.resolve(), None, None, cased, rule)
    if os.sep in name_or_path or name_or_path.startswith("."):
        raise SpanevalError(f"model directory {name_or_path} does not exist")
    spec = lookup(MODELS, name_or_path, "model")
    if spec.hub_id is None:
        return ResolvedModel(name_or_path, tiny_model_dir(), None, None, spec.cased)
    return _resolve_hub(name_or_path, spec, revision or spec.revision)


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def check_model_dir(path: Path) -> None:
    """A local model folder needs a readable config.json and its tokenizer files. Without them,
    transformers falls back to a near-empty vocabulary and the run trains on [UNK]s."""
    if not (path / "config.json").is_file():
        raise SpanevalError(
            f"{path} is a directory but has no config.json (expected a save_pretrained directory)"
        )
    _read_json(path / "config.json")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise SpanevalError(
            f"model directory {path} has no tokenizer ({' or '.join(TOKENIZER_FILES)}); save the "
            "tokenizer beside the weights (tokenizer.save_pretrained) or copy its files from the base model"
        )


def model_fingerprint(path: Path) -> str:
    """sha256 over a model folder's config, tokenizer and weight files (names and bytes)."""
    import hashlib

    h = hashlib.sha256()
    suffixes = {".json", ".txt", ".safetensors", ".bin"}
    for file in sorted(p for p in Path(path).iterdir() if p.suffix in suffixes):
        h.update(file.name.encode())
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def _resolve_hub(name: str, spec: ModelSpec, revision: str | None) -> ResolvedModel:
    snapshot = cached_snapshot(spec.hub_id, revision)
    if snapshot is None:
        require_hub(
            f"model {name!r} ({spec.hub_id}@{revision or 'main'})",
            "  - pass a local directory written by save_pretrained: --model PATH\n"
            "  - or use the offline test model: --model tiny",
        )
        from huggingface_hub import snapshot_download

        snapshot = Path(
            snapshot_download(
                spec.hub_id,
                revision=revision,
                cache_dir=hub_cache_dir(),
                allow_patterns=["*.json", "*.txt", "*.safetensors", "*.bin"],
            )
        )
    return ResolvedModel(name, snapshot, spec.hub_id, snapshot.name, spec.cased)


def decide_casing(path: Path) -> tuple[bool, str]:
    """(cased, the rule that decided) for a local model folder.

    The vocabulary decides: an uncased WordPiece vocabulary has no upper-case entries outside its
    bracketed special tokens, while BERT-cased's (and SpanBERT's) has thousands. Folder names and
    `do_lower_case` are unreliable (SpanBERT's hub tokenizer config lowercases a cased model), so the
    tokenizer config is consulted only when no vocabulary can be read.
    """
    upper = vocab_upper_case_entries(path)
    if upper is not None:
        return upper > 0, "vocabulary"
    cfg_file = path / "tokenizer_config.json"
    lower = _read_json(cfg_file).get("do_lower_case", False) if cfg_file.is_file() else False
    return not lower, "tokenizer_config"


def vocab_upper_case_entries(path: Path) -> int | None:
    """Vocabulary entries with an upper-case letter (special `[...]` tokens aside), or None if no vocab."""
    if (path / "vocab.txt").is_file():
        entries = (path / "vocab.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    elif (path / "tokenizer.json").is_file():
        vocab = _read_json(path / "tokenizer.json").get("model", {}).get("vocab")
        if not isinstance(vocab, dict):
            return None
        entries = list(vocab)
    else:
        return None
    return sum(1 for e in entries if not (e.startswith("[") and e.endswith("]")) and e != e.lower())


def _read_json(file: Path) -> dict[str, Any]:
    from spaneval.userfiles import read_json

    data = read_json(file)
    if not isinstance(data, dict):
        raise SpanevalError(f"{file}: expected a JSON object")
    return data


def load_tokenizer(model: ResolvedModel, lowercase: bool = False) -> Any:
    """The fast tokenizer of `model`, with lowercasing forced off for cased models.

    `lowercase=True` reproduces the hub copy of SpanBERT's tokenizer, which lowercases although the
    model is cased (a known pitfall; recorded with the result either way).
    """
    from transformers import AutoTokenizer

    kwargs = {"do_lower_case": True} if lowercase else {"do_lower_case": not model.cased}
    with _unreadable_model_files(model.path, "tokenizer"):
        return AutoTokenizer.from_pretrained(model.path, local_files_only=True, **kwargs)


def tokenizer_settings(tokenizer: Any) -> dict[str, Any]:
    """What the result record says about the tokenizer."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    return {
        "class": type(tokenizer).__name__,
        "do_lower_case": bool(getattr(normalizer, "lowercase", getattr(tokenizer, "do_lower_case", False))),
        "strip_accents": getattr(normalizer, "strip_accents", None),
        "vocab_size": len(tokenizer),
    }


def load_encoder(model: ResolvedModel, attn_implementation: str = "sdpa") -> Any:
    """The BertModel encoder (no pooler) of `model`, loaded from its local directory."""
    from transformers import AutoModel

    with _unreadable_model_files(model.path, "weights"):
        return AutoModel.from_pretrained(
            model.path,
            local_files_only=True,
            attn_implementation=attn_implementation,
            add_pooling_layer=False,
        )


@contextlib.contextmanager
def _unreadable_model_files(path: Path, what: str):
    """Truncated or garbage files in a model folder: one line naming the folder, not a traceback."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, ValueError, RuntimeError, SafetensorError, UnicodeDecodeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SpanevalError(f"model directory {path}: cannot load its {what} ({first_line})") from None


def bundled_tokenizer() -> Any:
    """BERT cased WordPiece from the vocabulary shipped in the package (transformers 5: pass vocab=)."""
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=str(BUNDLED_VOCAB), do_lower_case=False)
    if len(tok) != 28996:
        raise SpanevalError(f"bundled vocabulary {BUNDLED_VOCAB} loaded {len(tok)} entries, expected 28996")
    return tok


def tiny_model_dir() -> Path:
    """A deterministic 2-layer BERT with the real cased vocab, built once into the spaneval cache."""
    path = cache_root() / "models" / "tiny-bert-v1"
    if not (path / "config.json").is_file():
        from spaneval.atomic import write_dir

        write_dir(path, lambda tmp: build_tiny_model(tmp, seed=0))
    return path


# Encoder shapes (hidden, layers, heads, feed-forward) of BERT base/large and the tiny test model.
ENCODER_SIZES = {"tiny": (128, 2, 2, 512), "base": (768, 12, 12, 3072), "large": (1024, 24, 16, 4096)}


def encoder_config(size: str) -> Any:
    """A BertConfig of a registered size with the BERT cased vocabulary and 512 positions."""
    from transformers import BertConfig

    hidden, layers, heads, ff = lookup(ENCODER_SIZES, size, "encoder size")
    return BertConfig(
        vocab_size=28996,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ff,
        max_position_embeddings=512,
    )


def random_encoder(size: str) -> Any:
    """A randomly initialised BertModel (SDPA, no pooler): speed and memory do not depend on weights."""
    from transformers import BertModel

    return BertModel._from_config(encoder_config(size), add_pooling_layer=False, attn_implementation="sdpa")


def build_tiny_model(out_dir: Path, seed: int = 0) -> None:
    """Write a randomly initialised tiny BERT (save_pretrained, safetensors) plus tokenizer."""
    import torch
    from transformers import BertModel

    torch.manual_seed(seed)
    BertModel(encoder_config("tiny"), add_pooling_layer=False).save_pretrained(
        out_dir, safe_serialization=True
    )
    bundled_tokenizer().save_pretrained(out_dir)
