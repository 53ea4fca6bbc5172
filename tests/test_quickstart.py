"""The README's main command, as a new user runs it: offline, CPU, on the bundled data."""

import json

import pytest

from spaneval.cli import main


@pytest.mark.slow
def test_quickstart_pretrains_finetunes_and_compares(tmp_path, capsys):
    assert main(["quickstart", "--output", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "spanbert" in out and "bert-1seq" in out and "python -m spaneval dashboard" in out
    assert "(SQuAD exact match and F1, in percent)" in out
    assert "spanbert - bert-1seq F1: " in out and "paired bootstrap over the same 213 questions" in out
    assert "mostly noise" in out  # the tiny runs have fewer than 100 optimizer steps
    assert "--resume" not in out + err  # nobody asked to resume
    assert "[spaneval] fine-tuning: step " in err and "[spaneval] pretraining: step " in err
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("results/**/record.json"))]
    assert len(records) == 2
    models = {r["model"]["name"] for r in records}
    assert any("spanbert" in m for m in models) and any("bert-1seq" in m for m in models)
    for model_dir in (tmp_path / "models").iterdir():
        card = (model_dir / "model" / "README.md").read_text()
        assert "corpus" in card.lower()
    # a second quickstart into the same directory reuses the pretrained models
    assert main(["quickstart", "--output", str(tmp_path)]) == 0
