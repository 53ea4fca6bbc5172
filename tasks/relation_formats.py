"""Relation input formats (pure): how the subject and object are shown to the encoder.

Formats (Zhou and Chen 2021, "An Improved Baseline for Sentence-level Relation Extraction", Sec. 3):

    entity_mask                [SUBJ-PERSON] was born in [OBJ-CITY] .       (SpanBERT's setting)
    entity_marker              [E1] Bill [/E1] was born in [E2] Seattle [/E2] .
    entity_marker_punct        @ Bill @ was born in # Seattle # .
    typed_entity_marker        <S:PERSON> Bill </S:PERSON> was born in <O:CITY> Seattle </O:CITY> .
    typed_entity_marker_punct  @ * person * Bill @ was born in # ^ city ^ Seattle # .

Without entity types (SemEval-2010 Task 8), `entity_mask` uses the untyped [SUBJ] and [OBJ] for
e1 and e2, and the typed formats are refused.

The new tokens a format needs come from `new_tokens`, built from the fixed, sorted type inventory,
never from the examples, so token ids never depend on the order examples were read (the original
SpanBERT code assigned [unused] slots in reading order, which broke reproduction).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

FORMATS = (
    "entity_mask",
    "entity_marker",
    "entity_marker_punct",
    "typed_entity_marker",
    "typed_entity_marker_punct",
)
TYPED_FORMATS = ("typed_entity_marker", "typed_entity_marker_punct")

# PTB escapes in TACRED tokens (CoreNLP tokenization) and the characters they stand for
_PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


def ptb_to_text(token: str) -> str:
    """'-LRB-' -> '('; other tokens unchanged."""
    return _PTB.get(token.upper(), token)


def mask_token(role: str, entity_type: str | None) -> str:
    """'[SUBJ-PERSON]', '[OBJ-CITY]', or '[SUBJ]' / '[OBJ]' without a type. role: 'SUBJ' or 'OBJ'."""
    return f"[{role}-{entity_type}]" if entity_type else f"[{role}]"


def typed_markers(role: str, entity_type: str) -> tuple[str, str]:
    """('<S:PERSON>', '</S:PERSON>') for role 'S' or 'O'."""
    return f"<{role}:{entity_type}>", f"</{role}:{entity_type}>"


def new_tokens(fmt: str, subj_types: Sequence[str], obj_types: Sequence[str]) -> tuple[str, ...]:
    """The sorted tokens a format adds to the vocabulary, from the complete type inventories.

    Empty type inventories mean untyped data (then entity_mask uses [SUBJ] / [OBJ]).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt in TYPED_FORMATS and not (subj_types and obj_types):
        raise ValueError(f"input format {fmt!r} needs entity types, and this data set has none")
    if fmt == "entity_mask":
        subj = [mask_token("SUBJ", t) for t in subj_types] or [mask_token("SUBJ", None)]
        obj = [mask_token("OBJ", t) for t in obj_types] or [mask_token("OBJ", None)]
        return tuple(sorted(set(subj) | set(obj)))
    if fmt == "entity_marker":
        return ("[/E1]", "[/E2]", "[E1]", "[E2]")
    if fmt == "typed_entity_marker":
        tokens = {m for t in subj_types for m in typed_markers("S", t)}
        tokens |= {m for t in obj_types for m in typed_markers("O", t)}
        return tuple(sorted(tokens))
    return ()  # the punct formats use @ # * ^, already in the vocabulary


def _type_words(entity_type: str) -> list[str]:
    """'STATE_OR_PROVINCE' -> ['state', 'or', 'province'] (Zhou and Chen write types as words)."""
    return entity_type.lower().replace("_", " ").split()


def _wrap(fmt: str, role: str, entity_type: str | None, words: list[str]) -> list[str]:
    """The entity's words as the format shows them; the first returned word is its 'start'."""
    subj = role == "SUBJ"
    if fmt == "entity_mask":
        return [mask_token(role, entity_type)]
    if fmt == "entity_marker":
        tag = "E1" if subj else "E2"
        return [f"[{tag}]", *words, f"[/{tag}]"]
    if fmt == "entity_marker_punct":
        mark = "@" if subj else "#"
        return [mark, *words, mark]
    if entity_type is None:
        raise ValueError(f"input format {fmt!r} needs entity types, and this example has none")
    if fmt == "typed_entity_marker":
        open_tag, close_tag = typed_markers("S" if subj else "O", entity_type)
        return [open_tag, *words, close_tag]
    mark, type_mark = ("@", "*") if subj else ("#", "^")
    return [mark, type_mark, *_type_words(entity_type), type_mark, *words, mark]


