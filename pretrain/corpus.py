"""Corpus -> memory-mapped token shards, tokenised once and reused.

A corpus is plain text (`.txt` / `.txt.gz` files, or a folder of them) or a `datasets` text data
set (a `datasets.Dataset`, or a folder written by `Dataset.save_to_disk`) with a "text" column.
Documents are whole files (`doc_split="file"`, right for books) or blocks of lines separated by
blank lines (`doc_split="blank_line"`, the BERT / `datasets` text convention; there a data set row
is a line).

The cache folder `<cache_dir>/shards-<key>` holds, per shard k, `tokens-k.npy` (uint16 ids, int32
for vocabularies over 65,536), `word_starts-k.npy` (bool: the token is not a '##' continuation)
and `doc_offsets-k.npy` (int64, one entry per document plus the end), and `manifest.json`. The key
hashes the corpus fingerprint (file names and bytes, or the data set fingerprint), the tokenizer
fingerprint (its full serialised definition) and the document split, so a changed file or
vocabulary builds new shards and an unchanged one reuses them. The folder appears atomically and
complete. Documents never cross shards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spaneval import atomic
from spaneval.errors import DataError

SHARD_FORMAT_VERSION = 1
DEFAULT_SHARD_TOKENS = 1 << 26  # 64 M tokens, 128 MB of uint16 per shard
DOC_SPLITS = ("file", "blank_line")
BUNDLED_CORPUS = Path(__file__).resolve().parents[1] / "spaneval" / "data" / "corpus"
_LINES_PER_ENCODE = 8192  # lines handed to the Rust tokenizer at once (it parallelises over them)


@dataclass(frozen=True)
class Shard:
    """One shard's memory-mapped arrays."""

    tokens: np.ndarray  # [n_tokens] token ids
    word_starts: np.ndarray  # [n_tokens] bool
    doc_offsets: np.ndarray  # [n_documents + 1] int64


