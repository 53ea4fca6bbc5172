"""Casing is decided from the vocabulary: an uncased model must never get a cased tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spaneval.models import decide_casing, load_tokenizer, resolve_model


def _folder_with_vocab(tmp_path: Path, vocab: Path, name: str, do_lower_case: bool) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(vocab, folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": do_lower_case}))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return folder


@pytest.mark.parametrize(
    ("vocab_name", "expect_cased"),
    [("bert-base-cased-vocab.txt", True), ("bert-base-uncased-vocab.txt", False)],
)
def test_vocabulary_decides_against_misleading_name(tmp_path, shared_data, vocab_name, expect_cased):
    # The folder name and do_lower_case both say the opposite of the vocabulary.
    folder = _folder_with_vocab(
        tmp_path,
        shared_data / "vocab" / vocab_name,
        "my-model-cased" if not expect_cased else "x-uncased",
        do_lower_case=expect_cased,
    )
    assert decide_casing(folder) == (expect_cased, "vocabulary")
    tok = load_tokenizer(resolve_model(str(folder)))
    tokens = tok.tokenize("The Eiffel Tower")
    assert "[UNK]" not in tokens
    assert (tokens[0] == "The") is expect_cased


def test_real_uncased_model_gets_uncased_tokenizer(minilm):
    model = resolve_model(str(minilm))
    assert (model.cased, model.casing_rule) == (False, "vocabulary")
    assert model.describe()["casing_rule"] == "vocabulary"
    tokens = load_tokenizer(model).tokenize("The Eiffel Tower")
    assert tokens == ["the", "e", "##iff", "##el", "tower"]
    # --lowercase is a no-op for an uncased model; it never makes one cased.
    assert load_tokenizer(model, lowercase=True).tokenize("The") == ["the"]


def test_registry_override_keeps_spanbert_cased():
    # The hub copy of SpanBERT's tokenizer lowercases; the registry's casing wins for hub models.
    tiny = resolve_model("tiny")
    assert (tiny.cased, tiny.casing_rule) == (True, "registry")
    assert load_tokenizer(tiny).tokenize("The")[0] == "The"


def test_no_vocabulary_falls_back_to_tokenizer_config(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    assert decide_casing(folder) == (False, "tokenizer_config")
    (folder / "tokenizer_config.json").write_text("{broken")
    with pytest.raises(Exception, match=r"tokenizer_config\.json"):
        decide_casing(folder)
