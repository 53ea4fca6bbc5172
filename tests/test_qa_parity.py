"""`bench qa-parity`: the Hugging Face reference pieces, the seed order, and one tiny end-to-end run."""

import argparse
import json

import numpy as np
import pytest

from spaneval.bench import hf_qa_reference as ref
from spaneval.bench import qa_parity
from spaneval.errors import DataError
from spaneval.models import bundled_tokenizer

SETTINGS = ref.ReferenceSettings(
    max_seq_len=64, doc_stride=16, learning_rate=1e-4, batch_size=4, epochs=1.0, warmup_ratio=0.1,
    weight_decay=0.01, group_by_length=True,
)  # fmt: skip


def _row(qid, context, question, answer=None):
    start = context.find(answer) if answer else None
    return {
        "id": qid,
        "title": "t",
        "context": context,
        "question": question,
        "answers": {"text": [answer] if answer else [], "answer_start": [start] if answer else []},
    }


def test_answer_token_span_inside_outside_and_at_the_window_end():
    offsets = [(0, 0), (0, 3), (4, 9), (10, 14), (0, 0)]  # [CLS] q ... then context tokens, [SEP]
    seq = [None, 1, 1, 1, None]
    assert ref._answer_token_span(offsets, seq, 4, 9) == (2, 2)
    assert ref._answer_token_span(offsets, seq, 0, 9) == (1, 2)
    assert ref._answer_token_span(offsets, seq, 10, 20) is None  # runs past the window
    # run_qa.py's scan steps over [SEP] (offsets (0, 0)) when the answer starts on the last token
    assert ref._answer_token_span(offsets, seq, 10, 14) == (4, 3)


def test_train_features_label_the_answer_or_cls(bundled):
    rows = ref.read_squad_rows(bundled / "squad" / "train-sample.json", 30)
    tok = bundled_tokenizer()
    features = ref.prepare_train_features(rows, tok, SETTINGS)
    enc = ref._tokenize_windows(rows, tok, SETTINGS)
    labelled = 0
    for i, f in enumerate(features):
        assert len(f["input_ids"]) <= SETTINGS.max_seq_len
        if f["start_positions"] == 0:
            assert f["end_positions"] == 0
            continue
        labelled += 1
        row, offsets = rows[enc["overflow_to_sample_mapping"][i]], enc["offset_mapping"][i]
        span = row["context"][offsets[f["start_positions"]][0] : offsets[f["end_positions"]][1]]
        assert row["answers"]["text"][0] in span
    assert labelled >= len(rows)  # every answer fits in some 64-token window


