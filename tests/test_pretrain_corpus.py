"""Corpus -> token shards: tokenisation, word starts, document boundaries, caching, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from spaneval.errors import DataError
from spaneval.models import bundled_tokenizer
from spaneval.pretrain import corpus as corpus_module
from spaneval.pretrain.corpus import (
    BUNDLED_CORPUS,
    ShardSet,
    build_shards,
    corpus_fingerprint,
    tokenizer_fingerprint,
)

BOOK_A = "Call me Ishmael. Some years ago,\nnever mind how long precisely.\n\nHaving little money.\n"
BOOK_B = "It is a truth universally acknowledged,\n\nthat a single man in possession\nof a good fortune.\n"


@pytest.fixture(scope="module")
def tokenizer():
    return bundled_tokenizer()


@pytest.fixture
def books(tmp_path: Path) -> Path:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "a.txt").write_text(BOOK_A, encoding="utf-8")
    with gzip.open(folder / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(BOOK_B)
    (folder / "empty.txt").write_text("\n\n", encoding="utf-8")
    (folder / "SOURCE.md").write_text("not a corpus file", encoding="utf-8")
    return folder


def expected_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_one_document_per_file_with_exact_tokens_and_word_starts(books, tokenizer, tmp_path):
    shards = build_shards(books, tokenizer, tmp_path / "cache")
    assert shards.n_documents == 2, "the empty file is skipped, SOURCE.md is not read"
    docs = list(shards.documents())
    assert [d[0].tolist() for d in docs] == [expected_ids(tokenizer, BOOK_A), expected_ids(tokenizer, BOOK_B)]
    assert shards.n_tokens == sum(len(d[0]) for d in docs)
    for ids, word_starts in docs:
        pieces = tokenizer.convert_ids_to_tokens(ids.tolist())
        assert word_starts.tolist() == [not p.startswith("##") for p in pieces]
    assert docs[0][0].dtype == np.uint16 and docs[0][1].dtype == bool


def test_blank_line_split_makes_one_document_per_paragraph(books, tokenizer, tmp_path):
    shards = build_shards(books, tokenizer, tmp_path / "cache", doc_split="blank_line")
    assert shards.n_documents == 4
    first = next(shards.documents())[0].tolist()
    assert first == expected_ids(tokenizer, "Call me Ishmael. Some years ago, never mind how long precisely.")
    assert shards.fingerprint != build_shards(books, tokenizer, tmp_path / "cache").fingerprint


def test_shards_are_reused_and_rebuilt_when_the_corpus_changes(books, tokenizer, tmp_path, monkeypatch):
    first = build_shards(books, tokenizer, tmp_path / "cache")
    monkeypatch.setattr(corpus_module, "_write_shards", lambda *a: pytest.fail("rebuilt unchanged shards"))
    again = build_shards(books, tokenizer, tmp_path / "cache")
    assert again.path == first.path and again.fingerprint == first.fingerprint
    monkeypatch.undo()
    (books / "a.txt").write_text(BOOK_A + "One more line.\n", encoding="utf-8")
    changed = build_shards(books, tokenizer, tmp_path / "cache")
    assert changed.path != first.path and changed.corpus_fingerprint != first.corpus_fingerprint
    assert changed.tokenizer_fingerprint == first.tokenizer_fingerprint


def test_tokenizer_fingerprint_tracks_the_tokenizer_definition(tokenizer):
    from transformers import BertTokenizerFast

    lowercase = BertTokenizerFast(vocab=tokenizer.get_vocab(), do_lower_case=True)
    assert tokenizer_fingerprint(tokenizer) == tokenizer_fingerprint(bundled_tokenizer())
    assert tokenizer_fingerprint(tokenizer) != tokenizer_fingerprint(lowercase)


def test_small_shards_keep_documents_whole(books, tokenizer, tmp_path):
    shards = build_shards(books, tokenizer, tmp_path / "cache", shard_tokens=1, doc_split="blank_line")
    assert shards.n_shards == 4
    manifest = json.loads((shards.path / "manifest.json").read_text())
    assert [s["n_documents"] for s in manifest["shards"]] == [1, 1, 1, 1]
    shard_ids, starts, lengths = shards.doc_table()
    assert shard_ids.tolist() == [0, 1, 2, 3] and starts.tolist() == [0, 0, 0, 0]
    assert lengths.sum() == shards.n_tokens
    reopened = ShardSet(shards.path)
    assert [d[0].tolist() for d in reopened.documents()] == [d[0].tolist() for d in shards.documents()]
    assert [reopened.document(i)[0].tolist() for i in range(4)] == [d[0].tolist() for d in shards.documents()]


def test_a_datasets_text_dataset_is_a_corpus(tokenizer, tmp_path):
    import datasets

    rows = ["First document line one.", "line two.", "", "Second document.", ""]
    data = datasets.Dataset.from_dict({"text": rows})
    shards = build_shards(data, tokenizer, tmp_path / "cache", doc_split="blank_line")
    assert shards.n_documents == 2
    assert next(shards.documents())[0].tolist() == expected_ids(
        tokenizer, "First document line one. line two."
    )
    saved = tmp_path / "saved"
    data.save_to_disk(str(saved))
    assert build_shards(saved, tokenizer, tmp_path / "cache", doc_split="blank_line").n_documents == 2
    with pytest.raises(DataError, match="'text' column"):
        build_shards(datasets.Dataset.from_dict({"body": ["x"]}), tokenizer, tmp_path / "cache")


def test_line_by_line_encoding_equals_whole_text_encoding(tokenizer, tmp_path):
    """The shards encode lines separately; BERT's pre-tokeniser makes that equal to whole-text encoding."""
    path = BUNDLED_CORPUS / "11_alices_adventures_in_wonderland.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    shards = build_shards([path], tokenizer, tmp_path / "cache")
    assert next(shards.documents())[0].tolist() == expected_ids(tokenizer, text)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.txt", "corpus file not found"),
        (lambda d: (d / "notes.md").write_text("x") and d / "notes.md", "expected a .txt or .txt.gz"),
        (lambda d: (d / "bad.txt").write_bytes(b"caf\xe9\n") and d / "bad.txt", "expected UTF-8"),
        (lambda d: (d / "sub").mkdir() or d / "sub", "no .txt or .txt.gz files"),
        (lambda d: (d / "blank.txt").write_text("\n \n") and d / "blank.txt", "holds no text"),
    ],
)
def test_bad_corpora_are_data_errors_naming_the_file(make, message, tokenizer, tmp_path):
    path = make(tmp_path)
    with pytest.raises(DataError, match=message) as err:
        build_shards(path, tokenizer, tmp_path / "cache")
    assert path.name in str(err.value)
    assert not list((tmp_path / "cache").glob("shards-*")), "no half-built shards are left behind"


def test_bundled_sample_fingerprint_is_stable(tokenizer):
    files = sorted(BUNDLED_CORPUS.glob("*.txt.gz"))
    assert len(files) == 5 and (BUNDLED_CORPUS / "SOURCE.md").is_file()
    assert corpus_fingerprint(BUNDLED_CORPUS) == corpus_fingerprint(files)