class ShardSet:
    """A tokenised corpus on disk: memory-mapped shards plus the manifest that describes them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise DataError(self.path, None, "not a shard folder (manifest.json missing)")
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        # Mapped now, not lazily: open maps survive another process replacing this folder.
        self._shards = [self._open(files) for files in self.manifest["shards"]]
        self._doc_table: tuple[np.ndarray, ...] | None = None

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["n_tokens"])

    @property
    def n_documents(self) -> int:
        return int(self.manifest["n_documents"])

    @property
    def fingerprint(self) -> str:
        """Identifies corpus + tokenizer + document split: the key the shards are cached under."""
        return str(self.manifest["fingerprint"])

    @property
    def corpus_fingerprint(self) -> str:
        return str(self.manifest["corpus_fingerprint"])

    @property
    def tokenizer_fingerprint(self) -> str:
        return str(self.manifest["tokenizer_fingerprint"])

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    def shard(self, k: int) -> Shard:
        """Shard k's memory-mapped arrays."""
        return self._shards[k]

    def _open(self, files: dict[str, str]) -> Shard:
        # Plain ndarray views of the memory maps: slicing np.memmap costs ~5 us a call, a view ~0.3 us.
        arrays = (np.load(self.path / files[name], mmap_mode="r").view(np.ndarray) for name in _ARRAY_NAMES)
        return Shard(*arrays)

    def doc_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shard index, start offset in the shard, length in tokens) for every document, in order."""
        shard_ids, starts, lengths = [], [], []
        for k in range(self.n_shards):
            offsets = np.asarray(self.shard(k).doc_offsets)
            shard_ids.append(np.full(len(offsets) - 1, k, dtype=np.int64))
            starts.append(offsets[:-1])
            lengths.append(np.diff(offsets))
        return tuple(np.concatenate(a) if a else np.zeros(0, np.int64) for a in (shard_ids, starts, lengths))

    def document(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, word-start flags) of document `index` (0-based, corpus order)."""
        if self._doc_table is None:
            self._doc_table = self.doc_table()
        shard, start, length = (int(column[index]) for column in self._doc_table)
        arrays = self.shard(shard)
        return arrays.tokens[start : start + length], arrays.word_starts[start : start + length]

    def documents(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(token ids, word-start flags) of every document, as memory-mapped views."""
        for k in range(self.n_shards):
            shard = self.shard(k)
            for start, end in zip(shard.doc_offsets[:-1], shard.doc_offsets[1:], strict=True):
                yield shard.tokens[start:end], shard.word_starts[start:end]

    def __repr__(self) -> str:
        return f"ShardSet({self.path}, {self.n_documents} documents, {self.n_tokens} tokens)"


_ARRAY_NAMES = ("tokens", "word_starts", "doc_offsets")


def build_shards(
    corpus: str | Path | list[Path] | Any,
    tokenizer: Any,
    cache_dir: str | Path,
    *,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    doc_split: str = "file",
) -> ShardSet:
    """Tokenise `corpus` into memory-mapped shards under `cache_dir`, or reuse the ones built before.

    Under torchrun, call it on rank 0 first, then on the other ranks after a barrier: they reuse
    the finished shards instead of tokenising again.
    """
    if doc_split not in DOC_SPLITS:
        raise DataError(corpus, None, f"doc_split={doc_split!r}: expected one of {', '.join(DOC_SPLITS)}")
    source = _resolve_corpus(corpus)
    corpus_fp = _source_fingerprint(source)
    tokenizer_fp = tokenizer_fingerprint(tokenizer)
    key = _sha256(json.dumps([SHARD_FORMAT_VERSION, corpus_fp, tokenizer_fp, doc_split]))
    target = Path(cache_dir) / f"shards-{key[len('sha256:') :][:24]}"
    if (target / "manifest.json").is_file():
        return ShardSet(target)
    header = {
        "format_version": SHARD_FORMAT_VERSION,
        "fingerprint": key,
        "corpus_fingerprint": corpus_fp,
        "tokenizer_fingerprint": tokenizer_fp,
        "tokenizer_class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "doc_split": doc_split,
        "sources": _source_names(source),
    }
    atomic.write_dir(
        target, lambda tmp: _write_shards(tmp, source, tokenizer, doc_split, shard_tokens, header)
    )
    return ShardSet(target)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full serialised definition (vocabulary, normaliser, pre-tokeniser)."""
    return _sha256(tokenizer.backend_tokenizer.to_str())


def corpus_fingerprint(corpus: str | Path | list[Path] | Any) -> str:
    """sha256 over the corpus file names and bytes (or the `datasets` fingerprint)."""
    return _source_fingerprint(_resolve_corpus(corpus))


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve_corpus(corpus: Any) -> list[Path] | Any:
    """A sorted list of text files, or a `datasets.Dataset`."""
    if isinstance(corpus, (list, tuple)):
        files = [Path(p) for p in corpus]
    elif isinstance(corpus, (str, Path)):
        path = Path(corpus)
        if path.is_dir() and (path / "dataset_info.json").is_file():
            import datasets

            return datasets.load_from_disk(str(path))
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_text_file(p))
            if not files:
                raise DataError(path, None, "no .txt or .txt.gz files in this folder")
        else:
            files = [path]
    else:
        if not hasattr(corpus, "column_names"):
            raise DataError(corpus, None, "expected a path, a list of paths or a datasets.Dataset")
        return corpus
    for path in files:
        if not path.is_file():
            raise DataError(path, None, "corpus file not found")
        if not _is_text_file(path):
            raise DataError(path, None, "expected a .txt or .txt.gz file")
    return files


def _is_text_file(path: Path) -> bool:
    return path.name.endswith((".txt", ".txt.gz"))


def _source_fingerprint(source: list[Path] | Any) -> str:
    if not isinstance(source, list):
        return "datasets:" + str(source._fingerprint)
    digest = hashlib.sha256()
    for path in source:
        digest.update(path.name.encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def _source_names(source: list[Path] | Any) -> list[str]:
    if isinstance(source, list):
        return [path.name for path in source]
    return [f"datasets.Dataset({len(source)} rows)"]


def _read_text(path: Path) -> str:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, f"byte {err.start}", "expected UTF-8 text") from None
    except (OSError, EOFError) as err:
        raise DataError(path, None, f"cannot read the file ({err})") from None


