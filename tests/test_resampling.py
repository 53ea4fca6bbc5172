"""Aggregation over seeds, resampling statistics and paired tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spaneval import published, resampling, results_tables, seed_tables, significance
from spaneval.errors import SpanevalError
from spaneval.metrics import coref, relation, squad
from spaneval.synthetic_runs import write_run
from spaneval.tasks import coref_rows, qa_rows
from spaneval.tasks.registry import TASKS


def _metrics_frame(values: dict[tuple[str, str, int], float]) -> pd.DataFrame:
    rows = [
        {
            "run_id": f"{t}-{m}-{s}",
            "task": t,
            "group": f"{t}-{m}",
            "label": m,
            "model": m,
            "data_source": "bundled",
            "data_fingerprint": "f",
            "config_key": "c",
            "seed": s,
            "metric": "f1",
            "value": v,
            "is_main": True,
        }
        for (t, m, s), v in values.items()
    ]
    return pd.DataFrame(rows)


def test_seed_summary_mean_std_n():
    frame = _metrics_frame(
        {
            ("squad", "bert", 1): 80.0,
            ("squad", "bert", 2): 82.0,
            ("squad", "bert", 3): 84.0,
            ("squad", "spanbert", 1): 90.0,
        }
    )
    summary = seed_tables.seed_summary(frame).set_index("label")
    assert summary.loc["bert", "mean"] == pytest.approx(82.0)
    assert summary.loc["bert", "std"] == pytest.approx(2.0)  # sample std (ddof=1)
    assert summary.loc["bert", "n"] == 3 and summary.loc["bert", "seeds"] == (1, 2, 3)
    assert np.isnan(summary.loc["spanbert", "std"]) and summary.loc["spanbert", "n"] == 1


def test_format_mean_std():
    assert seed_tables.format_mean_std(88.54, 0.31, 3) == "88.5 ± 0.3 (n=3)"
    assert seed_tables.format_mean_std(88.54, float("nan"), 1) == "88.5 (n=1)"


def _rows(tmp_path, task, model, n=60):
    record_dir = write_run(tmp_path, task, model, 1, n_examples=n)
    record = results_tables.read_record(record_dir / "record.json")
    return record, results_tables.load_predictions(record)


def _full_sample(rows, metric, task):
    spec = TASKS[task].rows.resampling(metric, rows)
    return float(spec.from_sums(resampling.stats_matrix(rows, spec).sum(axis=0)))


def test_qa_statistic_matches_official_aggregate(tmp_path):
    _, rows = _rows(tmp_path, "squad", "bert")
    official = squad.aggregate_v1(rows)
    assert _full_sample(rows, "f1", "squad") == pytest.approx(official["f1"])
    assert _full_sample(rows, "exact_match", "squad") == pytest.approx(official["exact_match"])


def test_coref_statistic_matches_reference_scorer_counts(tmp_path):
    record, rows = _rows(tmp_path, "coref", "spanbert")
    pairs = [
        (
            [[tuple(m) for m in c] for c in r["gold_clusters"]],
            [[tuple(m) for m in c] for c in r["predicted_clusters"]],
        )
        for r in rows
    ]
    assert _full_sample(rows, "conll_f1", "coref") == pytest.approx(
        100 * coref.score_documents(pairs)["conll_f1"]
    )
    assert _full_sample(rows, "muc_f1", "coref") == pytest.approx(record["metrics"]["muc_f1"])


def test_tacred_statistic_matches_official_scorer(tmp_path):
    _, rows = _rows(tmp_path, "tacred", "bert")
    official = relation.tacred_score([r["gold"] for r in rows], [r["predicted"] for r in rows])
    assert _full_sample(rows, "f1", "tacred") == pytest.approx(official["f1"])


def test_tacred_nothing_predicted_scores_zero():
    rows = [{"id": str(i), "gold": "per:title", "predicted": "no_relation"} for i in range(4)]
    assert _full_sample(rows, "f1", "tacred") == 0.0


def test_semeval_macro_f1_matches_official_scorer_with_wrong_directions():
    pairs = [
        ("Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"),
        ("Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)"),
        ("Component-Whole(e2,e1)", "Other"),
        ("Other", "Component-Whole(e2,e1)"),
        ("Component-Whole(e1,e2)", "Component-Whole(e1,e2)"),
        ("Other", "Other"),
        ("Entity-Origin(e1,e2)", "Cause-Effect(e1,e2)"),
    ]
    rows = [{"id": str(i), "gold": g, "predicted": p} for i, (g, p) in enumerate(pairs)]
    official = relation.semeval_score(
        {r["id"]: r["gold"] for r in rows}, {r["id"]: r["predicted"] for r in rows}
    )
    assert _full_sample(rows, "macro_f1", "semeval2010") == pytest.approx(official["official_macro_f1"])


def test_bootstrap_ci_is_reproducible_and_contains_point():
    rng_stats = np.random.default_rng(0)
    matrix = np.stack([rng_stats.random(500) < 0.7, np.ones(500)], axis=1).astype(float)
    spec = qa_rows.resampling("exact_match", [])
    first = resampling.bootstrap_ci(matrix, spec, np.random.default_rng(1), n_resamples=500)
    again = resampling.bootstrap_ci(matrix, spec, np.random.default_rng(1), n_resamples=500)
    assert first == again
    assert first.low < first.point < first.high
    # binomial standard error at n=500, p=0.7 is 2.05 points: the 95% interval is about +-4
    assert 6.0 < first.high - first.low < 10.0


def _qa_matrix(correct: np.ndarray) -> np.ndarray:
    return np.stack([correct, np.ones_like(correct)], axis=1).astype(float)


def test_paired_tests_on_identical_runs_give_p_one():
    matrix = _qa_matrix(np.random.default_rng(0).random(200) < 0.6)
    spec = qa_rows.resampling("f1", [])
    boot = significance.paired_bootstrap(matrix, matrix, spec, np.random.default_rng(0), 200)
    perm = significance.approximate_randomization(matrix, matrix, spec, np.random.default_rng(0), 200)
    assert boot.delta == 0 and boot.p_value == 1.0 and perm.p_value == 1.0


def test_paired_tests_detect_a_clear_difference():
    rng = np.random.default_rng(0)
    a = _qa_matrix(rng.random(1000) < 0.8)
    b = _qa_matrix(rng.random(1000) < 0.6)
    spec = qa_rows.resampling("exact_match", [])
    boot = significance.paired_bootstrap(a, b, spec, np.random.default_rng(1), 500)
    perm = significance.approximate_randomization(a, b, spec, np.random.default_rng(1), 500)
    assert boot.delta > 10 and boot.delta_low > 0
    assert boot.p_value < 0.01 and perm.p_value < 0.01
    assert boot.p_value >= 1 / 501  # never 0: (1 + extreme) / (1 + resamples)


def test_p_values_are_calibrated_under_the_null():
    """Two equally good systems: about 5% of tests reject at 0.05 (not 0%, not 30%)."""
    rng = np.random.default_rng(42)
    spec = qa_rows.resampling("exact_match", [])
    rejections = []
    for _ in range(100):
        a, b = _qa_matrix(rng.random(200) < 0.7), _qa_matrix(rng.random(200) < 0.7)
        rejections.append(significance.approximate_randomization(a, b, spec, rng, 200).p_value < 0.05)
    assert 0.0 < np.mean(rejections) <= 0.12


def test_compare_rows_aligns_by_id_and_rejects_different_examples(tmp_path):
    _, rows_a = _rows(tmp_path / "a", "squad", "spanbert")
    _, rows_b = _rows(tmp_path / "b", "squad", "bert")
    resampling = qa_rows.resampling
    result = significance.compare_rows(
        rows_a, list(reversed(rows_b)), resampling, "f1", np.random.default_rng(0), n_resamples=100
    )
    assert result.score_a == pytest.approx(squad.aggregate_v1(rows_a)["f1"])
    assert result.score_b == pytest.approx(squad.aggregate_v1(rows_b)["f1"])
    with pytest.raises(SpanevalError, match="different examples"):
        significance.compare_rows(rows_a, rows_b[:-1], resampling, "f1", np.random.default_rng(0))
    with pytest.raises(SpanevalError, match="unknown test"):
        significance.compare_rows(rows_a, rows_b, resampling, "f1", np.random.default_rng(0), method="t-test")


def test_unsupported_metric_names_the_supported_ones():
    with pytest.raises(SpanevalError, match=r"supported: .*conll_f1"):
        coref_rows.resampling("blanc_f1", [])


def test_missing_per_example_field_names_the_row():
    rows = [{"id": "q1", "exact": 1, "f1": 1.0}, {"id": "q2", "f1": 0.5, "exact": None}]
    spec = qa_rows.resampling("f1", rows)
    del rows[1]["f1"]
    with pytest.raises(SpanevalError, match="q2"):
        resampling.stats_matrix(rows, spec)


def test_leaderboard_has_published_rows_only_where_comparable():
    frame = _metrics_frame({("squad", "bert", 1): 80.0, ("squad", "spanbert", 1): 85.0})
    frame = pd.concat([frame, _metrics_frame({("coref", "spanbert", 1): 60.0}).assign(metric="conll_f1")])
    summary = seed_tables.seed_summary(frame)
    ref = published.published_table({("squad", "bundled"), ("coref", "bundled")})
    long = seed_tables.leaderboard_long(summary, ref)
    published_rows = long[long["kind"] == "published"]
    assert set(published_rows["task"]) == {"squad"}  # LitBank coreference has no published number
    assert set(published_rows["metric"]) == {"f1"}
    assert all("published" in label for label in published_rows["row"])
    wide = seed_tables.leaderboard_wide(long)
    assert list(wide["kind"][:2]) == ["measured", "measured"]
    assert {"squad f1", "squad std", "squad n", "coref conll_f1"} <= set(wide.columns)


def test_published_coref_only_for_ontonotes():
    assert published.benchmark_for("coref", "litbank") is None
    assert published.benchmark_for("coref", "ontonotes") == "ontonotes"
    assert published.benchmark_for("squad", "bundled") == "squad1.1"
    assert published.benchmark_for("semeval2010", "bundled") is None
    assert all(score.source for score in published.PUBLISHED)


def test_breakdown_summary_means_over_seeds():
    frame = pd.DataFrame(
        [
            {
                "run_id": str(s),
                "task": "squad",
                "group": "g",
                "label": "bert",
                "model": "bert",
                "config_key": "c",
                "seed": s,
                "table": "t",
                "bucket": "1",
                "rank": 0,
                "metric": "f1",
                "value": v,
                "count": 10,
            }
            for s, v in ((1, 50.0), (2, 70.0))
        ]
    )
    out = seed_tables.breakdown_summary(frame)
    assert out["mean"].tolist() == [60.0] and out["n"].tolist() == [2]
