"""The task registry: a plain dict from name to the task object of its module."""

from __future__ import annotations

from tasks.coref import COREF
from tasks.qa import MRQA, SQUAD, SQUAD_V2
from tasks.relation import SEMEVAL2010, TACRED

TASKS = {
    "squad": SQUAD,
    "squad_v2": SQUAD_V2,
    "mrqa": MRQA,
    "coref": COREF,
    "tacred": TACRED,
    "semeval2010": SEMEVAL2010,
}
