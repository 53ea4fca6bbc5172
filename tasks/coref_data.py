"""CoNLL-2012 coreference files: a strict reader, a writer, and the pure span helpers around them.

Format (Pradhan et al. 2012): `#begin document (NAME); part NNN` ... `#end document`, one token
per line, a blank line between sentences, the coreference column last: `-`, `_` or empty
(LitBank) for none, else items `(7` (opens a mention of cluster 7), `7)` (closes the latest open
mention of 7) and `(7)` (one-token mention), usually `|`-joined (the scorer's test files also run
them together: `(1(1`).

Reference behaviour followed (conll/reference-coreference-scorers v8.01, lib/CorScorer.pm,
`GetCoreference`): a cell is read one-token items first, then opens, then closes (see
`parse_coref_cell`); clusters are numbered by first sight of their label in that order; the
coreference cell is the last column, and the number of columns may change from line to line (real
OntoNotes `*_conll` files have one predicate-argument column per predicate of the sentence).
Columns are tab-separated when a line has tabs (see `split_columns` for trailing empty fields),
else whitespace-separated (OntoNotes aligns columns with spaces).

Stricter than the scorer, because each of these is a real error the scorer would read silently or
die on: a token line with fewer columns than the file's first line needs (up to the 12 of a full
CoNLL-2012 line), a coreference cell that is not bracket notation, a bracket still open at
`#end document`, a close of a cluster with no open mention, a document without `#end document`
is a DataError naming the file, the document and the line.

Columns used: 0 document id, 3 word (lines with at least 5 columns), 9 speaker (lines with at
least 12 columns, i.e. full CoNLL-2012), last: coreference. Files of 2 to 4 columns (the
scorer's test cases) have no word column. The genre is the first part of an OntoNotes document
id (`bc/cctv/00/cctv_0000` -> `bc`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spaneval.errors import DataError, excerpt
from spaneval.userfiles import read_text

Span = tuple[int, int]  # inclusive word indices within the document
Cluster = tuple[Span, ...]

ONTONOTES_GENRES = ("bc", "bn", "mz", "nw", "pt", "tc", "wb")
# id, part, word number, word, POS, parse, lemma, frameset, sense, speaker, named entities,
# coreference: a CoNLL-2012 line without predicate-argument columns (each predicate adds one)
FULL_CONLL_COLUMNS = 12
_BEGIN = re.compile(r"^#\s*begin document\s*(.*?)\s*$")
_HEADER = re.compile(r"^\((.*)\);?\s*(?:part\s+(\S+))?$")
_END = re.compile(r"^#\s*end document")
_ITEM = r"(?:\(\d+\)|\(\d+|\d+\)|\(\d+\+\d\))"
_CELL = re.compile(rf"{_ITEM}(?:\|?{_ITEM})*")  # items, `|`-joined or run together: `(1(1`
_DOUBLE_ANTECEDENT = re.compile(r"(\(\d+\+\d\))")  # as the scorer's pattern: one digit after +
_SINGLE = re.compile(r"\((\d+)\)")
_OPEN = re.compile(r"\((\d+)")
_CLOSE = re.compile(r"(\d+)\)")


@dataclass(frozen=True)
class CorefDocument:
    """One document part with its gold clusters (word spans, inclusive)."""

    name: str
    part: str | None  # as written in the header ("0", "000"), None when the header has no part
    words: tuple[str, ...]
    sentence_ends: tuple[int, ...]  # exclusive word index where each sentence ends
    clusters: tuple[Cluster, ...]
    speakers: tuple[str, ...] | None = None
    genre: str | None = None
    rows: tuple[tuple[str, ...], ...] | None = field(default=None, repr=False, compare=False)
    path: str = ""

    @property
    def key(self) -> tuple[str, int | str | None]:
        """(name, part) used to match key and response documents; part 0 == part 000."""
        part = self.part
        return self.name, int(part) if part is not None and part.isdigit() else part

    @property
    def doc_id(self) -> str:
        return self.name if self.part is None else f"{self.name}/part{self.part}"

    def sentence_of(self) -> list[int]:
        """Sentence index of every word."""
        out, start = [], 0
        for i, end in enumerate(self.sentence_ends):
            out.extend([i] * (end - start))
            start = end
        return out


def genre_of(name: str) -> str | None:
    """OntoNotes genre from a document name like 'bc/cctv/00/cctv_0000' (None if not OntoNotes)."""
    head = name.split("/", 1)[0]
    return head if head in ONTONOTES_GENRES and "/" in name else None


def parse_coref_cell(
    cell: str, word: int, open_spans: dict[int, list[int]], where: str
) -> list[tuple[int, Span | None]]:
    """Mentions completed at `word` by one coreference cell, as (cluster label, span).

    Read as the reference scorer's `GetCoreference` does: drop double-antecedent items `(1+2)`,
    then take every one-token item `(7)`, then every open `(7`, then every close `7)`, each kind
    leftmost first, cutting each item out of the cell as it is read. So in `4)|(4` the close
    pairs with the open on the same word (a one-word mention), and the mention opened earlier
    stays open. An open yields (label, None), so callers can order clusters by first sight of
    their label, as the scorer numbers its entities. `open_spans` maps cluster label -> stack of
    start words and is updated in place. `where` names the file, document and line for errors.
    """
    if cell in ("-", "_", ""):
        return []
    if not _CELL.fullmatch(cell):
        raise ValueError(f"{where}: malformed coreference cell {excerpt(cell)}")
    rest = _cut_all(_DOUBLE_ANTECEDENT, cell, [])
    singles: list[str] = []
    opens: list[str] = []
    closes: list[str] = []
    rest = _cut_all(_CLOSE, _cut_all(_OPEN, _cut_all(_SINGLE, rest, singles), opens), closes)
    done: list[tuple[int, Span | None]] = [(int(label), (word, word)) for label in singles]
    for label in map(int, opens):
        open_spans.setdefault(label, []).append(word)
        done.append((label, None))
    for label in map(int, closes):
        stack = open_spans.get(label)
        if not stack:
            raise ValueError(f"{where}: cluster {label} is closed but has no open mention")
        done.append((label, (stack.pop(), word)))
    return done


def _cut_all(pattern: re.Pattern, text: str, found: list[str]) -> str:
    """Cut the leftmost match of `pattern` out of `text` until none is left (Perl's
    `while (s/PATTERN//)`), appending each match's group to `found`."""
    while match := pattern.search(text):
        found.append(match.group(1))
        text = text[: match.start()] + text[match.end() :]
    return text


