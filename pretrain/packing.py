"""Packing document-bounded blocks into full rows, for single-sequence objectives.

Blocks never cross a document (SpanBERT paper, Sec. 3.3, and pretrain/blocks.py), so the last
block of every document is short; on a corpus of short documents most of a padded batch is
padding (86% of the tokens at 512 for the bundled novels cut into paragraphs). Packing lays
several blocks side by side in one row of seq_len tokens, each still `[CLS] block [SEP]` with its
own positions 0, 1, ..., and the model lets each token attend only to its own block (a block-
diagonal mask built from `segment_ids`). Every block is therefore encoded exactly as it would be
alone (the packed loss equals the unpacked one: tests/test_pretrain_packing.py); what changes is
that a batch of B rows holds at least B blocks, and that the masking budget (15%) is spent per
row, not per block, which keeps its expectation per token.

Rows are formed once, by best-fit decreasing over the block lengths (deterministic, so the data
position stays (epoch, batch) and resumption stays exact); each epoch shuffles the rows, and
`blocks.packed_rows` lays out their tokens. The tail of a row that no block fits is padding,
given a segment of its own so that no query is masked out entirely (SDPA returns NaN for a query
that may attend to nothing).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PackedRows:
    """Which blocks share a row: row r holds blocks members[offsets[r]:offsets[r + 1]], in order."""

    members: np.ndarray  # [n_blocks] block ids, row after row
    offsets: np.ndarray  # [n_rows + 1]

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    def blocks_of(self, row: int) -> np.ndarray:
        return self.members[self.offsets[row] : self.offsets[row + 1]]


def pack_blocks(lengths: np.ndarray, row_len: int) -> PackedRows:
    """Best-fit decreasing: each block, longest first, goes into the open row it fills most tightly.

    lengths: tokens of each block in the row, [CLS] and [SEP] included (each <= row_len).
    Full-length blocks (most blocks of long documents) get a row of their own without search.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    full = np.flatnonzero(lengths == row_len)
    rows: list[list[int]] = [[int(b)] for b in full]
    rooms: list[tuple[int, int]] = []  # (room left, row index), sorted: the best fit is a bisect away
    partial = np.flatnonzero(lengths < row_len)
    for block in partial[np.argsort(-lengths[partial], kind="stable")]:
        need = int(lengths[block])
        i = bisect.bisect_left(rooms, (need, -1))
        if i == len(rooms):
            rows.append([int(block)])
            row, room = len(rows) - 1, row_len - need
        else:
            room, row = rooms.pop(i)
            rows[row].append(int(block))
            room -= need
        if room > 0:
            bisect.insort(rooms, (room, row))
    members = np.asarray([b for row in rows for b in row], dtype=np.int64)
    offsets = np.cumsum([0] + [len(row) for row in rows]).astype(np.int64)
    return PackedRows(members, offsets)
