"""The relation Task objects end to end on CPU: methods in the runner's order, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from spaneval.errors import ConfigError
from spaneval.tasks import relation as rel
from tests.test_relation_data import tacred_record, write_json


def tiny_encoder() -> BertModel:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=28996, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    return BertModel(cfg)


def fresh_tokenizer(bundled) -> BertTokenizerFast:
    tok = BertTokenizerFast(vocab=str(bundled / "vocab" / "bert-base-cased-vocab.txt"), do_lower_case=False)
    assert len(tok) == 28996
    return tok


def run_pipeline(task, cfg, train_split, eval_split, tokenizer, steps=4, lr=1e-3):
    """load -> prepare_tokenizer -> encode -> build_model -> steps -> predict -> decode -> score."""
    tokenizer = task.prepare_tokenizer(tokenizer, cfg)
    train_features = task.encode(train_split.examples, tokenizer, cfg, True)
    eval_features = task.encode(eval_split.examples, tokenizer, cfg, False)
    model = task.build_model(tiny_encoder(), tokenizer, cfg)
    opt = torch.optim.AdamW(task.param_groups(model, _Train(lr)))
    losses = []
    for step in range(steps):
        batch = task.collate(train_features[8 * step : 8 * step + 8] or train_features[:8])
        loss = model(**batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        outputs = [
            {k: v.numpy() for k, v in model(**task.collate(eval_features[i : i + 16])).items() if k != "loss"}
            for i in range(0, len(eval_features), 16)
        ]
    predictions = task.decode(eval_split.examples, eval_features, outputs, cfg)
    return predictions, task.score(eval_split.examples, predictions, cfg), losses


class _Train:
    def __init__(self, lr):
        self.learning_rate, self.weight_decay = lr, 0.01


@pytest.mark.parametrize(
    ("fmt", "classifier"), [("entity_mask", "cls"), ("entity_marker_punct", "entity_start")]
)
def test_semeval_pipeline_on_bundled_sample(bundled, tmp_path, fmt, classifier):
    cfg = rel.SemevalConfig(input_format=fmt, classifier=classifier, max_seq_len=64)
    train = rel.SEMEVAL2010.load("bundled", "train", cfg)
    test = rel.SEMEVAL2010.load("bundled", "eval", cfg)
    predictions, scores, losses = run_pipeline(rel.SEMEVAL2010, cfg, train, test, fresh_tokenizer(bundled))
    assert len(predictions) == 200 and set(predictions) <= set(rel.data.SEMEVAL_LABELS)
    assert all(np.isfinite(losses))
    assert 0.0 <= scores.metrics["macro_f1"] <= 100.0
    assert {"f1_by_entity_distance", "f1_by_adjacency", "per_relation"} <= set(scores.breakdowns)
    assert {"id", "gold", "predicted", "tokens", "subj", "obj"} <= scores.per_example[0].keys()
    rel.SEMEVAL2010.write_predictions(tmp_path, test.examples, predictions, scores)
    from spaneval.tasks.relation_score_files import score_semeval_files

    rescored = score_semeval_files(
        tmp_path / "semeval_answer_key.txt", tmp_path / "semeval_proposed_answers.txt"
    )
    assert rescored["official_macro_f1"] == pytest.approx(scores.metrics["macro_f1"])


def test_tacred_pipeline_on_handwritten_records(bundled, tmp_path):
    records = [
        tacred_record(f"r{i}", relation="org:founded_by" if i % 2 else "no_relation") for i in range(12)
    ]
    write_json(tmp_path / "train.json", records)
    write_json(tmp_path / "test.json", records[:6])
    cfg = rel.TacredConfig(input_format="typed_entity_marker", classifier="entity_start", max_seq_len=32)
    train = rel.TACRED.load(str(tmp_path), "train", cfg)
    test = rel.TACRED.load(str(tmp_path), "eval", cfg)
    predictions, scores, _ = run_pipeline(rel.TACRED, cfg, train, test, fresh_tokenizer(bundled), steps=10)
    assert set(scores.metrics) == {"precision", "recall", "f1"}
    assert "f1_by_type_pair" in scores.breakdowns and "confusion_matrix" in scores.breakdowns
    assert {"correct", "guessed", "gold"} <= scores.per_example[0].keys()
    rel.TACRED.write_predictions(tmp_path, test.examples, predictions, scores)
    assert (tmp_path / "tacred_predictions.txt").read_text().splitlines() == predictions


def test_entity_mask_token_ids_do_not_depend_on_example_order(bundled):
    cfg = rel.TacredConfig()
    ids = []
    for _ in range(2):
        tok = rel.TACRED.prepare_tokenizer(fresh_tokenizer(bundled), cfg)
        ids.append({t: tok.convert_tokens_to_ids(t) for t in rel.TACRED.new_tokens(cfg)})
    assert ids[0] == ids[1] and len(ids[0]) == 19
    assert sorted(ids[0], key=ids[0].get) == sorted(ids[0])  # added in sorted order after the vocab
    assert min(ids[0].values()) == 28996


def test_build_model_resizes_embeddings_and_tokenizer_round_trips(bundled, tmp_path):
    cfg = rel.TacredConfig()
    tok = rel.TACRED.prepare_tokenizer(fresh_tokenizer(bundled), cfg)
    model = rel.TACRED.build_model(tiny_encoder(), tok, cfg)
    assert model.encoder.get_input_embeddings().num_embeddings == len(tok) == 28996 + 19
    tok.save_pretrained(tmp_path)  # the checkpoint's tokenizer keeps the mapping
    again = BertTokenizerFast.from_pretrained(tmp_path)
    assert again.convert_tokens_to_ids("[SUBJ-PERSON]") == tok.convert_tokens_to_ids("[SUBJ-PERSON]")


def test_config_errors(bundled):
    typed = rel.SemevalConfig(input_format="typed_entity_marker")
    with pytest.raises(ConfigError, match="needs entity types"):
        rel.SEMEVAL2010.prepare_tokenizer(fresh_tokenizer(bundled), typed)
    with pytest.raises(ConfigError, match="call prepare_tokenizer first"):
        rel.TACRED.encode([], fresh_tokenizer(bundled), rel.TacredConfig(), True)


def test_cli_score_semeval(shared_data, capsys):
    from spaneval import cli

    d = shared_data / "relation/semeval2010-task8/SemEval2010_task8_scorer-v1.2"
    cli.main(
        [
            "score",
            "semeval2010",
            "--key",
            str(d / "answer_key1.txt"),
            "--predictions",
            str(d / "proposed_answer1.txt"),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert round(out["official_macro_f1"], 2) == 64.09


def test_cli_run_semeval_tiny(tmp_path, monkeypatch):
    from spaneval import cli
    from spaneval.tasks.registry import TASKS

    monkeypatch.setitem(TASKS, "semeval2010", rel.SEMEVAL2010)  # until the lead registers it
    code = cli.main(["run", "semeval2010", "--model", "tiny", "--output", str(tmp_path), "--preset", "tiny",
                     "max_steps=3", "batch_size=8"])  # fmt: skip
    assert code in (0, None)
    (record_path,) = tmp_path.rglob("record.json")
    record = json.loads(record_path.read_text())
    assert record["task"] == "semeval2010" and "macro_f1" in record["metrics"]
    assert (record_path.parent / "semeval_proposed_answers.txt").is_file()


def test_classifier_can_overfit_a_few_sentences(bundled):
    """A learning signal, not a score: 8 training sentences are fitted within a few dozen steps."""
    cfg = rel.SemevalConfig(
        input_format="entity_marker", classifier="entity_start", max_seq_len=64, dropout=0.0
    )
    tok = rel.SEMEVAL2010.prepare_tokenizer(fresh_tokenizer(bundled), cfg)
    examples = rel.SEMEVAL2010.load("bundled", "train", cfg).examples[:8]
    features = rel.SEMEVAL2010.encode(examples, tok, cfg, True)
    model = rel.SEMEVAL2010.build_model(tiny_encoder(), tok, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = rel.SEMEVAL2010.collate(features)
    for _ in range(25):
        model(**batch)["loss"].backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    with torch.no_grad():
        logits = model(**batch)["logits"].numpy()
    predictions = rel.SEMEVAL2010.decode(examples, features, [{"logits": logits}], cfg)
    assert sum(p == ex.label for p, ex in zip(predictions, examples, strict=True)) >= 7


def test_cli_run_and_score_tacred_with_patch(tmp_path, monkeypatch, capsys):
    from spaneval import cli
    from spaneval.tasks.registry import TASKS

    monkeypatch.setitem(TASKS, "tacred", rel.TACRED)  # until the lead registers it
    records = [
        tacred_record(f"r{i}", relation="org:founded_by" if i % 2 else "no_relation") for i in range(8)
    ]
    for split in ("train", "dev", "test"):
        write_json(tmp_path / f"{split}.json", records)
    patch = write_json(tmp_path / "test_patch.json", [{"id": "r1", "relation": "no_relation"}])
    out = tmp_path / "results"
    argv = ["run", "tacred", "--model", "tiny", "--data", str(tmp_path), "--patch", str(patch)]
    cli.main([*argv, "--output", str(out), "max_steps=2", "batch_size=4", "max_seq_len=32"])
    (record_path,) = out.rglob("record.json")
    record = json.loads(record_path.read_text())
    assert record["config"]["task"]["patch"] == str(patch)
    assert {"f1_by_type_pair", "f1_by_entity_distance", "per_relation"} <= set(record["breakdowns"])
    capsys.readouterr()
    predictions = record_path.parent / "tacred_predictions.txt"
    cli.main(["score", "tacred", "--data", str(tmp_path / "test.json"), "--predictions", str(predictions),
              "--patch", str(patch)])  # fmt: skip
    scored = json.loads(capsys.readouterr().out)
    assert scored["f1"] == pytest.approx(record["metrics"]["f1"])
