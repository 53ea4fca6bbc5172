"""Pretraining batches: blocks cut from the token shards, masked, with an exact, resumable position.

Blocks never cross a document and always start at a word start (so no block opens with the tail
of a word). `single` blocks (SpanBERT, BERT-1seq; SpanBERT paper, Sec. 3.3) are
`[CLS] up to seq_len-2 tokens [SEP]`. `pair` blocks (Google BERT's NSP) take up to seq_len-3 tokens,
split them at a random word start into segments A and B, and with probability 0.5 replace B by a
segment of the same length from a random other document: `[CLS] A [SEP] B [SEP]`, nsp_labels 0 for
IsNext, 1 for NotNext. Differences from Google BERT's `create_pretraining_data.py`: segments are cut
at word starts rather than sentence ends (the shards keep no sentence boundaries), the unused true
B segment of a NotNext pair is not put back into the stream, and there are no 10% short sequences.

`pack=True` (single blocks only) lays several blocks side by side in each row, with segment_ids
and position_ids for the model's block-diagonal attention (pretrain/packing.py); shuffling and
sharding then work on those rows instead of on single blocks.

Order: every epoch is a fresh permutation of all blocks (seeded by seed and epoch, the same on all
ranks); rank r takes every world_size-th block from position r, so ranks see disjoint blocks and the
same number of batches. The masking and pairing randomness of each batch is drawn from a Generator
seeded by (seed, epoch, rank, batch index), so the position (epoch, batch index) alone fixes every
later batch: `state_dict()` / `load_state_dict()` resume exactly.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from spaneval.errors import ConfigError, DataError, SpanevalError
from spaneval.pretrain.corpus import ShardSet
from spaneval.pretrain.masking import MaskingConfig, mask_batch
from spaneval.pretrain.packing import PackedRows, pack_blocks

OBJECTIVE_KINDS = ("single", "pair")
STATE_VERSION = 1
_ORDER_STREAM, _BATCH_STREAM = 0, 1  # SeedSequence stream ids: epoch permutation, per-batch draws
_MAX_NSP_TRIES = 10  # redraws of the random document when it hits the current one (as Google BERT)
_WORD_START_LOOKAHEAD = 64  # tokens searched for a word start after a random NotNext start
_SPLIT_LOOKAHEAD = 8  # tokens checked, vectorised, for a word start that can open segment B


@dataclass(frozen=True)
class TokenizerSpecials:
    """The token ids a batch builder needs, taken from a tokenizer once."""

    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int
    vocab_size: int
    special_ids: tuple[int, ...]  # ids a random replacement never uses

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TokenizerSpecials:
        """Special ids are the tokenizer's special tokens plus bracketed placeholders like [unused7].

        The placeholders never occur in tokenised text, so a random replacement by one would be
        a give-away; they are excluded from random replacements with the special tokens.
        """
        vocab = tokenizer.get_vocab()
        placeholders = {
            i for token, i in vocab.items() if token.startswith("[unused") and token.endswith("]")
        }
        special = sorted(set(tokenizer.all_special_ids) | placeholders)
        return cls(
            cls_id=tokenizer.cls_token_id,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
            mask_id=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
            special_ids=tuple(special),
        )


def cut_document(word_starts: np.ndarray, max_tokens: int) -> np.ndarray:
    """Start offsets of consecutive blocks of at most `max_tokens` covering a document.

    Each cut falls on the last word start that keeps the block within `max_tokens` (a single
    word longer than that is cut inside the word).
    """
    n = len(word_starts)
    word_pos = np.flatnonzero(word_starts)
    starts = [0]
    while n - starts[-1] > max_tokens:
        limit = starts[-1] + max_tokens
        last = word_pos[np.searchsorted(word_pos, limit, side="right") - 1] if len(word_pos) else 0
        starts.append(int(last) if last > starts[-1] else limit)
    return np.asarray(starts, dtype=np.int64)


def block_table(shards: ShardSet, max_tokens: int) -> dict[str, np.ndarray]:
    """Every block of every document: shard, start (in the shard), length and document index."""
    doc_shard, doc_start, doc_len = shards.doc_table()
    doc = np.arange(len(doc_len))
    short = doc_len <= max_tokens  # one block each, no cutting needed (most documents of web corpora)
    parts = {"shard": [doc_shard[short]], "start": [doc_start[short]], "length": [doc_len[short]],
             "doc": [doc[short]]}  # fmt: skip
    for d in np.flatnonzero(~short):
        k, start, length = int(doc_shard[d]), int(doc_start[d]), int(doc_len[d])
        offsets = cut_document(shards.shard(k).word_starts[start : start + length], max_tokens)
        parts["shard"].append(np.full(len(offsets), k, dtype=np.int64))
        parts["start"].append(start + offsets)
        parts["length"].append(np.diff(np.append(offsets, length)))
        parts["doc"].append(np.full(len(offsets), d, dtype=np.int64))
    table = {key: np.concatenate(value).astype(np.int64) for key, value in parts.items()}
    order = np.lexsort((table["start"], table["doc"]))  # corpus order: by document, then position
    return {key: value[order] for key, value in table.items()}


class BlockStream:
    """An endless iterator of masked batches (dict of [B, L] int64 torch tensors) over the shards."""

    def __init__(
        self,
        shards: ShardSet,
        *,
        seq_len: int,
        objective_kind: str,
        batch_size: int,
        tokenizer_specials: TokenizerSpecials,
        masking: MaskingConfig,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        pack: bool = False,
    ):
        if objective_kind not in OBJECTIVE_KINDS:
            raise ConfigError(
                f"objective_kind {objective_kind!r}: expected one of {', '.join(OBJECTIVE_KINDS)}"
            )
        if seq_len < 8 or batch_size < 1 or not 0 <= rank < world_size or seed < 0:
            raise ConfigError(
                "BlockStream: need seq_len >= 8, batch_size >= 1, 0 <= rank < world_size and seed >= 0; "
                f"got seq_len={seq_len}, batch_size={batch_size}, rank={rank}, "
                f"world_size={world_size}, seed={seed}"
            )
        self.shards, self.seq_len, self.objective_kind = shards, seq_len, objective_kind
        self.batch_size, self.specials, self.masking = batch_size, tokenizer_specials, masking
        self.seed, self.rank, self.world_size = seed, rank, world_size
        if pack and objective_kind != "single":
            raise ConfigError("packing applies to single blocks: a pair row is read by NSP as one [CLS]")
        self.blocks = block_table(shards, seq_len - (2 if objective_kind == "single" else 3))
        if objective_kind == "pair":
            self.blocks = _splittable_blocks(shards, self.blocks)
        self.docs = shards.doc_table()
        # Packed: the unit of shuffling and sharding is a row of several blocks (pretrain/packing.py).
        self.packed = pack_blocks(self.blocks["length"] + 2, seq_len) if pack else None
        units = self.packed.n_rows if self.packed else len(self.blocks["start"])
        self.blocks_per_rank = units // world_size  # rows per rank when packed
        self.batches_per_epoch = self.blocks_per_rank // batch_size
        if self.batches_per_epoch == 0:
            raise DataError(
                shards.path,
                None,
                f"{units} {'rows' if pack else 'blocks'} of {seq_len} tokens: too few for one batch of "
                f"{batch_size} on each of {world_size} processes; use a larger corpus or smaller batches",
            )
        self.epoch, self.batch_in_epoch = 0, 0
        self._order_epoch, self._order = -1, np.zeros(0, dtype=np.int64)

    @property
    def n_units(self) -> int:
        """What an epoch shuffles: blocks, or packed rows of blocks."""
        return self.packed.n_rows if self.packed else len(self.blocks["start"])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        order = self._rank_order(self.epoch)
        first = self.batch_in_epoch * self.batch_size
        unit_ids = order[first : first + self.batch_size]
        entropy = [self.seed, _BATCH_STREAM, self.epoch, self.rank, self.batch_in_epoch]
        batch = self._make_batch(unit_ids, np.random.default_rng(entropy))
        self.batch_in_epoch += 1
        if self.batch_in_epoch == self.batches_per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The data position. The random state is derived from (seed, epoch, rank, batch_in_epoch)."""
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            **self._identity(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; the stream must be built the same way as the saved one."""
        saved = {"pack": False, **state}  # positions saved before packing existed were unpacked
        mismatched = {k: (saved.get(k), v) for k, v in self._identity().items() if saved.get(k) != v}
        if mismatched:
            details = "; ".join(f"{k}: saved {was!r}, now {now!r}" for k, (was, now) in mismatched.items())
            hint = f" (resume with pack_blocks={str(saved['pack']).lower()})" if "pack" in mismatched else ""
            raise SpanevalError(f"cannot resume the data stream, it was built differently: {details}{hint}")
        if not 0 <= state["batch_in_epoch"] < self.batches_per_epoch:
            raise SpanevalError(
                f"cannot resume the data stream: batch {state['batch_in_epoch']} out of range"
            )
        self.epoch, self.batch_in_epoch = int(state["epoch"]), int(state["batch_in_epoch"])

    def _identity(self) -> dict[str, Any]:
        return {
            "shards_fingerprint": self.shards.fingerprint,
            "seq_len": self.seq_len,
            "objective_kind": self.objective_kind,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "masking": asdict(self.masking),
            "pack": self.packed is not None,
        }

    def _rank_order(self, epoch: int) -> np.ndarray:
        """This rank's blocks for `epoch`: a permutation shared by all ranks, strided by rank."""
        if self._order_epoch != epoch:
            perm = np.random.default_rng([self.seed, _ORDER_STREAM, epoch]).permutation(self.n_units)
            self._order = perm[self.rank :: self.world_size][: self.blocks_per_rank]
            self._order_epoch = epoch
        return self._order

    def _make_batch(self, unit_ids: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        sp, extra = self.specials, {}
        if self.packed is not None:
            rows, segments, positions = packed_rows(
                self.shards, self.blocks, self.packed, unit_ids, self.seq_len, sp
            )
            extra = {"segment_ids": torch.from_numpy(segments), "position_ids": torch.from_numpy(positions)}
        elif self.objective_kind == "single":
            rows = single_rows(self.shards, self.blocks, unit_ids, self.seq_len, sp)
        else:
            rows, nsp_labels = pair_rows(self.shards, self.blocks, self.docs, unit_ids, self.seq_len, sp, rng)
            extra = {"nsp_labels": torch.from_numpy(nsp_labels)}
        masked = mask_batch(
            rows.ids,
            rows.word_starts,
            rows.lengths,
            ~rows.content,
            rng,
            self.masking,
            sp.vocab_size,
            sp.mask_id,
            sp.special_ids,
        )
        attention = (np.arange(self.seq_len) < rows.lengths[:, None]).astype(np.int64)
        tensors = {key: torch.from_numpy(value) for key, value in masked.items()}
        tensors["attention_mask"] = torch.from_numpy(attention)
        tensors["token_type_ids"] = torch.from_numpy(rows.token_types)
        return {**tensors, **extra}


class Prefetcher:
    """Builds the next `depth` batches of a BlockStream in a background thread.

    numpy releases the GIL inside its array loops, and the training thread releases it while it
    waits for the GPU (loss.item(), all-reduce), so batch building overlaps the step instead of
    following it. `state_dict()` is the position after the last batch handed out, so a checkpoint
    taken with prefetching resumes exactly like one taken without.
    """

    def __init__(self, stream: BlockStream, depth: int = 2):
        self.stream = stream
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._state = stream.state_dict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="block-prefetch", daemon=True)
            self._thread.start()
        batch, state = self._queue.get()
        if isinstance(batch, BaseException):
            raise batch
        self._state = state
        return batch

    def state_dict(self) -> dict[str, Any]:
        return dict(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._thread is not None:
            raise SpanevalError("set the data position before the first batch is drawn")
        self.stream.load_state_dict(state)
        self._state = self.stream.state_dict()

    def close(self) -> None:
        """Stop the background thread (it is a daemon, so an exiting process never waits for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                batch = next(self.stream)
                self._put((batch, self.stream.state_dict()))
        except Exception as err:  # handed to the training thread, which raises it
            self._put((err, None))

    def _put(self, item: tuple) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


@dataclass
class Rows:
    """Unmasked, padded rows of a batch (all [B, L] except lengths [B])."""

    ids: np.ndarray  # int64 token ids with [CLS]/[SEP]/[PAD]
    word_starts: np.ndarray  # bool, from the shards (False on special tokens)
    lengths: np.ndarray  # int64 tokens per row, special tokens included
    content: np.ndarray  # bool, True on corpus tokens (the maskable positions)
    token_types: np.ndarray  # int64 segment ids: 0, or 1 on segment B and its [SEP]

    @classmethod
    def empty(cls, n_rows: int, seq_len: int, pad_id: int) -> Rows:
        shape = (n_rows, seq_len)
        return cls(
            np.full(shape, pad_id, dtype=np.int64),
            np.zeros(shape, bool),
            np.zeros(n_rows, np.int64),
            np.zeros(shape, bool),
            np.zeros(shape, np.int64),
        )

    def put(self, row: int, at: int, segment: tuple[np.ndarray, np.ndarray]) -> None:
        """Copy (token ids, word starts) into `row` from column `at`."""
        tokens, starts = segment
        self.ids[row, at : at + len(tokens)] = tokens
        self.word_starts[row, at : at + len(tokens)] = starts
        self.content[row, at : at + len(tokens)] = True


def _tokens(shards: ShardSet, shard: int, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    arrays = shards.shard(int(shard))
    return arrays.tokens[start : start + length], arrays.word_starts[start : start + length]


def single_rows(
    shards: ShardSet,
    blocks: dict[str, np.ndarray],
    block_ids: np.ndarray,
    seq_len: int,
    specials: TokenizerSpecials,
) -> Rows:
    """[CLS] block [SEP] [PAD]... for each block id."""
    rows = Rows.empty(len(block_ids), seq_len, specials.pad_id)
    for r, block in enumerate(block_ids):
        n = int(blocks["length"][block])
        rows.put(r, 1, _tokens(shards, blocks["shard"][block], blocks["start"][block], n))
        rows.ids[r, 0], rows.ids[r, n + 1], rows.lengths[r] = specials.cls_id, specials.sep_id, n + 2
    return rows


def packed_rows(
    shards: ShardSet,
    blocks: dict[str, np.ndarray],
    packed: PackedRows,
    row_ids: np.ndarray,
    seq_len: int,
    specials: TokenizerSpecials,
) -> tuple[Rows, np.ndarray, np.ndarray]:
    """The packed rows `row_ids`, each `[CLS] block [SEP] [CLS] block [SEP] ... [PAD]...`.

    Returns the rows, segment_ids [B, L] (block index in the row; the padding tail gets the next
    index, see pretrain/packing.py) and position_ids [B, L] (restarting at 0 on every [CLS]).
    """
    rows = Rows.empty(len(row_ids), seq_len, specials.pad_id)
    segment_ids = np.zeros((len(row_ids), seq_len), dtype=np.int64)
    position_ids = np.zeros((len(row_ids), seq_len), dtype=np.int64)
    for r, row in enumerate(row_ids):
        at = 0
        for k, block in enumerate(packed.blocks_of(int(row))):
            n = int(blocks["length"][block])
            rows.put(r, at + 1, _tokens(shards, blocks["shard"][block], blocks["start"][block], n))
            rows.ids[r, at], rows.ids[r, at + n + 1] = specials.cls_id, specials.sep_id
            segment_ids[r, at : at + n + 2] = k
            position_ids[r, at : at + n + 2] = np.arange(n + 2)
            at += n + 2
        rows.lengths[r] = at
        segment_ids[r, at:] = segment_ids[r, at - 1] + 1
    return rows, segment_ids, position_ids


def pair_rows(
    shards: ShardSet,
    blocks: dict[str, np.ndarray],
    docs: tuple[np.ndarray, ...],
    block_ids: np.ndarray,
    seq_len: int,
    specials: TokenizerSpecials,
    rng: np.random.Generator,
) -> tuple[Rows, np.ndarray]:
    """[CLS] A [SEP] B [SEP] [PAD]..., B the true continuation or (NotNext) from another document."""
    n_rows = len(block_ids)
    rows = Rows.empty(n_rows, seq_len, specials.pad_id)
    not_next = (rng.random(n_rows) < 0.5).astype(np.int64)
    split_u, start_u = rng.random(n_rows), rng.random(n_rows)
    doc_draws = rng.integers(len(docs[0]), size=(n_rows, _MAX_NSP_TRIES))
    for r, block in enumerate(block_ids):
        n = int(blocks["length"][block])
        tokens, starts = _tokens(shards, blocks["shard"][block], blocks["start"][block], n)
        inner = np.flatnonzero(starts[1:]) + 1  # word starts that can open segment B
        k = int(inner[int(split_u[r] * len(inner))])
        if not_next[r]:
            segment_b = _random_segment(
                shards, docs, int(blocks["doc"][block]), doc_draws[r], start_u[r], n - k
            )
        else:
            segment_b = (tokens[k:], starts[k:])
        m = len(segment_b[0])
        rows.put(r, 1, (tokens[:k], starts[:k]))
        rows.put(r, k + 2, segment_b)
        rows.ids[r, 0], rows.ids[r, k + 1], rows.ids[r, k + m + 2] = (
            specials.cls_id,
            specials.sep_id,
            specials.sep_id,
        )
        rows.token_types[r, k + 2 : k + m + 3] = 1
        rows.lengths[r] = k + m + 3
    return rows, not_next


def _random_segment(
    shards: ShardSet,
    docs: tuple[np.ndarray, ...],
    current_doc: int,
    doc_draws: np.ndarray,
    start_u: float,
    length: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `length` tokens from a random other document, starting at a word start."""
    others = doc_draws[doc_draws != current_doc]
    doc = int(others[0]) if len(others) else int(doc_draws[0])  # a one-document corpus reuses itself
    shard, doc_start, doc_len = (int(a[doc]) for a in docs)
    offset = int(start_u * (max(doc_len - length, 0) + 1))
    _, ahead = _tokens(shards, shard, doc_start + offset, min(_WORD_START_LOOKAHEAD, doc_len - offset))
    offset += int(np.argmax(ahead)) if ahead.any() else 0
    return _tokens(shards, shard, doc_start + offset, min(length, doc_len - offset))


def _splittable_blocks(shards: ShardSet, blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Blocks with a word start after their first token, so that they split into A and B."""
    keep = np.zeros(len(blocks["start"]), dtype=bool)
    for k in np.unique(blocks["shard"]):
        in_shard = np.flatnonzero(blocks["shard"] == k)
        word_starts = shards.shard(int(k)).word_starts
        start, length = blocks["start"][in_shard], blocks["length"][in_shard]
        for offset in range(1, _SPLIT_LOOKAHEAD + 1):  # nearly every block has one within a few tokens
            inside = offset < length
            keep[in_shard[inside]] |= word_starts[start[inside] + offset]
        for i in in_shard[~keep[in_shard] & (blocks["length"][in_shard] > _SPLIT_LOOKAHEAD + 1)]:
            begin = blocks["start"][i]
            keep[i] = bool(word_starts[begin + 1 : begin + blocks["length"][i]].any())
    return {key: value[keep] for key, value in blocks.items()}
