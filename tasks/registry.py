"""The task registry: a plain dict from name to the task object of its module.

Each key is the task's own `info.name`; a mismatch is an error when this module is imported.
"""

from __future__ import annotations

from spaneval.tasks.coref import COREF
from spaneval.tasks.qa import MRQA, SQUAD, SQUAD_V2
from spaneval.tasks.relation import SEMEVAL2010, TACRED

TASKS = {
    "squad": SQUAD,
    "squad_v2": SQUAD_V2,
    "mrqa": MRQA,
    "coref": COREF,
    "tacred": TACRED,
    "semeval2010": SEMEVAL2010,
}


def check_names(tasks: dict) -> None:
    """Each registry key must be its task's own name (records and paths use the name)."""
    wrong = {key: task.info.name for key, task in tasks.items() if key != task.info.name}
    if wrong:
        raise ImportError(f"tasks/registry.py: keys differ from the tasks' names: {wrong}")


check_names(TASKS)
