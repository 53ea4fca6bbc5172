"""tasks/coref_encode.py: documents cut into segments of subtokens, gold mentions, padded batches."""

from __future__ import annotations

import pytest

from spaneval.models import bundled_tokenizer
from spaneval.tasks.coref_data import CorefDocument
from spaneval.tasks.coref_encode import encode_document, pad_batch

WORDS = ("Anna", "met", "her", "brother", ".", "He", "was", "glad", ".", "She", "smiled", ".")
DOC = CorefDocument(
    name="d",
    part="0",
    words=WORDS,
    sentence_ends=(5, 9, 12),
    clusters=(((0, 0), (2, 2), (9, 9)), ((2, 3), (5, 5))),
)


@pytest.fixture(scope="module")
def tokenizer():
    return bundled_tokenizer()


def test_evaluation_keeps_one_feature_per_document_without_gold(tokenizer):
    (feature,) = encode_document(DOC, 7, tokenizer, max_segment_len=8, max_segments=0, genre_id=0)
    assert feature["doc_index"] == 7 and "gold_starts" not in feature
    assert sorted(set(feature["subtoken_to_word"])) == list(range(len(WORDS)))
    assert feature["input_ids"].shape[1] == 8  # segments of at most 8 with [CLS] and [SEP]


def test_training_features_hold_the_gold_mentions_inside_them(tokenizer):
    features = encode_document(DOC, 0, tokenizer, max_segment_len=8, max_segments=1, genre_id=0)
    assert len(features) > 1
    found = 0
    for feature in features:
        words = feature["subtoken_to_word"]
        for start, end in zip(feature["gold_starts"], feature["gold_ends"], strict=True):
            found += 1
            assert words[start] <= words[end]
    assert found == 5  # every mention fits in one segment here


def test_pad_batch_stacks_features_of_different_lengths(tokenizer):
    long = encode_document(DOC, 0, tokenizer, max_segment_len=8, max_segments=0, genre_id=0)[0]
    short_doc = CorefDocument("s", "0", ("Hi", "."), (2,), ())
    short = encode_document(short_doc, 1, tokenizer, max_segment_len=8, max_segments=0, genre_id=0)[0]
    batch = pad_batch([long, short])
    assert batch["input_ids"].shape[0] == 2
    assert batch["input_ids"].shape[1:] == long["input_ids"].shape
