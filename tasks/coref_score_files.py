"""`spaneval score coref`: a response CoNLL file scored against a key file, as the reference scorer does."""

from __future__ import annotations

from collections.abc import Sequence

from spaneval.errors import DataError
from spaneval.metrics.coref import MAX_REPEATED_MENTIONS, repeated_mentions, score_documents, to_percent
from spaneval.tasks.coref_data import CorefDocument, read_conll


def pair_documents(
    key_docs: Sequence[CorefDocument],
    response_docs: Sequence[CorefDocument],
    key_path: str,
    response_path: str,
) -> list[tuple[CorefDocument, CorefDocument]]:
    """(key, response) document pairs matched by (name, part); DataError on any mismatch.

    A document missing from either side, a repeated document, or key and response documents with
    different token counts is an error.
    """

    def by_key(docs: Sequence, path: str) -> dict:
        out: dict = {}
        for doc in docs:
            if doc.key in out:
                raise DataError(path, doc.doc_id, "document appears twice")
            out[doc.key] = doc
        return out

    keys, responses = by_key(key_docs, key_path), by_key(response_docs, response_path)
    missing = [keys[k].doc_id for k in keys if k not in responses]
    if missing:
        problem = f"{len(missing)} key document(s) missing from the response"
        raise DataError(response_path, missing[0], problem)
    extra = [responses[k].doc_id for k in responses if k not in keys]
    if extra:
        problem = f"{len(extra)} response document(s) not in the key {key_path}"
        raise DataError(response_path, extra[0], problem)
    pairs = []
    for k, key_doc in keys.items():
        response_doc = responses[k]
        _check_aligned(key_doc, response_doc, response_path)
        pairs.append((key_doc, response_doc))
    return pairs


def _check_aligned(key_doc, response_doc, response_path: str) -> None:
    """Same token count; words may differ (the scorer's own test responses replace some)."""
    if len(key_doc.words) != len(response_doc.words):
        raise DataError(
            response_path,
            response_doc.doc_id,
            f"{len(response_doc.words)} tokens but the key document has {len(key_doc.words)}: "
            "key and response must align token for token",
        )


def score_conll_files(key_path: str, response_path: str) -> dict:
    """Score a response CoNLL file against a key file, as the reference scorer does.

    Returns {metric: {recall, precision, f1}} for muc, bcub, ceafm, ceafe, blanc, lea and
    "mentions" (mention detection), plus "conll_f1": all as percentages (the scorer's scale), and
    "documents": the number of documents scored.
    """
    pairs = pair_documents(read_conll(key_path), read_conll(response_path), str(key_path), str(response_path))
    repeated = sum(repeated_mentions(k.clusters, r.clusters) for k, r in pairs)
    if repeated > MAX_REPEATED_MENTIONS:
        raise DataError(
            response_path,
            None,
            f"{repeated} repeated mentions (response mentions that repeat an earlier one); the "
            f"reference scorer v8.01 refuses to score more than {MAX_REPEATED_MENTIONS}: fix the output",
        )
    scores = score_documents((k.clusters, r.clusters) for k, r in pairs)
    return {**to_percent(scores), "documents": len(pairs), "warnings": _word_mismatches(pairs, response_path)}


def _word_mismatches(pairs, response_path: str) -> list[str]:
    """The reference scorer matches mentions by word position only; a response whose words differ
    from the key's (same count) would score silently, so say where they first differ."""
    differing = [(k, r) for k, r in pairs if k.words != r.words]
    if not differing:
        return []
    k, r = differing[0]
    i = next(i for i, (a, b) in enumerate(zip(k.words, r.words, strict=True)) if a != b)
    return [
        f"{response_path}: {len(differing)} document(s) have other words than the key (first: "
        f"{r.doc_id}, word {i}: key {k.words[i]!r}, response {r.words[i]!r}); mentions are matched by "
        "position, so check that the files are aligned"
    ]
