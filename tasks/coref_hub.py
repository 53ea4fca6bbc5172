"""OntoNotes (CoNLL-2012, english_v4) documents from the hub data set conll2012_ontonotesv5."""

from __future__ import annotations

from spaneval.tasks.coref_data import CorefDocument, Span, genre_of


def document_from_hub(example: dict) -> CorefDocument:
    """A CorefDocument from one example of the hub data set `conll2012_ontonotesv5` (english_v4).

    Its sentences carry `words`, `speaker` and `coref_spans` ([cluster id, start, end] with
    sentence-relative inclusive word indices) and `part_id`.
    """
    words: list[str] = []
    speakers: list[str] = []
    sentence_ends: list[int] = []
    labels: dict[int, list[Span]] = {}
    for sentence in example["sentences"]:
        offset = len(words)
        words.extend(sentence["words"])
        speakers.extend([sentence.get("speaker") or "_"] * len(sentence["words"]))
        sentence_ends.append(len(words))
        for cluster_id, start, end in sentence["coref_spans"]:
            labels.setdefault(int(cluster_id), []).append((offset + int(start), offset + int(end)))
    name = example["document_id"]
    part = example["sentences"][0].get("part_id", 0) if example["sentences"] else 0
    return CorefDocument(
        name=name,
        part=f"{int(part):03d}",
        words=tuple(words),
        sentence_ends=tuple(sentence_ends),
        clusters=tuple(tuple(sorted(spans)) for spans in labels.values()),
        speakers=tuple(speakers) if any(s != "_" for s in speakers) else None,
        genre=genre_of(name),
        path="hub",
    )
