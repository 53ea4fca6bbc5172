"""The Hugging Face reference QA pipeline, as `examples/pytorch/question-answering/run_qa.py` runs it.

Written from reading run_qa.py, utils_qa.py and trainer_qa.py (transformers' examples): feature
preparation with the fast tokenizer's overflowing windows (`stride=` is the overlap between windows),
labels from the first answer's `answer_start` (a window not containing the whole answer is labelled
with its [CLS] index), `Trainer` + `BertForQuestionAnswering`, then n-best decoding over every window
without a max-context filter. It is the yardstick of `spaneval bench qa-parity`, not part of spaneval's
own pipeline; only SQuAD v1.1 (no null answer) is needed there.

Deliberate departures from run_qa.py, each to keep the comparison like for like:
- `max_train_samples` / `max_eval_samples` cut questions only; run_qa.py cuts the windows again after
  feature creation, which drops windows (and for evaluation, parts of questions).
- windows are padded per batch (`pad_to_max_length=False`, `DataCollatorWithPadding`) and the length
  grouping follows spaneval's `group_by_length`: what a competent user does on a CPU.
- no checkpoints are saved during training (`save_strategy="no"`).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spaneval.bench.qa_decode import window_candidates
from spaneval.errors import DataError
from spaneval.models import tokenizer_settings


@dataclass(frozen=True)
class ReferenceSettings:
    """The run_qa.py arguments the benchmark sets (the rest keep run_qa.py's defaults)."""

    max_seq_len: int
    doc_stride: int  # run_qa.py meaning: tokens shared by consecutive windows
    learning_rate: float
    batch_size: int
    epochs: float
    warmup_ratio: float
    weight_decay: float
    group_by_length: bool
    eval_batch_size: int = 64
    n_best: int = 20
    max_answer_len: int = 30


def read_squad_rows(path: Path, limit: int = 0) -> list[dict[str, Any]]:
    """A SQuAD file flattened to one row per question, with `answers` as {"text": [...], "answer_start":
    [...]} (the `datasets` squad layout), in file order; the first `limit` questions when limit > 0."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(path, None, f"cannot read a SQuAD JSON file ({type(err).__name__}: {err})") from None
    rows = [
        {
            "id": qa["id"],
            "title": article["title"],
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return rows[:limit] if limit > 0 else rows


def _tokenize_windows(rows: list[dict[str, Any]], tokenizer: Any, settings: ReferenceSettings) -> Any:
    # run_qa.py strips leading whitespace from questions: a long blank prefix would eat the context budget.
    return tokenizer(
        [r["question"].lstrip() for r in rows],
        [r["context"] for r in rows],
        truncation="only_second",
        max_length=settings.max_seq_len,
        stride=settings.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def _answer_token_span(offsets, sequence_ids, start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token span of chars [start_char, end_char) in one window, or None when it is not all inside.

    The start is the last token starting at or before `start_char` (the scan may run past the context
    onto [SEP], whose offsets are (0, 0), when the answer starts on the window's last token: run_qa.py
    labels that rare case the same way); the end is the first context token ending at or after `end_char`.
    """
    context = [k for k, s in enumerate(sequence_ids) if s == 1]
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return None
    start = first
    while start < len(offsets) and offsets[start][0] <= start_char:
        start += 1
    end = last
    while offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def prepare_train_features(
    rows: list[dict[str, Any]], tokenizer: Any, settings: ReferenceSettings
) -> list[dict]:
    """Training windows with start/end labels (the [CLS] index when the answer is not in the window)."""
    enc = _tokenize_windows(rows, tokenizer, settings)
    features = []
    for i, row_index in enumerate(enc["overflow_to_sample_mapping"]):
        ids = enc["input_ids"][i]
        cls_index = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        answers = rows[row_index]["answers"]
        span = None
        if answers["answer_start"]:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            span = _answer_token_span(enc["offset_mapping"][i], enc.sequence_ids(i), start_char, end_char)
        start, end = span if span is not None else (cls_index, cls_index)
        features.append(
            {
                "input_ids": ids,
                "token_type_ids": enc["token_type_ids"][i],
                "attention_mask": enc["attention_mask"][i],
                "start_positions": start,
                "end_positions": end,
            }
        )
    return features


def prepare_validation_features(
    rows: list[dict[str, Any]], tokenizer: Any, settings: ReferenceSettings
) -> tuple[list[dict], list[int], list[list]]:
    """(model inputs per window, the row of each window, per-window offsets with None off the context)."""
    enc = _tokenize_windows(rows, tokenizer, settings)
    inputs, row_of, offsets = [], [], []
    for i, row_index in enumerate(enc["overflow_to_sample_mapping"]):
        inputs.append({k: enc[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")})
        row_of.append(int(row_index))
        seq = enc.sequence_ids(i)
        offsets.append([o if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])])
    return inputs, row_of, offsets


def postprocess_qa_predictions(
    rows: list[dict[str, Any]],
    row_of: list[int],
    offsets: list[list],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best: int = 20,
    max_answer_len: int = 30,
) -> dict[str, str]:
    """{question id: answer text}: over all windows of a question, the best-scoring (start + end logit)
    pair among the top `n_best` starts and ends that lies in the context, ends after it starts and is
    at most `max_answer_len` tokens; "empty" when no pair qualifies (utils_qa.py's fallback)."""
    windows: dict[int, list[int]] = {}
    for w, r in enumerate(row_of):
        windows.setdefault(r, []).append(w)
    predictions = {}
    for r, row in enumerate(rows):
        best = {"score": -np.inf, "offsets": None}
        for w in windows.get(r, []):
            every_token = dict.fromkeys(range(len(offsets[w])), True)  # no max-context filter in run_qa.py
            for cand in window_candidates(
                start_logits[w], end_logits[w], offsets[w], every_token, n_best, max_answer_len
            ):
                if cand["score"] > best["score"]:  # strict: the first of equal scores wins, as a stable sort
                    best = cand
        begin_end = best["offsets"]
        predictions[row["id"]] = row["context"][begin_end[0] : begin_end[1]] if begin_end else "empty"
    return predictions


def training_arguments(settings: ReferenceSettings, seed: int, output_dir: str) -> Any:
    """TrainingArguments for a CPU or single-device fp32 run without checkpoints or reporting."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    # transformers 5 folds `warmup_ratio` into `warmup_steps` (< 1: a ratio) and `group_by_length`
    # into `train_sampling_strategy`; 4.x has the older names.
    version_kwargs = {
        "warmup_ratio" if "warmup_ratio" in names else "warmup_steps": settings.warmup_ratio,
        **(
            {"train_sampling_strategy": "group_by_length" if settings.group_by_length else "random"}
            if "train_sampling_strategy" in names
            else {"group_by_length": settings.group_by_length}
        ),
    }
    return TrainingArguments(
        output_dir=output_dir,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        num_train_epochs=settings.epochs,
        weight_decay=settings.weight_decay,
        lr_scheduler_type="linear",
        seed=seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_steps=10,
        dataloader_num_workers=0,
        **version_kwargs,
    )


def _sequential_evaluation(trainer: Any) -> None:
    """Predict in file order. transformers 5 applies `group_by_length` to evaluation too
    (`Trainer._get_eval_sampler` returns a LengthGroupedSampler), so `predict` would return the windows'
    logits shuffled against `row_of` and `offsets`, and every answer would come from another window.
    run_qa.py's post-processing assumes file order; training is over, so only evaluation changes."""
    if getattr(trainer.args, "train_sampling_strategy", None) == "group_by_length":
        trainer.args.train_sampling_strategy = "random"  # evaluation then uses a SequentialSampler


def run_reference(
    model_path: Path, train_rows: list[dict], eval_rows: list[dict], settings: ReferenceSettings, seed: int
) -> dict[str, Any]:
    """Fine-tune and predict the run_qa.py way; predictions, wall times and what the run used."""
    from transformers import (
        AutoTokenizer,
        BertForQuestionAnswering,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )

    t0 = time.perf_counter()
    set_seed(seed)  # run_qa.py seeds before building the model: the new qa_outputs layer's init
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    model, loading = BertForQuestionAnswering.from_pretrained(
        model_path, local_files_only=True, output_loading_info=True
    )
    new_head = any(k.startswith("qa_outputs.") for k in loading["missing_keys"])
    train_features = prepare_train_features(train_rows, tokenizer, settings)
    eval_inputs, row_of, offsets = prepare_validation_features(eval_rows, tokenizer, settings)
    with tempfile.TemporaryDirectory(prefix="spaneval-hf-qa-") as out:
        trainer = Trainer(
            model=model,
            args=training_arguments(settings, seed, out),
            train_dataset=train_features,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        t_train = time.perf_counter()
        train_output = trainer.train()
        t_eval = time.perf_counter()
        _sequential_evaluation(trainer)
        start_logits, end_logits = trainer.predict(eval_inputs).predictions[:2]
    predictions = postprocess_qa_predictions(
        eval_rows, row_of, offsets, start_logits, end_logits, settings.n_best, settings.max_answer_len
    )
    t_end = time.perf_counter()
    return {
        "predictions": predictions,
        "train_s": t_eval - t_train,
        "eval_s": t_end - t_eval,
        "total_s": t_end - t0,
        "train_features": len(train_features),
        "eval_features": len(eval_inputs),
        "steps": train_output.global_step,
        "mean_train_loss": float(train_output.training_loss),
        # Trainer divides the loss by the items in the batch itself only when the batch has "labels";
        # QA batches have start/end positions, so the model's own mean loss is used as is (no doubling).
        "model_accepts_loss_kwargs": bool(trainer.model_accepts_loss_kwargs),
        "optim": str(trainer.args.optim),
        "attn_implementation": model.config._attn_implementation,
        "tokenizer": tokenizer_settings(tokenizer),
        "head": "new" if new_head else "BertForQuestionAnswering in the model folder",
    }