def test_postprocess_picks_the_best_admissible_span_over_windows():
    rows = [_row("q1", "alpha beta gamma", "?"), _row("q2", "delta", "?")]
    # q1 has two windows; window 1 holds the best admissible pair (start 1, end 2); position 0 is off context
    offsets = [[None, (0, 5), (6, 10)], [None, (6, 10), (11, 16)], [None, (0, 5), None]]
    start = np.array([[9.0, 1.0, 0.0], [9.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    end = np.array([[9.0, 0.0, 1.0], [9.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    preds = ref.postprocess_qa_predictions(rows, [0, 0, 1], offsets, start, end)
    assert preds == {"q1": "beta gamma", "q2": "delta"}
    # 'delta' is two tokens here; an end before its start, an over-long span or a window without
    # context tokens is not admissible
    one, offsets = [0], [[None, (0, 2), (3, 5)]]
    decode = ref.postprocess_qa_predictions
    assert decode(rows[1:], one, offsets, np.array([[0.0, 3, 1]]), np.array([[0.0, 1, 3]])) == {"q2": "delta"}
    assert decode(rows[1:], one, offsets, np.array([[0.0, 3, 1]]), np.array([[0.0, 1, 3]]), 20, 1) == {
        "q2": "de"
    }
    assert decode(rows[1:], one, offsets, np.array([[0.0, 1, 3]]), np.array([[0.0, 3, 1]])) == {"q2": "ta"}
    assert decode(rows[1:], one, [[None, None, None]], start[:1], end[:1]) == {"q2": "empty"}


def test_both_pipelines_must_read_the_same_answer_starts(bundled):
    path = bundled / "squad" / "train-sample.json"
    rows = ref.read_squad_rows(path, 5)
    qa_parity.check_same_answers(path, rows)
    rows[3]["answers"]["answer_start"][0] += 1
    with pytest.raises(DataError, match=rows[3]["id"]):
        qa_parity.check_same_answers(path, rows)


def test_score_counts_valid_predictions():
    rows = [_row("a", "the cat sat", "?", "cat"), _row("b", "a dog ran", "?", "dog")]
    out = qa_parity.score(rows, {"a": "cat", "b": "empty"})
    assert out["exact_match"] == 50.0 and out["questions"] == 2 and out["valid_predictions"] == 1


def test_seeds_alternate_which_pipeline_goes_first(monkeypatch):
    calls = []

    def fake(side):
        def run(*args):
            calls.append((side, args[-2] if side == "spaneval" else args[-1]))
            return {"predictions": {}, "train_s": 1.0, "eval_s": 1.0, "total_s": 2.0, "mean_train_loss": 1.0}

        return run

    monkeypatch.setattr(qa_parity, "run_spaneval", fake("spaneval"))
    monkeypatch.setattr(qa_parity, "run_reference", fake("hf"))
    ctx = dict.fromkeys(("model", "model_path", "train", "eval", "args", "results", "train_rows", "settings"))
    ctx["eval_rows"], ctx["args"] = [], argparse.Namespace(same_head=False)
    for i, seed in enumerate((1, 2, 3)):
        out = qa_parity._run_seed(i, seed, ctx)
        assert out["spaneval"]["position"] == (1 if i % 2 == 0 else 2)
    assert [c[0] for c in calls] == ["spaneval", "hf", "hf", "spaneval", "spaneval", "hf"]
    assert [c[1] for c in calls] == [1, 1, 2, 2, 3, 3]


def test_skips_cleanly_without_the_shared_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SPANEVAL_SHARED_MODELS", str(tmp_path))
    result = qa_parity.main(["--seeds", "1"])
    assert "not found" in result["skipped"]
    assert json.loads(capsys.readouterr().out) == result


def test_an_interrupted_run_keeps_the_seeds_it_finished(bundled, tmp_path, monkeypatch):
    def one_seed(i, seed, ctx):
        if seed == 2:
            raise KeyboardInterrupt
        run = {"seed": seed, "exact_match": 50.0, "f1": 60.0, "train_s": 1.0, "eval_s": 1.0, "total_s": 2.0}
        return {"spaneval": run, "hf": {**run, "f1": 59.0}}

    monkeypatch.setattr(qa_parity, "_run_seed", one_seed)
    out_file = tmp_path / "parity.json"
    argv = ["--model", "tiny", "--train", str(bundled / "squad" / "train-sample.json")]
    argv += ["--eval", str(bundled / "squad" / "dev-sample.json"), "--seeds", "1,2,3"]
    argv += ["--output", str(out_file)]
    with pytest.raises(KeyboardInterrupt):
        qa_parity.main(argv)
    saved = json.loads(out_file.read_text())
    assert saved["complete"] is False and saved["seeds_finished"] == [1] and saved["seeds"] == [1, 2, 3]
    assert saved["difference"]["f1"] == {"mean": 1.0, "per_seed": [1.0]}


@pytest.mark.slow
def test_tiny_end_to_end_both_pipelines_answer_every_question(bundled, tmp_path, capsys):
    out_file = tmp_path / "parity.json"
    argv = ["--model", "tiny", "--train", str(bundled / "squad" / "train-sample.json")]
    argv += ["--eval", str(bundled / "squad" / "dev-sample.json"), "--seeds", "1", "--epochs", "1"]
    argv += ["--max-train-examples", "24", "--max-eval-examples", "12", "--batch-size", "8"]
    argv += ["--max-seq-len", "128", "--doc-stride", "64", "--output", str(out_file)]
    result = qa_parity.main(argv)
    stdout = capsys.readouterr().out.strip().splitlines()
    assert len(stdout) == 1 and json.loads(stdout[0]) == result == json.loads(out_file.read_text())
    assert result["complete"] is True and result["seeds_finished"] == [1]
    assert result["data"]["eval"]["questions"] == 12 and result["seeds"] == [1]
    for side in ("spaneval", "hf"):
        (run,) = result[side]["runs"]
        assert run["questions"] == run["valid_predictions"] == 12
        assert run["steps"] >= 3 and run["train_s"] > 0 and run["eval_s"] > 0
        assert 0 <= run["exact_match"] <= run["f1"] <= 100
        assert result[side]["f1"]["mean"] == pytest.approx(run["f1"], abs=1e-3)
        assert run["head"] == "BertForQuestionAnswering in the model folder"  # the seed's shared start
    assert result["options"]["hf"]["doc_stride"] == result["options"]["spaneval"]["doc_stride"] == 64
    em = result["spaneval"]["exact_match"]["mean"] - result["hf"]["exact_match"]["mean"]
    assert result["difference"]["exact_match"]["mean"] == pytest.approx(em, abs=1e-3)
    # both sides compute the same mean (start + end) / 2 cross-entropy: no loss scaling by the Trainer
    ours_loss, hf_loss = (result[s]["runs"][0]["mean_train_loss"] for s in ("spaneval", "hf"))
    assert 0.5 < ours_loss / hf_loss < 2.0


def test_reference_predicts_in_file_order_under_group_by_length(tmp_path):
    """transformers 5 length-groups evaluation too; the reference must predict windows in file order,
    or every answer is read from another window's logits (EM near 0: the first parity check's gap)."""
    import torch
    from transformers import AutoTokenizer, BertForQuestionAnswering, Trainer

    from spaneval.models import resolve_model

    path = resolve_model("tiny").path
    trainer = Trainer(
        model=BertForQuestionAnswering.from_pretrained(path),
        args=ref.training_arguments(SETTINGS, 1, str(tmp_path)),
        processing_class=AutoTokenizer.from_pretrained(path),
    )
    windows = [{"input_ids": [101] + [7] * n + [102]} for n in (3, 40, 9, 25, 1, 60, 12, 5)]
    ref._sequential_evaluation(trainer)
    assert isinstance(trainer._get_eval_sampler(windows), torch.utils.data.SequentialSampler)


def test_the_fine_tuning_loop_takes_the_trainers_steps(bundled, tmp_path):
    """Same windows, batch order, head init and learning-rate schedule, dropout off: spaneval's loop and
    transformers' Trainer (its own AdamW groups, fused choice, clipping and loss) compute the same loss
    at every step and end with the same weights. So a parity gap is not in the loop; what remains
    differs by design: the schedule's first step (ours (step + 1) / warmup, HF's step / warmup with
    warmup rounded up), a last partial batch (ours wraps into the next epoch), windows and decoding."""
    import torch
    from transformers import AutoModel, BertForQuestionAnswering, Trainer

    from spaneval.distributed import DistInfo
    from spaneval.finetune import _epoch_permutation, finetune
    from spaneval.models import load_tokenizer, resolve_model
    from spaneval.runner import build_configs
    from spaneval.tasks.qa import SQUAD
    from spaneval.tasks.qa_model import SpanExtractionModel
    from spaneval.training_core import linear_warmup_decay

    model = resolve_model("tiny")
    overrides = {"max_seq_len": "96", "doc_stride": "32", "batch_size": "4", "epochs": "1"}
    overrides |= {"learning_rate": "3e-4", "warmup_ratio": "0.25", "precision": "fp32"}
    overrides["group_by_length"] = "false"
    configs = build_configs(SQUAD, None, overrides)
    task_cfg, train_cfg = configs["task"], configs["train"]
    split = SQUAD.load(str(bundled / "squad" / "train-sample.json"), "train", task_cfg)
    encoded = SQUAD.encode(split.examples, load_tokenizer(model), task_cfg, True)
    features = [encoded[i] for i in range(32)]  # 8 full batches
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    no_dropout["attn_implementation"] = "sdpa"
    torch.manual_seed(0)
    ours = SpanExtractionModel(AutoModel.from_pretrained(model.path, add_pooling_layer=False, **no_dropout))
    hf = BertForQuestionAnswering.from_pretrained(model.path, **no_dropout)
    hf.qa_outputs.load_state_dict(ours.qa_outputs.state_dict())

    summary = finetune(
        ours,
        features,
        SQUAD.collate,
        SQUAD.param_groups(ours, train_cfg),
        train_cfg,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")),
        seed=7,
        checkpoint_dir=tmp_path / "ours",
    )
    order = _epoch_permutation(7, 0, len(features)).tolist()

    class SameOrderAndSchedule(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return order  # a list is a valid sampler: the indices in this order

        def create_scheduler(self, num_training_steps, optimizer=None):
            warmup = int(train_cfg.warmup_ratio * num_training_steps)
            self.lr_scheduler = linear_warmup_decay(optimizer or self.optimizer, warmup, num_training_steps)
            return self.lr_scheduler

    settings = ref.ReferenceSettings(96, 32, 3e-4, 4, 1.0, 0.25, 0.01, group_by_length=False)
    args = ref.training_arguments(settings, 7, str(tmp_path / "hf"))
    args.logging_steps = 1
    trainer = SameOrderAndSchedule(model=hf, args=args, train_dataset=features, data_collator=SQUAD.collate)
    trainer.train()
    hf_losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert summary.steps == len(hf_losses) == 8
    assert summary.losses == pytest.approx(hf_losses, rel=1e-4)
    assert summary.losses[-1] < summary.losses[0]  # it learned: the comparison is not of two idle models
    theirs = hf.state_dict()
    for key, value in ours.state_dict().items():
        hf_key = "bert." + key.removeprefix("encoder.") if key.startswith("encoder.") else key
        torch.testing.assert_close(value, theirs[hf_key], atol=2e-5, rtol=1e-4)
