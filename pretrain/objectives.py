"""The pretraining objectives by name: masking scheme, block kind and heads.

SpanBERT paper (Joshi et al., 2020), Sections 3-5: `spanbert` is span masking + MLM + SBO on
single sequences; `spanbert-nosbo` drops SBO (the auxiliary-objective ablation); `bert-1seq` is
BERT's subword masking on single sequences (the paper's "Our BERT-1seq", its strongest BERT
baseline); `bert-nsp` is BERT as Google trained it: two segments and next-sentence prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spaneval.registry import lookup


@dataclass(frozen=True)
class Objective:
    """What one named objective trains: which tokens are masked, which blocks, which heads."""

    name: str
    masking_scheme: Literal["span", "subword", "whole_word"]
    block_kind: Literal["single", "pair"]
    sbo: bool  # span boundary objective head
    nsp: bool  # next-sentence prediction head (needs pair blocks and the pooler)
    description: str


OBJECTIVES: dict[str, Objective] = {
    "spanbert": Objective(
        "spanbert", "span", "single", sbo=True, nsp=False, description="span masking + MLM + SBO"
    ),
    "spanbert-nosbo": Objective(
        "spanbert-nosbo", "span", "single", sbo=False, nsp=False, description="span masking + MLM"
    ),
    "bert-1seq": Objective(
        "bert-1seq", "subword", "single", sbo=False, nsp=False, description="subword masking + MLM"
    ),
    "bert-nsp": Objective(
        "bert-nsp", "subword", "pair", sbo=False, nsp=True, description="subword masking + MLM + NSP"
    ),
}


def get_objective(name: str) -> Objective:
    """The registered objective `name`, or an error listing the known ones."""
    return lookup(OBJECTIVES, name, "objective")
