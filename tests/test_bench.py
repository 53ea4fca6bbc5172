"""The benchmark commands run and report what they claim (figures are not asserted: no timed tests)."""

import pytest

from spaneval.bench import finetune, infer


def test_infer_bench_reports_throughput_and_memory(capsys):
    result = infer.main(["--task", "squad", "--size", "tiny", "--batch", "16", "--limit", "20"])
    assert result["examples"] == 20 and result["examples_per_s"] > 0 and result["peak_memory_gib"] > 0
    assert '"bench": "infer"' in capsys.readouterr().out


@pytest.mark.slow
def test_finetune_bench_compares_the_same_examples():
    result = finetune.main(["--size", "tiny", "--batch", "8"])
    assert result["steps"] == 50 and result["ours_examples_per_s"] > 0 and result["hf_examples_per_s"] > 0
    assert result["mean_batch_len_ours"] < result["max_seq_len"]  # length grouping trims padding
