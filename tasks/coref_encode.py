"""Coreference features: a CoNLL document as independently encoded segments, and batches of them.

Segments hold at most max_segment_len subtokens ([CLS] and [SEP] included) and break at sentence
ends where they can (tasks/coref_data.segment_bounds). Training features also carry the gold
mentions that lie inside them; evaluation features hold a whole document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from spaneval.tasks.coref_data import CorefDocument, segment_bounds


def encode_document(
    doc: CorefDocument, doc_index: int, tokenizer: Any, max_segment_len: int, max_segments: int, genre_id: int
) -> list[dict]:
    """Model features of one document: segments of at most max_segment_len subtokens ([CLS] and
    [SEP] included). With max_segments > 0 (training) a longer document becomes several features
    of consecutive segments, each with the gold mentions inside it (Joshi et al. instead sample one
    random window per step); otherwise one feature, without gold, holds the whole document."""
    pieces = tokenizer(list(doc.words), add_special_tokens=False)["input_ids"]
    pieces = [p or [tokenizer.unk_token_id] for p in pieces]  # a word the tokenizer drops entirely
    ids = [t for p in pieces for t in p]
    to_word = [w for w, p in enumerate(pieces) for _ in p]
    first = np.cumsum([0] + [len(p) for p in pieces])  # first subtoken of each word (+ end)
    sentence_of = doc.sentence_of()
    bounds = segment_bounds(
        [int(first[e]) for e in doc.sentence_ends],
        [int(x) for x in first[:-1]],
        len(ids),
        max_segment_len - 2,
    )
    per_feature = max_segments if max_segments > 0 else len(bounds)
    speakers = _speaker_ids(doc)
    features = []
    for c in range(0, len(bounds), per_feature):
        chunk = bounds[c : c + per_feature]
        lo, hi = chunk[0][0], chunk[-1][1]
        feature = _segments_to_arrays(ids, chunk, tokenizer, max_segment_len)
        words = to_word[lo:hi]
        feature.update(
            sentence_map=np.array([sentence_of[w] for w in words], dtype=np.int64),
            word_start=np.array([first[w] == lo + i for i, w in enumerate(words)]),
            word_end=np.array([first[w + 1] - 1 == lo + i for i, w in enumerate(words)]),
            speaker_ids=np.array([speakers[w] for w in words], dtype=np.int64),
            genre=genre_id,
            doc_index=doc_index,
            subtoken_to_word=words,
        )
        if max_segments > 0:
            feature.update(_gold_arrays(doc, first, lo, hi))
        features.append(feature)
    return features


def _segments_to_arrays(ids: list[int], bounds: list[tuple[int, int]], tokenizer: Any, length: int) -> dict:
    n = len(bounds)
    input_ids = np.full((n, length), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    flat_index, segment_id = [], []
    for s, (lo, hi) in enumerate(bounds):
        row = [tokenizer.cls_token_id, *ids[lo:hi], tokenizer.sep_token_id]
        input_ids[s, : len(row)] = row
        mask[s, : len(row)] = 1
        flat_index.extend(s * length + 1 + i for i in range(hi - lo))
        segment_id.extend([s] * (hi - lo))
    return {
        "input_ids": input_ids,
        "attention_mask": mask,
        "flat_index": np.array(flat_index, dtype=np.int64),
        "segment_id": np.array(segment_id, dtype=np.int64),
    }


def _gold_arrays(doc: CorefDocument, first: np.ndarray, lo: int, hi: int) -> dict:
    """Gold mentions inside subtokens [lo, hi) as chunk-relative subtoken spans, cluster ids from 1."""
    starts, ends, cluster = [], [], []
    for c, spans in enumerate(doc.clusters, start=1):
        for s, e in spans:
            sub_s, sub_e = int(first[s]), int(first[e + 1]) - 1
            if lo <= sub_s and sub_e < hi:
                starts.append(sub_s - lo)
                ends.append(sub_e - lo)
                cluster.append(c)
    return {
        "gold_starts": np.array(starts, dtype=np.int64),
        "gold_ends": np.array(ends, dtype=np.int64),
        "gold_cluster": np.array(cluster, dtype=np.int64),
    }


def _speaker_ids(doc: CorefDocument) -> list[int]:
    """Speaker of each word as an id in order of appearance (0 when the data has none)."""
    if doc.speakers is None:
        return [0] * len(doc.words)
    ids: dict[str, int] = {}
    return [ids.setdefault(s, len(ids) + 1) for s in doc.speakers]


def pad_batch(features: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Pad per-document arrays to [batch, ...] tensors (the model loops over documents)."""
    n_seg = [f["input_ids"].shape[0] for f in features]
    n_tok = [f["flat_index"].shape[0] for f in features]
    batch = {
        "n_segments": torch.tensor(n_seg),
        "n_subtokens": torch.tensor(n_tok),
        "genre": torch.tensor([f["genre"] for f in features]),
    }
    for name, size in (("input_ids", max(n_seg)), ("attention_mask", max(n_seg))):
        batch[name] = _stack(features, name, size)
    for name in ("flat_index", "sentence_map", "word_start", "word_end", "speaker_ids", "segment_id"):
        batch[name] = _stack(features, name, max(n_tok))
    if "gold_starts" in features[0]:  # training features carry gold mentions: the model adds "loss"
        n_gold = [f["gold_starts"].shape[0] for f in features]
        for name in ("gold_starts", "gold_ends", "gold_cluster"):
            batch[name] = _stack(features, name, max(1, max(n_gold)))
        batch["n_gold"] = torch.tensor(n_gold)
    return batch


def _stack(features: Sequence[dict], name: str, size: int) -> torch.Tensor:
    first = features[0][name]
    out = np.zeros((len(features), size, *first.shape[1:]), dtype=first.dtype)
    for i, f in enumerate(features):
        out[i, : f[name].shape[0]] = f[name]
    return torch.from_numpy(out)