class _DocBuilder:
    """Accumulates the lines of one document."""

    def __init__(self, header: str, path: str, line_no: int):
        match = _HEADER.match(header)
        self.name, self.part = (match.group(1), match.group(2)) if match else (header, None)
        self.path, self.begin_line = path, line_no
        self.words: list[str] = []
        self.speakers: list[str] = []
        self.rows: list[tuple[str, ...]] = []
        self.sentence_ends: list[int] = []
        self.open_spans: dict[int, list[int]] = {}
        self.open_lines: dict[int, list[int]] = {}
        self.labels: dict[int, list[Span]] = {}

    def where(self, line_no: int) -> str:
        return f"document {excerpt(self.name)} part {self.part}, line {line_no}"

    def add_token(self, columns: list[str], line_no: int) -> None:
        word = len(self.words)
        n = len(columns)
        self.words.append(columns[3] if n >= 5 else "_")
        self.speakers.append(columns[9] if n >= FULL_CONLL_COLUMNS else "_")
        self.rows.append(tuple(columns[:-1]))
        for label, span in parse_coref_cell(columns[-1], word, self.open_spans, self.where(line_no)):
            spans = self.labels.setdefault(label, [])
            if span is not None:
                spans.append(span)

    def end_sentence(self) -> None:
        if self.words and (not self.sentence_ends or self.sentence_ends[-1] != len(self.words)):
            self.sentence_ends.append(len(self.words))

    def finish(self, line_no: int) -> CorefDocument:
        dangling = {label: starts for label, starts in self.open_spans.items() if starts}
        if dangling:
            label, starts = next(iter(dangling.items()))
            raise ValueError(
                f"{self.where(line_no)}: mention of cluster {label} opened at word {starts[-1]} "
                "is never closed before #end document"
            )
        self.end_sentence()
        has_speakers = any(s not in ("_", "-") for s in self.speakers)
        return CorefDocument(
            name=self.name,
            part=self.part,
            words=tuple(self.words),
            sentence_ends=tuple(self.sentence_ends),
            clusters=tuple(tuple(spans) for spans in self.labels.values()),
            speakers=tuple(self.speakers) if has_speakers else None,
            genre=genre_of(self.name),
            rows=tuple(self.rows),
            path=self.path,
        )


def split_columns(line: str) -> list[str]:
    """Tab-separated fields when the line has tabs, else whitespace-separated fields (OntoNotes
    aligns columns with spaces).

    Trailing empty tab fields after a bracket cell are dropped, as Perl's `split(/\t/)` in the
    reference scorer drops them (a stray tab after the cell); after any other field one empty
    field stays as the coreference cell, meaning no mention (LitBank leaves it empty after a `_`
    column, which the scorer reads instead, also as no mention).
    """
    line = line.rstrip("\r\n")
    if "\t" not in line:
        return line.split()
    fields = [field.strip() for field in line.split("\t")]
    filled = len(fields)
    while filled and not fields[filled - 1]:
        filled -= 1
    if filled == len(fields) or (filled and _CELL.fullmatch(fields[filled - 1])):
        return fields[:filled]
    return fields[: filled + 1]


def read_conll(path: str | Path) -> list[CorefDocument]:
    """All documents of a CoNLL-2012 file, strictly validated (see module docstring)."""
    path = Path(path)
    lines = read_text(path).splitlines()
    try:
        return _parse_lines(lines, str(path))
    except ValueError as exc:
        raise DataError(path, None, str(exc)) from None


