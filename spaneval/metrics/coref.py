"""Coreference metrics as the reference CoNLL-2012 scorer v8.01 computes them, in pure Python.

MUC (Vilain et al. 1995), B-cubed (Bagga & Baldwin 1998), CEAF-m and CEAF-e (Luo 2005), BLANC
generalised to predicted mentions (Luo et al. 2014), LEA (Moosavi & Strube 2016) and mention
detection. A cluster is a sequence of mentions; a mention is an inclusive `(start, end)` token span.

Per document, `document_counts` returns the numerators and denominators the scorer sums over
documents (so a paired bootstrap can resample documents); `aggregate` turns summed counts into
recall / precision / F1 (fractions in 0..1) and the CoNLL F1 (mean of MUC, B3 and CEAF-e F1).

Behaviour copied from the reference scorer (lib/CorScorer.pm, `IdentifMentions`):
- mentions match only on exact boundaries;
- a response mention that repeats a key-matched mention is dropped (first occurrence kept), and
  response clusters left empty are removed; a repeated key mention keeps one id;
- MUC counts links of the response clusters, B3 / CEAF / BLANC / LEA use the clusters as given,
  twinless mentions included (no Cai & Strube 2010 adjustment, as in v7 onwards).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from itertools import combinations, pairwise

import numpy as np
from scipy.optimize import linear_sum_assignment

Mention = tuple[int, int]
Clusters = Sequence[Sequence[Mention]]
IdChains = list[list[int]]

MAX_REPEATED_MENTIONS = 10  # per response file, as `IdentifMentions` counts them (scorer v8.01)
METRICS = ("muc", "bcub", "ceafm", "ceafe", "blanc", "lea")
CONLL_METRICS = ("muc", "bcub", "ceafe")


def mention_ids(key: Clusters, response: Clusters) -> tuple[IdChains, IdChains, list[int]]:
    """Key and response clusters as chains of mention ids, plus mention-detection counts.

    Follows `IdentifMentions`: key mentions get ids in reading order, a response mention with the
    same boundaries shares the key id, any other response mention gets a fresh id. Returns
    (key_chains, response_chains, [recall_num, recall_den, precision_num, precision_den]).
    """
    key_id: dict[Mention, int] = {}
    next_id = 0
    for cluster in key:
        for mention in cluster:
            key_id[tuple(mention)] = next_id
            next_id += 1
    kept_response, _ = _drop_repeats(key_id, response)
    mapped = {m: key_id[m] for cluster in kept_response for m in cluster if m in key_id}
    exact = len(mapped)
    for cluster in kept_response:
        for mention in cluster:
            if mention not in mapped:
                mapped[mention] = next_id
                next_id += 1
    key_chains = [[key_id[tuple(m)] for m in cluster] for cluster in key if len(cluster)]
    response_chains = [[mapped[m] for m in cluster] for cluster in kept_response]
    return key_chains, response_chains, [exact, len(key_id), exact, len(mapped)]


def _drop_repeats(key_mentions: Container[Mention], response: Clusters) -> tuple[list[list[Mention]], int]:
    """Response clusters without repeats of key-matched mentions (the first occurrence stays),
    clusters left empty removed, and how many mentions were dropped, as `IdentifMentions` does."""
    matched: set[Mention] = set()
    kept_response: list[list[Mention]] = []
    dropped = 0
    for cluster in response:
        kept = []
        for mention in map(tuple, cluster):
            if mention in matched:
                dropped += 1
                continue
            if mention in key_mentions:
                matched.add(mention)
            kept.append(mention)
        if kept:
            kept_response.append(kept)
    return kept_response, dropped


def repeated_mentions(key: Clusters, response: Clusters) -> int:
    """How many response mentions repeat a key-matched mention of the response. The reference
    scorer v8.01 drops them, and refuses a response file with more than MAX_REPEATED_MENTIONS
    (in the scorer's words, "a sign of a systematic error/manipulation")."""
    return _drop_repeats({tuple(m) for cluster in key for m in cluster}, response)[1]


def _chain_index(chains: IdChains) -> dict[int, int]:
    """id -> index of the (last) chain holding it, as the scorer's `Indexa`."""
    return {m: i for i, chain in enumerate(chains) for m in chain}


def muc_counts(key: IdChains, response: IdChains) -> list[float]:
    """MUC: a response cluster earns one correct link per extra mention in the same key cluster."""
    key_of = _chain_index(key)
    correct = 0
    for chain in response:
        per_key: dict[int, int] = {}
        for m in chain:
            if m in key_of:
                per_key[key_of[m]] = per_key.get(key_of[m], 0) + 1
        correct += sum(n - 1 for n in per_key.values())
    key_links = sum(len(c) - 1 for c in key if c)
    response_links = sum(len(c) - 1 for c in response if c)
    return [correct, key_links, correct, response_links]


def bcub_counts(key: IdChains, response: IdChains) -> list[float]:
    """B-cubed: per response mention, overlap of its response and key clusters."""
    key_of = _chain_index(key)
    key_sets = [set(c) for c in key]
    recall_num = precision_num = 0.0
    for chain in response:
        common_with: dict[int, int] = {}  # key chain index -> |response chain ∩ key chain|
        for m in chain:
            if m not in key_of or key_of[m] in common_with:
                continue
            key_set = key_sets[key_of[m]]
            common_with[key_of[m]] = sum(1 for other in chain if other in key_set)
        for m in chain:
            if m in key_of:
                common = common_with[key_of[m]]
                precision_num += common / len(chain)
                recall_num += common / len(key[key_of[m]])
    return [recall_num, sum(map(len, key)), precision_num, sum(map(len, response))]


def _overlap_counts(key: IdChains, response: IdChains) -> np.ndarray:
    """counts[i, j] = how many mentions of key chain i occur in response chain j."""
    chains_of: dict[int, set[int]] = {}
    for j, chain in enumerate(response):
        for m in chain:
            chains_of.setdefault(m, set()).add(j)
    counts = np.zeros((len(key), len(response)))
    for i, chain in enumerate(key):
        for m in chain:
            for j in chains_of.get(m, ()):
                counts[i, j] += 1
    return counts


def ceaf_counts(key: IdChains, response: IdChains, entity_based: bool) -> list[float]:
    """CEAF with the optimal one-to-one alignment of key and response clusters.

    entity_based: phi4 = 2|K∩R| / (|K|+|R|) per aligned pair (CEAF-e); else phi3 = |K∩R| (CEAF-m).
    """
    sim = _overlap_counts(key, response)
    if entity_based and sim.size:
        sizes = np.array([len(k) for k in key])[:, None] + np.array([len(r) for r in response])[None, :]
        sim = 2 * sim / sizes
    score = 0.0
    if sim.size:
        rows, cols = linear_sum_assignment(sim, maximize=True)
        score = float(sim[rows, cols].sum())
    if entity_based:
        return [score, len(key), score, len(response)]
    return [score, sum(map(len, key)), score, sum(map(len, response))]


def _links(chains: IdChains) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Coreference links (pairs inside a chain) and non-coreference links (pairs across chains)."""
    coref = {tuple(sorted(p)) for chain in chains for p in combinations(chain, 2)}
    non_coref = {(min(a, b), max(a, b)) for c1, c2 in combinations(chains, 2) for a in c1 for b in c2}
    return coref, non_coref


def _pairs(n: float) -> float:
    return n * (n - 1) / 2


def blanc_counts(key: IdChains, response: IdChains) -> list[float]:
    """BLANC for predicted mentions: [coref r_num, r_den, p_num, p_den, non-coref r_num, ...].

    Counted from chain sizes and overlaps when no mention id repeats (the usual case); with
    repeats, from explicit link sets, as the scorer does.
    """
    key_ids, response_ids = [m for c in key for m in c], [m for c in response for m in c]
    if len(set(key_ids)) < len(key_ids) or len(set(response_ids)) < len(response_ids):
        return _blanc_counts_from_sets(key, response)
    overlap = _overlap_counts(key, response)
    common = overlap.sum()
    key_cl = sum(_pairs(len(c)) for c in key)
    resp_cl = sum(_pairs(len(c)) for c in response)
    both_cl = float(_pairs(overlap).sum())
    key_ncl = _pairs(len(key_ids)) - key_cl
    resp_ncl = _pairs(len(response_ids)) - resp_cl
    same_key = float(_pairs(overlap.sum(axis=1)).sum())
    same_resp = float(_pairs(overlap.sum(axis=0)).sum())
    both_ncl = float(_pairs(common)) - same_key - same_resp + both_cl
    return [both_cl, key_cl, both_cl, resp_cl, both_ncl, key_ncl, both_ncl, resp_ncl]


def _blanc_counts_from_sets(key: IdChains, response: IdChains) -> list[float]:
    key_cl, key_ncl = _links(key)
    resp_cl, resp_ncl = _links(response)
    cl, ncl = len(key_cl & resp_cl), len(key_ncl & resp_ncl)
    return [cl, len(key_cl), cl, len(resp_cl), ncl, len(key_ncl), ncl, len(resp_ncl)]


def _lea_side(evaluated: IdChains, other: IdChains) -> tuple[float, float]:
    """LEA numerator and denominator: importance |e| times the fraction of e's links resolved.

    A singleton has one self-link, resolved when the other side holds it as a singleton too.
    """
    other_of = _chain_index(other)
    num = den = 0.0
    for chain in evaluated:
        size = len(chain)
        if size == 1:
            m = chain[0]
            resolved = 1.0 if m in other_of and len(other[other_of[m]]) == 1 else 0.0
        else:
            common = sum(
                1
                for a, b in combinations(chain, 2)
                if a in other_of and b in other_of and other_of[a] == other_of[b]
            )
            resolved = common / (size * (size - 1) / 2)
        num += size * resolved
        den += size
    return num, den


def lea_counts(key: IdChains, response: IdChains) -> list[float]:
    recall_num, recall_den = _lea_side(key, response)
    precision_num, precision_den = _lea_side(response, key)
    return [recall_num, recall_den, precision_num, precision_den]


def document_counts(key: Clusters, response: Clusters) -> dict[str, list[float]]:
    """All metric counts for one document: {metric: [r_num, r_den, p_num, p_den] (BLANC: 8)}."""
    key_chains, response_chains, mentions = mention_ids(key, response)
    return {
        "muc": muc_counts(key_chains, response_chains),
        "bcub": bcub_counts(key_chains, response_chains),
        "ceafm": ceaf_counts(key_chains, response_chains, entity_based=False),
        "ceafe": ceaf_counts(key_chains, response_chains, entity_based=True),
        "blanc": blanc_counts(key_chains, response_chains),
        "lea": lea_counts(key_chains, response_chains),
        "mentions": mentions,
    }


def sum_counts(per_document: Iterable[Mapping[str, Sequence[float]]]) -> dict[str, list[float]]:
    """Element-wise sum of `document_counts` results over documents."""
    total: dict[str, list[float]] = {}
    for counts in per_document:
        for name, values in counts.items():
            acc = total.setdefault(name, [0.0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
    return total


def rpf(recall_num: float, recall_den: float, precision_num: float, precision_den: float) -> dict:
    """Recall, precision, F1 in 0..1; an empty denominator gives 0, as the scorer prints."""
    recall = recall_num / recall_den if recall_den else 0.0
    precision = precision_num / precision_den if precision_den else 0.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


def blanc_rpf(counts: Sequence[float]) -> dict:
    """BLANC from summed link counts, with the edge cases of the scorer's test suite.

    Key with only non-coreference links (all singletons) -> the non-coreference figures; key with
    only coreference links (one entity) -> the coreference figures; otherwise the mean of both.
    """
    cl_rn, cl_rd, cl_pn, cl_pd, ncl_rn, ncl_rd, ncl_pn, ncl_pd = counts
    coref, non_coref = rpf(cl_rn, cl_rd, cl_pn, cl_pd), rpf(ncl_rn, ncl_rd, ncl_pn, ncl_pd)
    if not cl_rd and not ncl_rd:
        return {"recall": 0.0, "precision": 0.0, "f1": 0.0}
    if not cl_rd:
        return non_coref
    if not ncl_rd:
        return coref
    return {k: (coref[k] + non_coref[k]) / 2 for k in ("recall", "precision", "f1")}


def aggregate(total: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float] | float]:
    """{metric: {recall, precision, f1}} for every metric in `total`, plus "conll_f1"."""
    out: dict[str, dict[str, float] | float] = {}
    for name, counts in total.items():
        out[name] = blanc_rpf(counts) if name == "blanc" else rpf(*counts)
    if all(m in out for m in CONLL_METRICS):
        out["conll_f1"] = sum(out[m]["f1"] for m in CONLL_METRICS) / len(CONLL_METRICS)
    return out


def score_documents(pairs: Iterable[tuple[Clusters, Clusters]]) -> dict[str, dict[str, float] | float]:
    """Corpus-level scores for (key clusters, response clusters) pairs, one pair per document."""
    return aggregate(sum_counts(document_counts(k, r) for k, r in pairs))


def to_percent(scores: Mapping) -> dict:
    """The same scores with every value multiplied by 100."""
    return {
        name: {k: 100 * v for k, v in value.items()} if isinstance(value, Mapping) else 100 * value
        for name, value in scores.items()
    }


# --- span-level breakdowns -------------------------------------------------------------------

PRONOUNS = frozenset(
    [
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "we",
        "us",
        "our",
        "ours",
        "ourselves",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "thee",
        "thou",
        "thy",
        "thine",
        "thyself",
        "ye",
        "this",
        "that",
        "these",
        "those",
        "who",
        "whom",
        "whose",
        "which",
        "what",
        "one",
        "oneself",
    ]
)
PRONOUN_TAGS = frozenset({"PRP", "PRP$", "WP", "WP$"})
PROPER_TAGS = frozenset({"NNP", "NNPS"})


def length_bucket(n_words: int) -> str:
    """Mention length bucket: 1, 2, 3-4, 5+ words."""
    return "1" if n_words <= 1 else "2" if n_words == 2 else "3-4" if n_words <= 4 else "5+"


def distance_bucket(sentences: int) -> str:
    """Sentence distance bucket of an anaphor to its closest antecedent: 0, 1, 2-4, 5+."""
    return "0" if sentences <= 0 else "1" if sentences == 1 else "2-4" if sentences <= 4 else "5+"


def mention_type(words: Sequence[str], tags: Sequence[str] | None = None) -> str:
    """pronoun, proper or nominal. With POS tags (OntoNotes): the tag of a one-word mention, else
    of the last word. Without (LitBank): a one-word pronoun from a fixed list, else proper when
    every alphabetic word is capitalised (e.g. "Sir Walter Elliot", "Kellynch Hall")."""
    if tags and all(t not in ("_", "-", "") for t in tags):
        if len(tags) == 1 and tags[0] in PRONOUN_TAGS:
            return "pronoun"
        return "proper" if tags[-1] in PROPER_TAGS else "nominal"
    if len(words) == 1 and words[0].lower() in PRONOUNS:
        return "pronoun"
    alpha = [w for w in words if w[:1].isalpha()]
    return "proper" if alpha and all(w[0].isupper() for w in alpha) else "nominal"


def mention_bucket_counts(
    key: Clusters, response: Clusters, bucket_of: Callable[[Mention], str]
) -> dict[str, list[float]]:
    """Mention detection per bucket: {bucket: [found key mentions, key mentions, correct
    response mentions, response mentions]}, each mention bucketed by `bucket_of(span)`."""
    key_set = {tuple(m) for c in key for m in c}
    response_set = {tuple(m) for c in response for m in c}
    out: dict[str, list[float]] = {}
    for m in key_set:
        row = out.setdefault(bucket_of(m), [0.0, 0.0, 0.0, 0.0])
        row[0] += m in response_set
        row[1] += 1
    for m in response_set:
        row = out.setdefault(bucket_of(m), [0.0, 0.0, 0.0, 0.0])
        row[2] += m in key_set
        row[3] += 1
    return out


def _anaphors(clusters: Clusters) -> list[tuple[Mention, Mention, int]]:
    """(mention, closest earlier mention of its cluster, cluster index) for non-first mentions."""
    out = []
    for index, cluster in enumerate(clusters):
        ordered = sorted(tuple(m) for m in cluster)
        out.extend((m, prev, index) for prev, m in pairwise(ordered))
    return out


def link_distance_counts(
    key: Clusters, response: Clusters, sentence_of: Sequence[int]
) -> dict[str, list[float]]:
    """Antecedent links by sentence distance: {bucket: [key anaphors resolved, key anaphors,
    response anaphors correct, response anaphors]}. A key anaphor is resolved when its response
    cluster holds an earlier mention of its key cluster; a response anaphor is correct when its
    key cluster holds an earlier mention of its response cluster."""
    out: dict[str, list[float]] = {}
    for side, (this, other) in enumerate(((key, response), (response, key))):
        other_of = {tuple(m): i for i, c in enumerate(other) for m in c}
        for m, prev, index in _anaphors(this):
            earlier = {tuple(e) for e in this[index] if tuple(e) < m}
            ok = m in other_of and any(other_of.get(e) == other_of[m] for e in earlier)
            row = out.setdefault(distance_bucket(sentence_of[m[0]] - sentence_of[prev[1]]), [0.0] * 4)
            row[2 * side] += ok
            row[2 * side + 1] += 1
    return out


def bucket_table(counts: Mapping[str, Sequence[float]], order: Sequence[str]) -> dict[str, dict[str, float]]:
    """{bucket: {recall, precision, f1 (percentages), count (key items)}} in `order`."""
    table = {}
    for bucket in order:
        if bucket in counts:
            values = counts[bucket]
            table[bucket] = {**{k: 100 * v for k, v in rpf(*values).items()}, "count": values[1]}
    return table
