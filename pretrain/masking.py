"""Masking for MLM pretraining: SpanBERT span masking, BERT subword masking and whole-word masking.

All three schemes share one vectorised procedure (no per-token Python loops):

1. Words: a word is a maximal run of wordpieces that starts at a word-start token (a token that is
   not a '##' continuation) and stays inside the maskable region (no [CLS]/[SEP]/[PAD]).
   For `subword` every maskable token counts as its own word.
2. Spans: each row's words are tiled, left to right, by spans whose lengths (in words) are drawn
   i.i.d.: clipped geometric for `span` (SpanBERT paper, Sec. 3.1: p = 0.2, clipped at 10, mean 3.8
   words), exactly one word for `whole_word` and `subword`. Spans never cross a special token.
3. Budget: spans are visited in a uniformly random order and kept while the masked token count
   stays within `mask_ratio` x (maskable tokens); the one span that would cross the budget is kept
   with probability (budget - masked so far) / (its tokens). The expected masked fraction is exactly
   `mask_ratio`, every kept span is a whole number of complete words starting at a word start, and
   no kept span is cut short to fit the budget (which would pull the mean span length down).
   Two small effects remain, both shared with any "sample until the budget" scheme: the last span
   of a row is cut by the row's end, and stopping at the budget keeps slightly more spans than
   budget / mean length. On the shipped sample at 512 tokens the kept spans average 3.745 words
   (all tiled spans 3.780) against 3.797 for the clipped geometric law (10 seeds, ~165k spans).
4. Replacement: 80% [MASK], 10% random token, 10% unchanged, decided once per sampled span
   (`replacement="span"`, the paper) or once per token (`replacement="token"`, the released
   code's default). Random tokens are drawn uniformly from the vocabulary minus `special_ids`.
5. SBO targets: as in the released code, overlapping or adjacent spans are merged into one masked
   run before boundaries are taken, so the boundary tokens x_{s-1} and x_{e+1} are never masked;
   only the first `max_sbo_targets` tokens of a run are SBO targets.

Differences from the released SpanBERT code (fairseq `PairWithSpanMaskingScheme`), all deliberate:
it picks an anchor token (not word) uniformly, so words with more pieces start spans more often;
it lets a new span run into an earlier one; it stops mid-span, even mid-word, when the budget is
hit; and with `replacement=span` it decides 80/10/10 once per merged run, where we decide once per
sampled span. We follow the paper's text (uniform start word, complete words, mean length 3.8).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from spaneval.errors import ConfigError

SCHEMES = ("span", "subword", "whole_word")
REPLACEMENTS = ("span", "token")
IGNORE_INDEX = -100


@dataclass(frozen=True)
class MaskingConfig:
    """How tokens are chosen for MLM. Defaults: SpanBERT (paper, Sec. 3.1 and Appendix A)."""

    scheme: str = "span"  # span (SpanBERT), subword (BERT random wordpieces) or whole_word
    mask_ratio: float = 0.15  # expected fraction of maskable tokens that become MLM targets
    geometric_p: float = 0.2  # p of the geometric span length distribution (scheme=span)
    max_span_words: int = 10  # span lengths are clipped at this many words (scheme=span)
    replacement: str = "span"  # 80/10/10 decided once per span (paper) or per token (released code)
    mask_prob: float = 0.8  # share of targets replaced by [MASK]
    random_prob: float = 0.1  # share of targets replaced by a random token; the rest stay unchanged
    max_sbo_targets: int = 15  # SBO targets per masked run (longer runs: the first ones)

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(f"masking scheme {self.scheme!r}: expected one of {', '.join(SCHEMES)}")
        if self.replacement not in REPLACEMENTS:
            raise ConfigError(f"replacement {self.replacement!r}: expected one of {', '.join(REPLACEMENTS)}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ConfigError(f"mask_ratio={self.mask_ratio}: expected a value in (0, 1)")
        if not 0.0 < self.geometric_p <= 1.0:
            raise ConfigError(f"geometric_p={self.geometric_p}: expected a value in (0, 1]")
        if self.max_span_words < 1 or self.max_sbo_targets < 1:
            raise ConfigError("max_span_words and max_sbo_targets must be at least 1")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1:
            raise ConfigError(
                f"mask_prob={self.mask_prob}, random_prob={self.random_prob}: expected non-negative "
                "values summing to at most 1"
            )


@dataclass(frozen=True)
class SpanTable:
    """The spans sampled for one batch (flat token positions index ids.ravel()).

    One entry per candidate span; `selected` marks the spans that were masked.
    """

    row: np.ndarray  # [S] batch row of the span
    token_start: np.ndarray  # [S] flat position of the first token
    token_end: np.ndarray  # [S] flat position one past the last token
    n_words: np.ndarray  # [S] length in words
    selected: np.ndarray  # [S] bool, masked or not

    @property
    def n_tokens(self) -> np.ndarray:
        return self.token_end - self.token_start


def span_length_distribution(cfg: MaskingConfig) -> np.ndarray:
    """P(length = 1..max_span_words words) for scheme=span: the geometric law, clipped and renormalised."""
    lengths = np.arange(1, cfg.max_span_words + 1)
    probs = cfg.geometric_p * (1.0 - cfg.geometric_p) ** (lengths - 1)
    return probs / probs.sum()


def draw_span_lengths(rng: np.random.Generator, shape: tuple[int, ...], cfg: MaskingConfig) -> np.ndarray:
    """Span lengths in words from `span_length_distribution(cfg)`, by inverting its CDF in closed form.

    With q = 1 - p and u uniform on [0, 1 - q^max): length = floor(log(1 - u) / log q) + 1, so
    P(length = k) = (q^(k-1) - q^k) / (1 - q^max) = p q^(k-1) / (1 - q^max), k = 1..max.
    """
    if cfg.geometric_p >= 1.0:
        return np.ones(shape, dtype=np.int64)
    q = 1.0 - cfg.geometric_p
    u = rng.random(shape) * (1.0 - q**cfg.max_span_words)
    lengths = np.floor(np.log1p(-u) / np.log(q)).astype(np.int64) + 1
    return np.minimum(lengths, cfg.max_span_words)


def mask_batch(
    ids: np.ndarray,
    word_starts: np.ndarray,
    lengths: np.ndarray,
    special_mask: np.ndarray,
    rng: np.random.Generator,
    cfg: MaskingConfig,
    vocab_size: int,
    mask_id: int,
    special_ids: tuple[int, ...] | list[int] | np.ndarray,
) -> dict[str, np.ndarray]:
    """Mask a padded batch; returns input_ids, mlm_labels, sbo_left, sbo_right, sbo_pos (all [B, L] int64).

    ids, word_starts, special_mask: [B, L]; lengths: [B] tokens per row including special tokens.
    Positions at or after a row's length, and positions where special_mask is True, are never masked.
    """
    batch, _ = mask_batch_with_spans(
        ids, word_starts, lengths, special_mask, rng, cfg, vocab_size, mask_id, special_ids
    )
    return batch


def mask_batch_with_spans(
    ids: np.ndarray,
    word_starts: np.ndarray,
    lengths: np.ndarray,
    special_mask: np.ndarray,
    rng: np.random.Generator,
    cfg: MaskingConfig,
    vocab_size: int,
    mask_id: int,
    special_ids: tuple[int, ...] | list[int] | np.ndarray,
) -> tuple[dict[str, np.ndarray], SpanTable]:
    """`mask_batch`, also returning the sampled spans (for statistics and tests)."""
    ids = np.asarray(ids)
    maskable = ~np.asarray(special_mask, dtype=bool) & (
        np.arange(ids.shape[1]) < np.asarray(lengths)[:, None]
    )
    spans = sample_spans(np.asarray(word_starts, dtype=bool), maskable, rng, cfg)
    replacement_ids = _replacement_ids(int(vocab_size), tuple(int(i) for i in np.ravel(special_ids)))
    batch = apply_spans(ids, spans, rng, cfg, mask_id, replacement_ids)
    return batch, spans


def sample_spans(
    word_starts: np.ndarray, maskable: np.ndarray, rng: np.random.Generator, cfg: MaskingConfig
) -> SpanTable:
    """Tile each row's words with spans and select spans until the masking budget is spent."""
    starts, ends, forced = _words(word_starts, maskable, subword=cfg.scheme == "subword")
    n_rows, row_len = maskable.shape
    if len(starts) == 0:
        none = np.zeros(0, dtype=np.int64)
        return SpanTable(none, none, none, none, np.zeros(0, dtype=bool))
    word_row = starts // row_len
    budget = cfg.mask_ratio * np.count_nonzero(maskable, axis=1)
    if cfg.scheme == "subword":  # one token per span
        selected = _select_tokens(word_row, budget, n_rows, rng)
        return SpanTable(word_row, starts, ends, np.ones(len(starts), dtype=np.int64), selected)
    if cfg.scheme != "span":  # one word per span
        selected = _select_within_budget(word_row, ends - starts, budget, n_rows, rng)
        return SpanTable(word_row, starts, ends, np.ones(len(starts), dtype=np.int64), selected)
    first = _tile_words(np.bincount(word_row, minlength=n_rows), rng, cfg) | forced
    first_word = np.flatnonzero(first)
    last_word = np.append(first_word[1:], len(starts)) - 1
    row = word_row[first_word]
    token_start, token_end = starts[first_word], ends[last_word]
    selected = _select_within_budget(row, token_end - token_start, budget, n_rows, rng)
    n_words = last_word - first_word + 1
    return SpanTable(row, token_start, token_end, n_words, selected)


