"""Relation extraction data: TACRED JSON (+ TACRev / Re-TACRED patches) and SemEval-2010 Task 8.

Every reader validates what it reads and raises DataError(path, record id, what was expected).
Entity spans are token indices, inclusive at both ends (TACRED's convention).

Label and entity-type inventories are fixed here, never derived from the data, so that label ids
and entity-mask tokens never depend on the order in which examples were read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spaneval.errors import DataError, excerpt
from spaneval.metrics import relation as rel_metrics
from spaneval.userfiles import read_json, read_text

# TACRED relations (Zhang et al. 2017, Table 1 / the release's label set): 41 relations + no_relation.
# fmt: off
TACRED_LABELS = (
    "no_relation", "org:alternate_names", "org:city_of_headquarters",
    "org:country_of_headquarters", "org:dissolved", "org:founded",
    "org:founded_by", "org:member_of", "org:members",
    "org:number_of_employees/members", "org:parents", "org:political/religious_affiliation",
    "org:shareholders", "org:stateorprovince_of_headquarters", "org:subsidiaries",
    "org:top_members/employees", "org:website", "per:age",
    "per:alternate_names", "per:cause_of_death", "per:charges",
    "per:children", "per:cities_of_residence", "per:city_of_birth",
    "per:city_of_death", "per:countries_of_residence", "per:country_of_birth",
    "per:country_of_death", "per:date_of_birth", "per:date_of_death",
    "per:employee_of", "per:origin", "per:other_family",
    "per:parents", "per:religion", "per:schools_attended",
    "per:siblings", "per:spouse", "per:stateorprovince_of_birth",
    "per:stateorprovince_of_death", "per:stateorprovinces_of_residence", "per:title",
)
# fmt: on

# Re-TACRED (Stoica et al. 2021): 39 relations + no_relation. It renames the *_of_headquarters
# relations to *_of_branch, adds per:identity (absorbing per:alternate_names) and drops
# org:parents / org:subsidiaries (as listed in the Re-TACRED release's constant.py).
RETACRED_LABELS = (
    "no_relation",
    *sorted(
        {r.replace("_of_headquarters", "_of_branch") for r in TACRED_LABELS[1:]}
        - {"org:parents", "org:subsidiaries", "per:alternate_names"}
        | {"per:identity"}
    ),
)
LABEL_SETS = {"tacred": TACRED_LABELS, "retacred": RETACRED_LABELS}

# TACRED's entity types, fixed by its construction (Stanford CoreNLP NER plus the TAC KBP slot
# filler types; the TACRED release's constant.py lists the same sets): subjects are people or
# organizations, objects one of 17 types.
TACRED_SUBJ_TYPES = ("ORGANIZATION", "PERSON")
# fmt: off
TACRED_OBJ_TYPES = (
    "CAUSE_OF_DEATH", "CITY", "COUNTRY", "CRIMINAL_CHARGE", "DATE",
    "DURATION", "IDEOLOGY", "LOCATION", "MISC", "NATIONALITY",
    "NUMBER", "ORGANIZATION", "PERSON", "RELIGION", "STATE_OR_PROVINCE",
    "TITLE", "URL",
)

SEMEVAL_RELATIONS = (
    "Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination",
    "Entity-Origin", "Instrument-Agency", "Member-Collection", "Message-Topic",
    "Product-Producer",
)
# fmt: on
SEMEVAL_LABELS = ("Other", *(f"{r}({d})" for r in SEMEVAL_RELATIONS for d in ("e1,e2", "e2,e1")))

_TACRED_FIELDS = {
    "id": str,
    "token": list,
    "subj_start": int,
    "subj_end": int,
    "obj_start": int,
    "obj_end": int,
    "subj_type": str,
    "obj_type": str,
    "relation": str,
}


@dataclass(frozen=True)
class RelationExample:
    """One relation instance. Spans are inclusive token indices; types are None when unknown."""

    id: str
    tokens: tuple[str, ...]
    subj_start: int
    subj_end: int
    obj_start: int
    obj_end: int
    subj_type: str | None
    obj_type: str | None
    label: str

    @property
    def entity_distance_tokens(self) -> int:
        """Tokens strictly between the two entities (0 when adjacent)."""
        first_end = min(self.subj_end, self.obj_end)
        second_start = max(self.subj_start, self.obj_start)
        return max(0, second_start - first_end - 1)


# --- TACRED -----------------------------------------------------------------------------------


def _check_field_types(rec: dict, path: Path, rid: object) -> None:
    for name, tp in _TACRED_FIELDS.items():
        if name not in rec:
            raise DataError(path, rid, f"missing field {name!r}")
        if not isinstance(rec[name], tp) or (tp is int and isinstance(rec[name], bool)):
            raise DataError(path, rid, f"field {name!r} should be {tp.__name__}, got {excerpt(rec[name])}")
    if not rec["token"] or not all(isinstance(t, str) for t in rec["token"]):
        raise DataError(path, rid, "field 'token' should be a non-empty list of strings")


def validate_spans(n_tokens: int, subj: tuple[int, int], obj: tuple[int, int], path, rid) -> None:
    """Spans (inclusive) inside the sentence and not overlapping, else DataError."""
    for name, (start, end) in (("subject", subj), ("object", obj)):
        if not 0 <= start <= end < n_tokens:
            raise DataError(
                path, rid, f"{name} span [{start}, {end}] is outside the sentence of {n_tokens} tokens"
            )
    if subj[0] <= obj[1] and obj[0] <= subj[1]:
        raise DataError(path, rid, f"subject span {list(subj)} and object span {list(obj)} overlap")


def _check_inventory(value: str, known: tuple[str, ...], what: str, path, rid, hint: str = "") -> None:
    if value not in known:
        problem = f"unknown {what} {excerpt(value)}; expected one of {', '.join(known)}.{hint}"
        raise DataError(path, rid, problem)


def tacred_example(rec: object, path: Path, labels: tuple[str, ...]) -> RelationExample:
    """Validate one TACRED JSON record and turn it into a RelationExample."""
    if not isinstance(rec, dict):
        raise DataError(path, None, f"expected a JSON object per record, got {type(rec).__name__}")
    rid = rec.get("id")
    _check_field_types(rec, path, rid)
    subj, obj = (rec["subj_start"], rec["subj_end"]), (rec["obj_start"], rec["obj_end"])
    validate_spans(len(rec["token"]), subj, obj, path, rid)
    _check_inventory(rec["subj_type"], TACRED_SUBJ_TYPES, "subject type", path, rid)
    _check_inventory(rec["obj_type"], TACRED_OBJ_TYPES, "object type", path, rid)
    hint = " (Re-TACRED labels need labels=retacred)" if rec["relation"] in RETACRED_LABELS else ""
    _check_inventory(rec["relation"], labels, "relation", path, rid, hint)
    return RelationExample(
        rec["id"], tuple(rec["token"]), *subj, *obj, rec["subj_type"], rec["obj_type"], rec["relation"]
    )


def load_patch(path: str | Path) -> dict[str, dict]:
    """Read a label patch; returns {"kind": "tacrev"|"retacred", "path", "updates": {id: {field: value}}}.

    TACRev (Alt et al. 2020) ships a JSON list of {"id": ..., "relation": ..., ...}: listed records
    are updated, the others kept. Re-TACRED (Stoica et al. 2021) ships {id: relation}: records
    missing from it were removed from the data set.
    """
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict):
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise DataError(path, bad[0], "Re-TACRED patch values should be relation labels (strings)")
        return {
            "kind": "retacred",
            "path": str(path),
            "updates": {k: {"relation": v} for k, v in data.items()},
        }
    if isinstance(data, list):
        updates = {}
        for i, item in enumerate(data):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise DataError(path, f"#{i}", 'TACRev patch entries should be objects with a string "id"')
            updates[item["id"]] = {k: v for k, v in item.items() if k != "id"}
        return {"kind": "tacrev", "path": str(path), "updates": updates}
    raise DataError(path, None, "expected a TACRev patch (JSON list) or a Re-TACRED patch (JSON object)")


def apply_patch(records: list[dict], patch: dict, data_path: Path, strict: bool) -> list[dict]:
    """Patched copies of raw TACRED records, matched by id.

    strict: every patch id must occur in the records (TACRev's own apply script asserts this).
    A Re-TACRED patch also drops the records it does not list.
    """
    updates = patch["updates"]
    ids = {r.get("id") for r in records if isinstance(r, dict)}
    missing = [i for i in updates if i not in ids]
    if strict and missing:
        raise DataError(patch["path"], missing[0], f"patch id not found in {data_path}")
    if patch["kind"] == "retacred" and not ids & updates.keys():
        raise DataError(patch["path"], None, f"no id of {data_path} is in this Re-TACRED patch")
    out = []
    for rec in records:
        rid = rec.get("id") if isinstance(rec, dict) else None
        if rid in updates:
            out.append({**rec, **updates[rid]})
        elif patch["kind"] == "tacrev" or not isinstance(rec, dict):
            out.append(rec)
    return out


def read_tacred(
    path: str | Path, labels: tuple[str, ...] = TACRED_LABELS, patch: dict | None = None, strict_patch=True
) -> list[RelationExample]:
    """Read and validate a TACRED-format JSON file (a list of records), applying `patch` first."""
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(path, None, "expected a JSON list of TACRED records")
    if patch is not None:
        records = apply_patch(records, patch, path, strict_patch)
    examples, seen = [], set()
    for rec in records:
        ex = tacred_example(rec, path, labels)
        if ex.id in seen:
            raise DataError(path, ex.id, "duplicate id")
        seen.add(ex.id)
        examples.append(ex)
    return examples


# --- SemEval-2010 Task 8 ----------------------------------------------------------------------

_WORD = re.compile(r"\w+|[^\w\s]")
_MARKUP = re.compile(r"</?e[12]>")


def simple_tokens(text: str) -> list[str]:
    """Words and single punctuation marks (BERT's basic tokenizer splits punctuation the same way)."""
    return _WORD.findall(text)


def parse_semeval_markup(text: str, path, sent_id) -> tuple[list[str], tuple[int, int], tuple[int, int]]:
    """Tokens and the inclusive spans of <e1> and <e2>, or DataError on malformed markup."""
    tags = _MARKUP.findall(text)
    if sorted(tags) != ["</e1>", "</e2>", "<e1>", "<e2>"]:
        raise DataError(path, sent_id, f"expected one <e1>...</e1> and one <e2>...</e2>, found {tags}")
    if tags not in (["<e1>", "</e1>", "<e2>", "</e2>"], ["<e2>", "</e2>", "<e1>", "</e1>"]):
        raise DataError(path, sent_id, f"entity markup is nested or unbalanced: {tags}")
    tokens: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    # split on the tags so that entity boundaries are always token boundaries
    pieces = _MARKUP.split(text)
    for i, piece in enumerate(pieces):
        words = simple_tokens(piece)
        if i in (1, 3):  # the text inside the first and second pair of tags
            if not words:
                raise DataError(path, sent_id, "an entity is empty")
            spans[tags[i - 1][1:3]] = (len(tokens), len(tokens) + len(words) - 1)
        tokens.extend(words)
    return tokens, spans["e1"], spans["e2"]


def _semeval_blocks(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, non-empty lines) per blank-line separated block."""
    lines = read_text(path).splitlines()
    blocks, current, start = [], [], 0
    for n, line in enumerate([*lines, ""], start=1):
        if line.strip():
            start = start if current else n
            current.append(line.strip())
        elif current:
            blocks.append((start, current))
            current = []
    return blocks


def semeval_example(lineno: int, lines: list[str], path: Path) -> RelationExample:
    """One release-format block: 'ID<TAB>"sentence"', the label, an optional 'Comment:' line."""
    sent_id, sep, quoted = lines[0].partition("\t")
    where = sent_id if sep else f"line {lineno}"
    if not sep or not sent_id.isdigit() or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise DataError(path, where, 'expected a line of the form ID<TAB>"sentence with <e1>/<e2> markup"')
    if len(lines) < 2:
        raise DataError(path, sent_id, "missing the relation label line")
    label = lines[1]
    if label not in SEMEVAL_LABELS:
        raise DataError(
            path, sent_id, f"unknown relation {excerpt(label)}; expected one of {', '.join(SEMEVAL_LABELS)}"
        )
    tokens, e1, e2 = parse_semeval_markup(quoted[1:-1], path, sent_id)
    # e1 is the subject and e2 the object: the label itself carries the direction
    return RelationExample(sent_id, tuple(tokens), *e1, *e2, None, None, label)


def read_semeval_release(path: str | Path) -> list[RelationExample]:
    """TRAIN_FILE.TXT / TEST_FILE_FULL.TXT of the official release (or a sample in that format)."""
    path = Path(path)
    examples, seen = [], set()
    for lineno, lines in _semeval_blocks(path):
        ex = semeval_example(lineno, lines, path)
        if ex.id in seen:
            raise DataError(path, ex.id, "duplicate sentence id")
        seen.add(ex.id)
        examples.append(ex)
    if not examples:
        raise DataError(path, None, "no SemEval-2010 Task 8 sentences found")
    return examples


def read_semeval_answers(path: str | Path, allow_unknown: bool = False) -> dict[str, str]:
    """The scorer's 'ID<TAB>LABEL' format (an answer key or proposed answers) as {id: label}.

    Checks what the official format checker checks: a TAB separator, a known label spelled
    exactly, no repeated ids. A file in the full release format is read as a key too.
    """
    path = Path(path)
    lines = read_text(path).splitlines()
    if lines and '\t"' in lines[0]:
        return {ex.id: ex.label for ex in read_semeval_release(path)}
    out: dict[str, str] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        sent_id, sep, label = line.rstrip("\r\n").partition("\t")
        if not sep or not sent_id.strip().isdigit():
            raise DataError(path, f"line {n}", f"expected ID<TAB>LABEL, got {excerpt(line)}")
        if label not in SEMEVAL_LABELS:
            hint = (
                " (labels need a direction, e.g. 'Cause-Effect(e1,e2)')" if label in SEMEVAL_RELATIONS else ""
            )
            raise DataError(path, f"line {n}", f"unknown relation {excerpt(label)}{hint}")
        sent_id = sent_id.strip()
        if sent_id in out:
            raise DataError(path, f"line {n}", f"repeated id {sent_id}")
        out[sent_id] = label
    return out


# --- scoring files (`spaneval score tacred|semeval2010`) and span breakdowns -----------------


# Reading order of the span breakdowns' buckets (type pairs and relations keep their sorted order).
BUCKET_ORDER = {
    "f1_by_entity_distance": rel_metrics.DISTANCE_BUCKETS,
    "f1_by_adjacency": ("adjacent", "not_adjacent"),
}


def span_breakdowns(examples: Sequence[RelationExample], predictions: Sequence[str], negative: str) -> dict:
    """F1 by entity distance, by subject/object type pair (when typed) and by adjacency."""
    rows = [
        {
            "gold": ex.label,
            "predicted": p,
            "distance": ex.entity_distance_tokens,
            "types": f"{ex.subj_type}/{ex.obj_type}" if ex.subj_type else None,
        }
        for ex, p in zip(examples, predictions, strict=True)
    ]
    tables = {
        "f1_by_entity_distance": rel_metrics.micro_f1_breakdown(
            rows, lambda r: rel_metrics.distance_bucket(r["distance"]), negative
        ),
        "f1_by_adjacency": rel_metrics.micro_f1_breakdown(
            rows, lambda r: "adjacent" if r["distance"] == 0 else "not_adjacent", negative
        ),
    }
    if any(r["types"] for r in rows):
        tables["f1_by_type_pair"] = rel_metrics.micro_f1_breakdown(rows, lambda r: r["types"], negative)
    return tables