def _documents(source: list[Path] | Any, doc_split: str) -> Iterator[list[str]]:
    """Each document as its list of non-empty lines."""
    if isinstance(source, list):
        for path in source:
            text = _read_text(path)
            if doc_split == "file":
                yield [line for line in text.splitlines() if line.strip()]
            else:
                yield from _split_blank_lines(text.splitlines())
        return
    if "text" not in source.column_names:
        raise DataError("datasets.Dataset", None, f"expected a 'text' column, found {source.column_names}")
    rows = (row["text"] for row in source)
    if doc_split == "file":  # a data set row is one whole document
        for row_text in rows:
            yield [line for line in row_text.splitlines() if line.strip()]
    else:
        yield from _split_blank_lines(rows)


def _split_blank_lines(lines: Any) -> Iterator[list[str]]:
    document: list[str] = []
    for line in lines:
        if line.strip():
            document.append(line)
        elif document:
            yield document
            document = []
    if document:
        yield document


def _tokenised_documents(source: list[Path] | Any, tokenizer: Any, doc_split: str) -> Iterator[np.ndarray]:
    """Token ids (int64) of each non-empty document, encoding many lines per call.

    Encoding line by line gives the same wordpieces as encoding the whole text: BERT's
    pre-tokeniser splits on all whitespace, newlines included.
    """
    backend = tokenizer.backend_tokenizer
    pending: list[list[str]] = []
    n_lines = 0
    for document in _documents(source, doc_split):
        if not document:
            continue
        pending.append(document)
        n_lines += len(document)
        if n_lines >= _LINES_PER_ENCODE:
            yield from _encode(backend, pending)
            pending, n_lines = [], 0
    yield from _encode(backend, pending)


def _encode(backend: Any, documents: list[list[str]]) -> Iterator[np.ndarray]:
    if not documents:
        return
    lines = [line for document in documents for line in document]
    encodings = backend.encode_batch(lines, add_special_tokens=False)
    cursor = 0
    for document in documents:
        pieces = [encodings[i].ids for i in range(cursor, cursor + len(document))]
        cursor += len(document)
        ids = np.fromiter((t for piece in pieces for t in piece), dtype=np.int64)
        if len(ids):
            yield ids


def _word_start_table(tokenizer: Any) -> np.ndarray:
    """[vocab] bool: True where the token starts a word (is not a '##' continuation)."""
    table = np.ones(len(tokenizer), dtype=bool)
    for token, index in tokenizer.get_vocab().items():
        if token.startswith("##"):
            table[index] = False
    return table


def _write_shards(
    folder: Path, source: Any, tokenizer: Any, doc_split: str, shard_tokens: int, header: dict
) -> None:
    dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max + 1 else np.int32
    starts_table = _word_start_table(tokenizer)
    shards: list[dict] = []
    buffer: list[np.ndarray] = []
    buffered = 0
    documents = _tokenised_documents(source, tokenizer, doc_split)
    for ids in tqdm(documents, desc="tokenising corpus", unit=" docs", disable=None):  # off when not a TTY
        buffer.append(ids)
        buffered += len(ids)
        if buffered >= shard_tokens:
            shards.append(_write_one_shard(folder, len(shards), buffer, dtype, starts_table))
            buffer, buffered = [], 0
    if buffer:
        shards.append(_write_one_shard(folder, len(shards), buffer, dtype, starts_table))
    if not shards:
        raise DataError(", ".join(header["sources"]), None, "the corpus holds no text")
    n_tokens = sum(s["n_tokens"] for s in shards)
    n_documents = sum(s["n_documents"] for s in shards)
    manifest = {**header, "n_tokens": n_tokens, "n_documents": n_documents, "shards": shards}
    atomic.write_json(folder / "manifest.json", manifest)


def _write_one_shard(
    folder: Path, index: int, documents: list[np.ndarray], dtype: type, starts_table: np.ndarray
) -> dict:
    tokens = np.concatenate(documents)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in documents])]).astype(np.int64)
    arrays = {"tokens": tokens.astype(dtype), "word_starts": starts_table[tokens], "doc_offsets": offsets}
    entry: dict[str, Any] = {"n_tokens": len(tokens), "n_documents": len(documents)}
    for name, array in arrays.items():
        entry[name] = f"{name}-{index}.npy"
        np.save(folder / entry[name], array)
    return entry