def _parse_lines(lines: Sequence[str], path: str) -> list[CorefDocument]:
    docs: list[CorefDocument] = []
    current: _DocBuilder | None = None
    required: int | None = None  # fewest columns a token line may have, set by the first one
    for line_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        begin = _BEGIN.match(line)
        if begin:
            if current is not None:
                raise ValueError(f"{current.where(line_no)}: #begin document before #end document")
            current = _DocBuilder(begin.group(1), path, line_no)
        elif _END.match(line):
            if current is None:
                raise ValueError(f"line {line_no}: #end document without #begin document")
            docs.append(current.finish(line_no))
            current = None
        elif not line:
            if current is not None:
                current.end_sentence()
        elif current is None:
            raise ValueError(f"line {line_no}: text outside a #begin document / #end document block")
        elif line.startswith("#"):
            raise ValueError(f"{current.where(line_no)}: unexpected comment line {excerpt(line)}")
        else:
            columns = split_columns(raw)
            required = required or min(max(len(columns), 2), FULL_CONLL_COLUMNS)
            if len(columns) < required:
                raise ValueError(
                    f"{current.where(line_no)}: {len(columns)} columns, expected at least {required} (as "
                    f"the file's first token line; a full CoNLL-2012 line has {FULL_CONLL_COLUMNS} or more)"
                )
            current.add_token(columns, line_no)
    if current is not None:
        raise ValueError(
            f"{current.where(current.begin_line)}: document has no #end document (file ends first)"
        )
    return docs


def coref_column(n_words: int, clusters: Iterable[Iterable[Span]]) -> list[str]:
    """The coreference cell of every word for `clusters` (cluster i gets label i).

    Per word: closes of mentions that started earlier (innermost first), then opens of mentions
    that end later (outermost first), then one-word mentions. The reference scorer's reading
    (`parse_coref_cell`) restores exactly these spans unless two mentions of one cluster meet on
    a word, `(a, w)` and `(w, c)`: no cell can say that to the scorer, which pairs the close at
    `w` with the open at `w`.
    """
    closes: list[list[tuple[int, str]]] = [[] for _ in range(n_words)]
    opens: list[list[tuple[int, str]]] = [[] for _ in range(n_words)]
    singles: list[list[str]] = [[] for _ in range(n_words)]
    for label, cluster in enumerate(clusters):
        for start, end in cluster:
            if start == end:
                singles[start].append(f"({label})")
            else:
                opens[start].append((-end, f"({label}"))
                closes[end].append((-start, f"{label})"))
    cells = []
    for w in range(n_words):
        items = [s for _, s in sorted(closes[w])] + [s for _, s in sorted(opens[w])] + singles[w]
        cells.append("|".join(items) if items else "-")
    return cells


def format_document(doc: CorefDocument, clusters: Sequence[Sequence[Span]]) -> str:
    """One document in CoNLL-2012 format with `clusters` in the coreference column.

    Keeps the document's original columns when it was read from a file, so the output aligns
    token for token with the key and the reference scorer accepts it.
    """
    header = f"#begin document ({doc.name});" + (f" part {doc.part}" if doc.part is not None else "")
    cells = coref_column(len(doc.words), clusters)
    out, start = [header], 0
    for end in doc.sentence_ends:
        for w in range(start, end):
            row = doc.rows[w] if doc.rows else (doc.name, doc.part or "0", str(w - start), doc.words[w])
            out.append("\t".join((*row, cells[w])))
        out.append("")
        start = end
    out.append("#end document")
    return "\n".join(out) + "\n"


def format_conll(docs: Sequence[CorefDocument], clusters: Sequence[Sequence[Sequence[Span]]]) -> str:
    """Several documents, each with its clusters, as one CoNLL-2012 file's text."""
    if len(docs) != len(clusters):
        raise ValueError(f"{len(docs)} documents but {len(clusters)} cluster lists")
    return "".join(format_document(d, c) for d, c in zip(docs, clusters, strict=True))


def segment_bounds(
    sentence_ends: Sequence[int], word_starts: Sequence[int], n_subtokens: int, max_len: int
) -> list[tuple[int, int]]:
    """Split subtokens [0, n_subtokens) into consecutive [start, end) segments of <= max_len.

    Each segment ends at the last sentence end that fits, else at the last word start that fits
    (a sentence longer than a segment), else at max_len (a word longer than a segment): the
    "independent" set-up of Joshi et al. (2019). `sentence_ends` and `word_starts` are sorted
    subtoken offsets.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    bounds, start = [], 0
    while start < n_subtokens:
        limit = start + max_len
        if limit >= n_subtokens:
            end = n_subtokens
        else:
            end = _last_in(sentence_ends, start, limit) or _last_in(word_starts, start, limit) or limit
        bounds.append((start, end))
        start = end
    return bounds


def _last_in(sorted_offsets: Sequence[int], low: int, high: int) -> int | None:
    """The largest offset o with low < o <= high, or None."""
    i = bisect.bisect_right(sorted_offsets, high) - 1
    return sorted_offsets[i] if i >= 0 and sorted_offsets[i] > low else None
