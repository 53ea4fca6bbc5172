"""The benchmark commands run and report what they claim (figures are not asserted: no timed tests)."""

import json

import pytest

from spaneval.bench import finetune, infer


def test_infer_bench_reports_throughput_and_memory(capsys):
    result = infer.main(["--task", "squad", "--size", "tiny", "--batch", "16", "--limit", "20"])
    assert result["examples"] == 20 and result["examples_per_s"] > 0 and result["peak_memory_gib"] > 0
    assert '"bench": "infer"' in capsys.readouterr().out


@pytest.mark.slow
def test_finetune_bench_times_both_sides_with_the_same_options(tmp_path):
    out = tmp_path / "finetune.json"
    argv = ["--size", "tiny", "--batch", "8", "--steps", "3", "--rounds", "2", "--out", str(out)]
    result = finetune.main(argv)
    assert result["steps_per_round"] == 3 and result["speedup"]["n"] == 2
    assert result["ours_examples_per_s"]["median"] > 0 and result["hf_examples_per_s"]["median"] > 0
    assert "group_by_length" in result["options"]["hf"] and "on neither" in result["options"]["both"]
    assert max(result["mean_padded_len"].values()) < result["max_seq_len"]  # both pad dynamically
    assert json.loads(out.read_text()) == result
