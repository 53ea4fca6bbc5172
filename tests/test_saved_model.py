"""`run --save-model` folders: standard transformers checkpoints where a class exists (every key
matched, the same logits as spaneval's model), encoder + head otherwise, and `spaneval predict`
reproducing the run's scores from the saved folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from spaneval.cli import main
from spaneval.errors import SpanevalError
from spaneval.saved_model import TASK_FILE, load_task_model, rename_keys, save_task_model
from spaneval.tasks.registry import TASKS
from tests.test_relation_task import fresh_tokenizer


def _encoder() -> torch.nn.Module:
    """A small random encoder without a pooler, as the runner loads encoders (models.load_encoder)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=28996, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    return BertModel(cfg, add_pooling_layer=False)


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Random non-zero weights everywhere (zero-initialised biases would hide a mismatched key)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _task_model(task_name: str, bundled: Path, **cfg_fields):
    task = TASKS[task_name]
    cfg = task.config_cls(**cfg_fields)
    tokenizer = task.prepare_tokenizer(fresh_tokenizer(bundled), cfg)
    split = task.load("bundled", "eval", cfg)
    examples = split.examples[:6]
    features = task.encode(examples, tokenizer, cfg, False)
    model = _perturbed(task.build_model(_encoder(), tokenizer, cfg))
    return task, cfg, tokenizer, model, task.collate([features[i] for i in range(min(4, len(features)))])


def _save(tmp_path: Path, task, cfg, tokenizer, model) -> Path:
    out = tmp_path / "run" / "model"
    out.mkdir(parents=True)
    save_task_model(out, model, tokenizer, task, cfg, tmp_path / "run")
    return out


def _hf_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_qa_model_is_a_standard_bert_for_question_answering(bundled, tmp_path):
    task, cfg, tokenizer, model, batch = _task_model("squad", bundled, max_seq_len=128)
    out = _save(tmp_path, task, cfg, tokenizer, model)
    hf, info = AutoModelForQuestionAnswering.from_pretrained(out, output_loading_info=True)
    assert type(hf).__name__ == "BertForQuestionAnswering"
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    with torch.no_grad():
        ours, theirs = model(**batch), hf.eval()(**_hf_inputs(batch))
    torch.testing.assert_close(theirs.start_logits, ours["start_logits"], rtol=0, atol=1e-5)
    torch.testing.assert_close(theirs.end_logits, ours["end_logits"], rtol=0, atol=1e-5)
    card = (out / "README.md").read_text()
    assert str(tmp_path / "run" / "record.json") in card and "AutoModelForQuestionAnswering" in card


def test_relation_cls_model_is_a_standard_bert_for_sequence_classification(bundled, tmp_path):
    task, cfg, tokenizer, model, batch = _task_model("semeval2010", bundled, classifier="cls", max_seq_len=64)
    out = _save(tmp_path, task, cfg, tokenizer, model)
    hf, info = AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert type(hf).__name__ == "BertForSequenceClassification"
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert hf.config.id2label[0] == task.labels_of(cfg)[0] and hf.num_labels == len(task.labels_of(cfg))
    with torch.no_grad():
        ours, theirs = model(**batch), hf.eval()(**_hf_inputs(batch))
    torch.testing.assert_close(theirs.logits, ours["logits"], rtol=0, atol=1e-5)
    # the entity markers travel with the tokenizer (the embeddings were resized for them)
    saved_tokens = json.loads((out / "tokenizer.json").read_text())["added_tokens"]
    assert {t["content"] for t in saved_tokens} >= set(task.new_tokens(cfg))
    assert hf.config.vocab_size == len(tokenizer) > 28996


@pytest.mark.parametrize(
    ("task_name", "fields"),
    [
        ("semeval2010", {"classifier": "entity_start", "max_seq_len": 64}),
        ("coref", {"max_segment_len": 128, "ffnn_size": 16, "coref_depth": 2, "max_top_antecedents": 5}),
    ],
)
def test_heads_without_a_transformers_class_save_encoder_plus_head(bundled, tmp_path, task_name, fields):
    task, cfg, tokenizer, model, batch = _task_model(task_name, bundled, **fields)
    out = _save(tmp_path, task, cfg, tokenizer, model)
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertModel"]
    assert (out / "head.safetensors").is_file()
    loaded = load_task_model(out)
    assert loaded.task is task and loaded.task_cfg == cfg and loaded.architecture == "BertModel"
    with torch.no_grad():
        ours, again = model(**batch), loaded.model(**batch)
    for key, value in ours.items():
        if torch.is_tensor(value) and value.is_floating_point():
            torch.testing.assert_close(again[key], value, rtol=0, atol=1e-5)


def test_rename_keys_refuses_an_unmapped_weight():
    assert rename_keys(
        {"pooler.weight": 1, "encoder.x": 2}, {"encoder.": "bert.", "pooler.": "bert.pooler.dense."}
    ) == {
        "bert.pooler.dense.weight": 1,
        "bert.x": 2,
    }
    with pytest.raises(SpanevalError, match=r"dropout\.p"):
        rename_keys({"dropout.p": 0}, {"encoder.": "bert."})


