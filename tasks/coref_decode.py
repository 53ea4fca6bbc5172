"""Predicted clusters (word spans) from the model's top spans and antecedent scores."""

from __future__ import annotations

from collections.abc import Sequence

from spaneval.tasks.coref_data import Span


def decode_clusters(
    top_starts: Sequence[int],
    top_ends: Sequence[int],
    top_scores: Sequence[float],
    antecedents: Sequence[int],
    subtoken_to_word: Sequence[int],
    singletons: bool,
) -> list[list[Span]]:
    """Clusters of word spans from the model's top spans and predicted antecedents.

    A span joins the cluster of its antecedent (index into the top spans, -1: none; padding has
    start -1). With `singletons`, a span without antecedent or anaphor whose mention score is
    positive is a one-mention cluster.
    """
    cluster_of: dict[int, int] = {}
    members: list[list[int]] = []
    for i, antecedent in enumerate(antecedents):
        if top_starts[i] < 0 or antecedent < 0:
            continue
        if antecedent not in cluster_of:
            cluster_of[antecedent] = len(members)
            members.append([antecedent])
        cluster_of[i] = cluster_of[antecedent]
        members[cluster_of[i]].append(i)
    if singletons:
        members += [
            [i]
            for i in range(len(antecedents))
            if top_starts[i] >= 0 and i not in cluster_of and top_scores[i] > 0
        ]
    return [
        sorted((subtoken_to_word[int(top_starts[i])], subtoken_to_word[int(top_ends[i])]) for i in cluster)
        for cluster in members
    ]
