"""Input formats (pure) and their encoding with the real BERT cased vocabulary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import BertTokenizerFast

from spaneval.tasks import relation_formats as f
from spaneval.tasks.relation_data import TACRED_OBJ_TYPES, TACRED_SUBJ_TYPES, RelationExample

TOKENS = ["Bill", "Gates", "founded", "Microsoft", "-LRB-", "MS", "-RRB-", "."]
SUBJ, OBJ = (3, 3), (0, 1)  # Microsoft (ORGANIZATION) founded_by Bill Gates (PERSON)


@pytest.mark.parametrize(
    ("fmt", "words", "subj", "obj"),
    [
        ("entity_mask", "[OBJ-PERSON] founded [SUBJ-ORGANIZATION] ( MS ) .", (2, 2), (0, 0)),
        ("entity_marker", "[E2] Bill Gates [/E2] founded [E1] Microsoft [/E1] ( MS ) .", (5, 7), (0, 3)),
        ("entity_marker_punct", "# Bill Gates # founded @ Microsoft @ ( MS ) .", (5, 7), (0, 3)),
        (
            "typed_entity_marker",
            "<O:PERSON> Bill Gates </O:PERSON> founded <S:ORGANIZATION> Microsoft </S:ORGANIZATION> ( MS ) .",
            (5, 7),
            (0, 3),
        ),
        (
            "typed_entity_marker_punct",
            "# ^ person ^ Bill Gates # founded @ * organization * Microsoft @ ( MS ) .",
            (8, 13),
            (0, 6),
        ),
    ],
)
def test_formats(fmt, words, subj, obj):
    got, got_subj, got_obj = f.format_example(TOKENS, SUBJ, OBJ, "ORGANIZATION", "PERSON", fmt)
    assert " ".join(got) == words
    assert (got_subj, got_obj) == (subj, obj)


def test_untyped_mask_and_typed_formats_refused_without_types():
    words, _, _ = f.format_example(["a", "b", "c"], (0, 0), (2, 2), None, None, "entity_mask")
    assert words == ["[SUBJ]", "b", "[OBJ]"]
    assert f.new_tokens("entity_mask", (), ()) == ("[OBJ]", "[SUBJ]")
    with pytest.raises(ValueError, match="needs entity types"):
        f.new_tokens("typed_entity_marker", (), ())
    with pytest.raises(ValueError, match="needs entity types"):
        f.format_example(["a", "b"], (0, 0), (1, 1), None, None, "typed_entity_marker_punct")


def test_type_words_for_multiword_types():
    words, _, _ = f.format_example(
        ["x", "Ohio"], (0, 0), (1, 1), "PERSON", "STATE_OR_PROVINCE", "typed_entity_marker_punct"
    )
    assert words == ["@", "*", "person", "*", "x", "@", "#", "^", "state", "or", "province", "^", "Ohio", "#"]


def test_new_tokens_are_sorted_and_complete():
    mask = f.new_tokens("entity_mask", TACRED_SUBJ_TYPES, TACRED_OBJ_TYPES)
    assert list(mask) == sorted(mask) and len(mask) == 2 + 17
    assert "[SUBJ-PERSON]" in mask and "[OBJ-STATE_OR_PROVINCE]" in mask
    assert len(f.new_tokens("typed_entity_marker", TACRED_SUBJ_TYPES, TACRED_OBJ_TYPES)) == 2 * (2 + 17)
    assert f.new_tokens("typed_entity_marker_punct", TACRED_SUBJ_TYPES, TACRED_OBJ_TYPES) == ()


@given(st.integers(1, 300), st.integers(0, 299), st.integers(1, 60), st.integers(1, 100))
def test_choose_window(n, lo, length, budget):
    lo = min(lo, n - 1)
    hi = min(n, lo + length)
    start, end = f.choose_window(n, lo, hi, budget)
    assert 0 <= start <= end <= n
    assert end - start == min(n, budget)
    if hi - lo <= budget:
        assert start <= lo and hi <= end
    else:
        assert start == lo


@pytest.fixture(scope="module")
def tokenizer(bundled):
    tok = BertTokenizerFast(vocab=str(bundled / "vocab" / "bert-base-cased-vocab.txt"), do_lower_case=False)
    assert len(tok) == 28996
    return tok


def _example(tokens, subj, obj, label="org:founded_by"):
    return RelationExample("x", tuple(tokens), *subj, *obj, "ORGANIZATION", "PERSON", label)


def test_encode_points_at_entity_start_tokens(tokenizer):
    tokenizer.add_tokens(
        list(f.new_tokens("entity_mask", TACRED_SUBJ_TYPES, TACRED_OBJ_TYPES)), special_tokens=True
    )
    labels = ("no_relation", "org:founded_by")
    (feat,) = f.encode_examples([_example(TOKENS, SUBJ, OBJ)], tokenizer, "entity_mask", 64, labels)
    ids = feat["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.convert_ids_to_tokens(ids[feat["subj_index"]]) == "[SUBJ-ORGANIZATION]"
    assert tokenizer.convert_ids_to_tokens(ids[feat["obj_index"]]) == "[OBJ-PERSON]"
    assert feat["label"] == 1 and not feat["entity_cropped"]


def test_long_sentence_is_cropped_around_the_entities(tokenizer):
    tokens = ["filler"] * 150 + ["Microsoft", "was", "founded", "by", "Bill", "Gates"] + ["filler"] * 150
    ex = _example(tokens, (150, 150), (154, 155))
    (feat,) = f.encode_examples([ex], tokenizer, "entity_marker_punct", 32, ("org:founded_by",))
    assert len(feat["input_ids"]) == 32
    assert tokenizer.convert_ids_to_tokens(feat["input_ids"][feat["subj_index"]]) == "@"
    assert tokenizer.convert_ids_to_tokens(feat["input_ids"][feat["obj_index"]]) == "#"