def format_example(
    tokens: Sequence[str],
    subj: tuple[int, int],
    obj: tuple[int, int],
    subj_type: str | None,
    obj_type: str | None,
    fmt: str,
) -> tuple[list[str], tuple[int, int], tuple[int, int]]:
    """Words to encode, and the (first, last) word index of the subject and object as shown.

    subj, obj: inclusive token spans, not overlapping. The first word of each returned range is
    the entity's start token (the mask token or the opening marker), which the `entity_start`
    classifier reads.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; known: {', '.join(FORMATS)}")
    spans = sorted([(subj, "SUBJ", subj_type), (obj, "OBJ", obj_type)])
    words: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    cursor = 0
    for (start, end), role, entity_type in spans:
        words.extend(ptb_to_text(t) for t in tokens[cursor:start])
        shown = _wrap(fmt, role, entity_type, [ptb_to_text(t) for t in tokens[start : end + 1]])
        ranges[role] = (len(words), len(words) + len(shown) - 1)
        words.extend(shown)
        cursor = end + 1
    words.extend(ptb_to_text(t) for t in tokens[cursor:])
    return words, ranges["SUBJ"], ranges["OBJ"]


def choose_window(n_pieces: int, keep_lo: int, keep_hi: int, budget: int) -> tuple[int, int]:
    """[start, end) of at most `budget` word pieces, containing [keep_lo, keep_hi) when it fits.

    The window is centred on the kept range as far as the sequence allows; when the kept range
    itself is longer than the budget, the window starts at keep_lo. (SpanBERT's run_tacred.py cuts
    the end instead, which can drop an entity; at 128 pieces few TACRED sentences are affected.)
    """
    if budget <= 0:
        raise ValueError("budget must be positive")
    if n_pieces <= budget:
        return 0, n_pieces
    if keep_hi - keep_lo >= budget:
        return keep_lo, keep_lo + budget
    start = max(0, keep_lo - (budget - (keep_hi - keep_lo)) // 2)
    start = min(start, n_pieces - budget)
    return start, start + budget


# --- encoding: format, tokenize (any fast tokenizer), crop ----------------------------------


def encode_examples(
    examples: Sequence[Any], tokenizer: Any, fmt: str, max_len: int, labels: tuple[str, ...]
) -> list[dict]:
    """Format, tokenize and crop every example; one feature per example, in order."""
    if max_len < 4:
        raise ValueError(f"max_seq_len={max_len} is too small (at least 4)")
    shown = []
    for ex in examples:
        try:
            shown.append(
                format_example(
                    ex.tokens,
                    (ex.subj_start, ex.subj_end),
                    (ex.obj_start, ex.obj_end),
                    ex.subj_type,
                    ex.obj_type,
                    fmt,
                )
            )
        except ValueError as err:
            raise ValueError(f"example {ex.id}: {err}") from None
    enc = tokenizer([words for words, _, _ in shown], is_split_into_words=True, add_special_tokens=False)
    label_ids = {label: i for i, label in enumerate(labels)}
    return [
        _one_feature(enc["input_ids"][i], enc.word_ids(i), subj, obj, max_len, tokenizer)
        | {"label": label_ids[ex.label], "example_index": i}
        for i, (ex, (_, subj, obj)) in enumerate(zip(examples, shown, strict=True))
    ]


def _one_feature(piece_ids, word_ids, subj, obj, max_len, tokenizer) -> dict:
    def first_piece(word: int) -> int:
        return bisect.bisect_left(word_ids, word)

    def end_piece(word: int) -> int:
        return bisect.bisect_right(word_ids, word)

    lo = first_piece(min(subj[0], obj[0]))
    hi = end_piece(max(subj[1], obj[1]))
    start, end = choose_window(len(piece_ids), lo, hi, max_len - 2)
    ids = [tokenizer.cls_token_id, *piece_ids[start:end], tokenizer.sep_token_id]

    def position(word: int) -> int:  # 0 ([CLS]) when the entity start fell outside the window
        piece = first_piece(word)
        return piece - start + 1 if start <= piece < end else 0

    subj_index, obj_index = position(subj[0]), position(obj[0])
    return {
        "input_ids": ids,
        "subj_index": subj_index,
        "obj_index": obj_index,
        "entity_cropped": subj_index == 0 or obj_index == 0,
    }