def test_load_refuses_a_folder_without_the_task_file(tmp_path):
    with pytest.raises(SpanevalError, match=TASK_FILE):
        load_task_model(tmp_path)


QUICK_SQUAD = ["max_train_examples=24", "max_eval_examples=30", "max_seq_len=128", "epochs=1", "batch_size=8"]


@pytest.mark.parametrize(
    ("task_name", "options"),
    [
        ("squad", QUICK_SQUAD),
        ("semeval2010", ["--preset", "tiny", "max_steps=3", "batch_size=8"]),
    ],
)
def test_predict_from_saved_model_reproduces_the_run(tmp_path, monkeypatch, capsys, task_name, options):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["run", task_name, "--model", "tiny", "--output", str(tmp_path / "results"), "--save-model"]
    assert main([*argv, *options]) == 0
    (record_path,) = (tmp_path / "results").rglob("record.json")
    record = json.loads(record_path.read_text())
    model_dir = record_path.parent / "model"
    assert json.loads((model_dir / TASK_FILE).read_text())["run_id"] == record["run_id"]
    data = record["data"]["eval"]["path"]
    assert (
        main(
            ["predict", task_name, "--model", str(model_dir), "--data", data, "--output", str(tmp_path / "p")]
        )
        == 0
    )
    scores = json.loads((tmp_path / "p" / "scores.json").read_text())
    assert scores["metrics"] == pytest.approx(record["metrics"], abs=1e-9)
    assert "scores.json written" in capsys.readouterr().out


def test_predict_refuses_a_model_of_another_task(tmp_path, bundled, capsys):
    task, cfg, tokenizer, model, _ = _task_model("squad", bundled, max_seq_len=128)
    out = _save(tmp_path, task, cfg, tokenizer, model)
    assert main(["predict", "semeval2010", "--model", str(out), "--data", "bundled"]) == 2
    assert "is a squad model" in capsys.readouterr().err


def test_a_saved_qa_head_is_continued_and_other_heads_start_new(bundled, tmp_path):
    """`run squad --model FOLDER` with a BertForQuestionAnswering folder starts from its qa_outputs (as
    AutoModelForQuestionAnswering would); a plain encoder or a classifier (label-dependent rows) does not."""
    from spaneval.saved_model import start_head_from

    task, cfg, tokenizer, model, _ = _task_model("squad", bundled, max_seq_len=128)
    out = _save(tmp_path, task, cfg, tokenizer, model)
    fresh = task.build_model(_encoder(), tokenizer, cfg)
    assert not torch.equal(fresh.qa_outputs.weight, model.qa_outputs.weight)
    assert start_head_from(fresh, out) == "BertForQuestionAnswering"
    torch.testing.assert_close(fresh.qa_outputs.weight, model.qa_outputs.weight, rtol=0, atol=0)
    torch.testing.assert_close(fresh.qa_outputs.bias, model.qa_outputs.bias, rtol=0, atol=0)

    encoder_only = tmp_path / "encoder"
    _encoder().save_pretrained(encoder_only)
    assert start_head_from(task.build_model(_encoder(), tokenizer, cfg), encoder_only) is None

    rel_task, rel_cfg, rel_tok, rel_model, _ = _task_model(
        "semeval2010", bundled, classifier="cls", max_seq_len=64
    )
    rel_out = _save(tmp_path / "rel", rel_task, rel_cfg, rel_tok, rel_model)
    assert start_head_from(rel_task.build_model(_encoder(), rel_tok, rel_cfg), rel_out) is None


def test_a_qa_folder_whose_weights_lack_the_head_is_an_error(bundled, tmp_path):
    from spaneval.saved_model import start_head_from

    task, cfg, tokenizer, model, _ = _task_model("squad", bundled, max_seq_len=128)
    out = tmp_path / "claims-qa"
    model.encoder.save_pretrained(out)  # encoder weights only ...
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "architectures": ["BertForQuestionAnswering"]}))
    with pytest.raises(SpanevalError, match="--new-head"):  # ... but config.json claims a QA head
        start_head_from(task.build_model(_encoder(), tokenizer, cfg), out)


def test_run_records_where_the_head_started(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = ["run", "squad", "--model", "tiny", "--output", str(tmp_path / "a"), "--save-model", *QUICK_SQUAD]
    assert main(first) == 0
    (record_path,) = (tmp_path / "a").rglob("record.json")
    assert json.loads(record_path.read_text())["model"]["head"] == "new"
    saved = str(record_path.parent / "model")
    for flag, expected in (([], "BertForQuestionAnswering in the model folder"), (["--new-head"], "new")):
        out = tmp_path / ("b" + "".join(flag))
        assert main(["run", "squad", "--model", saved, "--output", str(out), *flag, *QUICK_SQUAD]) == 0
        (again,) = out.rglob("record.json")
        assert json.loads(again.read_text())["model"]["head"] == expected
