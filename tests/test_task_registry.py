"""The task registry: keys are the tasks' own names; every task declares what shared code asks it."""

from __future__ import annotations

import numpy as np
import pytest

from spaneval.tasks.base import PredictionRows
from spaneval.tasks.registry import TASKS, check_names


def test_registry_keys_are_the_task_names():
    assert all(key == task.info.name for key, task in TASKS.items())
    with pytest.raises(ImportError, match="squad_v1"):
        check_names({"squad_v1": TASKS["squad"]})


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_its_rows_and_scoring(name):
    task = TASKS[name]
    assert isinstance(task.rows, PredictionRows)
    assert all(option in ("data", "predictions", "key", "response") for option in task.score_options)
    assert callable(task.score_files)


@pytest.mark.parametrize("name", ["squad", "squad_v2", "coref", "tacred", "semeval2010"])
def test_sample_rows_resample_to_their_own_main_metric(name):
    task = TASKS[name]
    sample = task.rows.sample(np.random.default_rng(0), 0.7, 30)
    metric = task.info.main_metric
    spec = task.rows.resampling(metric, sample.rows)
    stats = np.asarray([spec.row_stats(r) for r in sample.rows], dtype=float)
    assert float(spec.from_sums(stats.sum(axis=0))) == pytest.approx(sample.metrics[metric])
    assert all(task.rows.label(r) and task.rows.html(r) for r in sample.rows[:3])