def _words(
    word_starts: np.ndarray, maskable: np.ndarray, subword: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat start and end (exclusive) positions of every word, and whether a special token precedes it."""
    prev_maskable = np.zeros_like(maskable)
    prev_maskable[:, 1:] = maskable[:, :-1]
    after_break = maskable & ~prev_maskable  # first token after [CLS]/[SEP] or at column 0
    is_start = maskable if subword else (maskable & word_starts) | after_break
    starts = np.flatnonzero(is_start)
    if len(starts) == 0:
        return starts, starts, np.zeros(0, dtype=bool)
    after_special = after_break.ravel()[starts]
    # A word ends where the next one starts, or, for the last word of a maskable run, at the run's end.
    next_maskable = np.zeros_like(maskable)
    next_maskable[:, :-1] = maskable[:, 1:]
    ends = np.append(starts[1:], 0)
    ends[np.append(after_special[1:], True)] = np.flatnonzero(maskable & ~next_maskable) + 1
    return starts, ends, after_special


def _tile_words(words_per_row: np.ndarray, rng: np.random.Generator, cfg: MaskingConfig) -> np.ndarray:
    """Flag, over all words of the batch (row-major), the words that start a span of the tiling."""
    mean_len = float(np.arange(1, cfg.max_span_words + 1) @ span_length_distribution(cfg))
    n_rows, max_words = len(words_per_row), int(words_per_row.max(initial=0))
    columns = int(np.ceil(1.25 * max_words / mean_len)) + 8
    span_lens = np.empty((n_rows, 0), dtype=np.int64)
    while span_lens.shape[1] == 0 or (span_lens.sum(axis=1) < words_per_row).any():
        span_lens = np.concatenate([span_lens, draw_span_lengths(rng, (n_rows, columns), cfg)], axis=1)
    span_first = np.cumsum(span_lens, axis=1) - span_lens  # word index (within row) where each span starts
    inside = span_first < words_per_row[:, None]
    row_offset = np.cumsum(words_per_row) - words_per_row
    flags = np.zeros(int(words_per_row.sum()), dtype=bool)
    flags[(row_offset[:, None] + span_first)[inside]] = True
    return flags


def _select_within_budget(
    row: np.ndarray, n_tokens: np.ndarray, budget: np.ndarray, n_rows: int, rng: np.random.Generator
) -> np.ndarray:
    """Visit each row's spans in random order, keep them while within budget; the crossing one by chance."""
    per_row = np.bincount(row, minlength=n_rows)
    width = int(per_row.max(initial=0))
    # Row-major slot of each span in an [n_rows, width] table (flat 1-D indexing: the fast kind).
    slot = np.arange(len(row)) + (row * width - (np.cumsum(per_row) - per_row)[row])
    keys = np.full(n_rows * width, 2.0, dtype=np.float32)  # padding sorts last
    keys[slot] = rng.random(len(row), dtype=np.float32)
    order = np.argsort(keys.reshape(n_rows, width), axis=1)
    sizes = np.zeros(n_rows * width, dtype=np.int64)
    sizes[slot] = n_tokens
    sizes = np.take_along_axis(sizes.reshape(n_rows, width), order, axis=1)
    after = np.cumsum(sizes, axis=1)
    before = after - sizes
    room = budget[:, None] - before
    keep = (after <= budget[:, None]) | ((room > 0) & (rng.random((n_rows, width)) * sizes < room))
    kept = np.zeros((n_rows, width), dtype=bool)
    np.put_along_axis(kept, order, keep, axis=1)
    return kept.ravel()[slot]


def _select_tokens(row: np.ndarray, budget: np.ndarray, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """`_select_within_budget` for one-token spans, same distribution, a third of the work.

    With every span one token long, the budget walk keeps floor(budget) tokens and the crossing one
    with probability frac(budget): a uniformly random subset of that size per row, found here with
    one sort of random keys instead of an argsort, two cumsums and two scatters.
    """
    per_row = np.bincount(row, minlength=n_rows)
    width = int(per_row.max(initial=0))
    slot = np.arange(len(row)) + (row * width - (np.cumsum(per_row) - per_row)[row])
    keys = np.full(n_rows * width, 2.0)  # float64 keys: a tie at the cut is checked below
    keys[slot] = rng.random(len(row))
    keys = keys.reshape(n_rows, width)
    whole = np.floor(budget)
    take = np.minimum(whole + (rng.random(n_rows) < budget - whole), per_row).astype(np.int64)
    cut = np.sort(keys, axis=1)[np.arange(n_rows), np.maximum(take - 1, 0)]
    chosen = (keys <= cut[:, None]) & (take > 0)[:, None]
    if not np.array_equal(np.count_nonzero(chosen, axis=1), take):  # equal keys at the cut: walk instead
        return _select_within_budget(row, np.ones(len(row), dtype=np.int64), budget, n_rows, rng)
    return chosen.ravel()[slot]


def apply_spans(
    ids: np.ndarray,
    spans: SpanTable,
    rng: np.random.Generator,
    cfg: MaskingConfig,
    mask_id: int,
    replacement_ids: np.ndarray,
) -> dict[str, np.ndarray]:
    """Build the masked inputs, MLM labels and SBO targets for the selected spans."""
    n_rows, row_len = ids.shape
    start = spans.token_start[spans.selected]
    size = spans.n_tokens[spans.selected]
    pos = np.repeat(start - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))  # flat, sorted
    if cfg.replacement == "span":
        action = np.repeat(_replacement_actions(rng, len(start), cfg), size)
    else:
        action = _replacement_actions(rng, len(pos), cfg)
    flat_ids = ids.reshape(-1).astype(np.int64)
    input_ids = flat_ids.copy()
    input_ids[pos[action == 0]] = mask_id
    n_random = int((action == 1).sum())
    input_ids[pos[action == 1]] = replacement_ids[rng.integers(len(replacement_ids), size=n_random)]
    labels = np.full(flat_ids.shape, IGNORE_INDEX, dtype=np.int64)
    labels[pos] = flat_ids[pos]
    out = {"input_ids": input_ids, "mlm_labels": labels, **_sbo_targets(pos, row_len, n_rows, cfg)}
    return {key: value.reshape(n_rows, row_len) for key, value in out.items()}


def _replacement_actions(rng: np.random.Generator, n: int, cfg: MaskingConfig) -> np.ndarray:
    """0 = [MASK], 1 = random token, 2 = unchanged (80/10/10 by default)."""
    u = rng.random(n, dtype=np.float32)
    return (u >= cfg.mask_prob).astype(np.int8) + (u >= cfg.mask_prob + cfg.random_prob)


def _sbo_targets(pos: np.ndarray, row_len: int, n_rows: int, cfg: MaskingConfig) -> dict[str, np.ndarray]:
    """Boundary positions and relative positions of masked tokens, per merged masked run."""
    masked = np.zeros(n_rows * row_len + 1, dtype=bool)  # +1: pos + 1 stays in range
    masked[pos] = True
    col = pos % row_len
    run_start = (col == 0) | ~masked[pos - 1]
    run_end = (col == row_len - 1) | ~masked[pos + 1]
    run_id = np.cumsum(run_start) - 1
    left = col[run_start][run_id] - 1
    right = col[run_end][run_id] + 1
    offset = pos - pos[run_start][run_id]
    is_target = (offset < cfg.max_sbo_targets) & (left >= 0) & (right < row_len)
    sbo_left = np.zeros(n_rows * row_len, dtype=np.int64)
    sbo_right = np.zeros(n_rows * row_len, dtype=np.int64)
    sbo_pos = np.full(n_rows * row_len, IGNORE_INDEX, dtype=np.int64)
    sbo_left[pos], sbo_right[pos] = left, right
    sbo_pos[pos] = np.where(is_target, offset, IGNORE_INDEX)
    return {"sbo_left": sbo_left, "sbo_right": sbo_right, "sbo_pos": sbo_pos}


@functools.lru_cache(maxsize=8)
def _replacement_ids(vocab_size: int, special_ids: tuple[int, ...]) -> np.ndarray:
    """Vocabulary ids a random replacement may use: every id except the special ones."""
    return np.setdiff1d(np.arange(vocab_size, dtype=np.int64), np.asarray(special_ids, dtype=np.int64))
