"""Fine-tuned task models saved as standard folders, and loaded back for `spaneval predict`.

Where transformers has the architecture (QA: BertForQuestionAnswering; relations with the `cls`
classifier: BertForSequenceClassification) the folder is that class's save_pretrained output, so
`AutoModelForQuestionAnswering.from_pretrained(RUN_DIR/model)` works with every key matched. The
mapping is a renaming of key prefixes that each head declares (`hf_layout()`), checked strictly
both ways. Other heads (coreference, entity-start relations) have no transformers class: the
encoder is saved as a plain BertModel folder and the head's weights as head.safetensors.

Every folder also holds the tokenizer (with task tokens such as entity markers), spaneval_task.json
(task name and config, what `predict` needs to encode and decode) and a model card (README.md).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaneval.atomic import write_json, write_text
from spaneval.config import to_dict
from spaneval.errors import SpanevalError
from spaneval.registry import lookup

TASK_FILE = "spaneval_task.json"
HEAD_FILE = "head.safetensors"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A saved task model ready to predict: the task object, its config, the model and tokenizer."""

    task: Any
    task_cfg: Any
    model: Any
    tokenizer: Any
    architecture: str


def rename_keys(state: dict[str, Any], prefixes: dict[str, str]) -> dict[str, Any]:
    """Keys renamed by their longest matching prefix; a key no prefix matches is an error (the
    mapping must cover every weight, or a saved model would silently lose some)."""
    ordered = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))
    out = {}
    for key, value in state.items():
        match = next(((old, new) for old, new in ordered if key.startswith(old)), None)
        if match is None:
            raise SpanevalError(f"weight {key!r} has no counterpart in the saved layout {prefixes}")
        out[match[1] + key[len(match[0]) :]] = value
    return out


def hf_layout(model: Any) -> tuple[str, dict[str, str]] | None:
    layout = getattr(model, "hf_layout", None)
    return layout() if layout is not None else None


def start_head_from(model: Any, model_dir: Path) -> str | None:
    """Load `model`'s task head from `model_dir` when that folder was saved as the transformers class of
    this head (a BertForQuestionAnswering fine-tuned elsewhere, or `run --save-model` output), as
    `AutoModelForQuestionAnswering.from_pretrained` would keep it. Returns the class name, or None when
    the folder holds a plain encoder (the head then starts new).

    Only heads declared `label_free` qualify (span start/end scores mean the same in any checkpoint);
    a classifier's rows depend on its label set, so relation heads always start new."""
    layout = hf_layout(model)
    if layout is None or not getattr(model, "label_free", False):
        return None
    architecture, prefixes = layout
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if architecture not in (config.get("architectures") or []):
        return None
    import transformers

    hf_model, loading = getattr(transformers, architecture).from_pretrained(
        model_dir, local_files_only=True, output_loading_info=True
    )
    head = {ours: theirs for ours, theirs in prefixes.items() if not ours.startswith("encoder.")}
    absent = [k for k in loading.get("missing_keys", ()) if any(k.startswith(t) for t in head.values())]
    if absent:
        raise SpanevalError(
            f"{model_dir}: config.json names {architecture} but the weights lack {sorted(absent)[:3]}; "
            "fix the folder or pass --new-head to start a new head"
        )
    inverse = {theirs: ours for ours, theirs in head.items()}
    theirs = {k: v for k, v in hf_model.state_dict().items() if any(k.startswith(t) for t in inverse)}
    state = rename_keys(theirs, inverse)
    expected = {k for k in model.state_dict() if not k.startswith("encoder.")}
    if set(state) != expected:
        raise SpanevalError(f"{model_dir}: {architecture} head weights {sorted(state)} != {sorted(expected)}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes differ
        raise SpanevalError(f"{model_dir}: its {architecture} head does not fit this task ({err})") from None
    return architecture


def save_task_model(out: Path, model: Any, tokenizer: Any, task: Any, task_cfg: Any, run_dir: Path) -> None:
    """Write `model` (a spaneval task model) into the empty directory `out`."""
    layout = hf_layout(model)
    if layout is not None:
        architecture = _save_transformers(out, model, task, task_cfg, *layout)
    else:
        from safetensors.torch import save_file

        architecture = "BertModel"
        model.encoder.save_pretrained(out, safe_serialization=True)
        head = {
            k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.startswith("encoder.")
        }
        save_file(head, str(out / HEAD_FILE))
    tokenizer.save_pretrained(out)
    info = {
        "format_version": FORMAT_VERSION,
        "task": task.info.name,
        "task_version": task.info.version,
        "architecture": architecture,
        "head_file": None if layout is not None else HEAD_FILE,
        "config": to_dict(task_cfg),
        "run_id": Path(run_dir).name,
    }
    write_json(out / TASK_FILE, info)
    write_text(out / "README.md", model_card(info, run_dir))


def _save_transformers(out: Path, model: Any, task: Any, task_cfg: Any, architecture: str, keys: dict) -> str:
    import transformers

    config = model.encoder.config.__class__.from_dict(model.encoder.config.to_dict())
    labels = task.labels_of(task_cfg) if hasattr(task, "labels_of") else None
    if labels is not None:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
        config.classifier_dropout = getattr(task_cfg, "dropout", None)
    hf_model = getattr(transformers, architecture)(config)
    hf_model.load_state_dict(rename_keys(model.state_dict(), keys), strict=True)
    hf_model.save_pretrained(out, safe_serialization=True)
    return architecture


def model_card(info: dict[str, Any], run_dir: Path) -> str:
    run_dir = Path(run_dir)
    loader = {
        "BertForQuestionAnswering": "AutoModelForQuestionAnswering",
        "BertForSequenceClassification": "AutoModelForSequenceClassification",
    }.get(info["architecture"])
    usage = (
        f"    from transformers import {loader}\n"
        f'    model = {loader}.from_pretrained("{run_dir / "model"}")\n'
        if loader
        else f"transformers has no class for this head: the encoder is a plain BertModel folder and the "
        f"head's weights are in {HEAD_FILE}; load both with `spaneval predict`.\n"
    )
    return (
        f"---\nlibrary_name: transformers\ntags: [spaneval, {info['task']}]\n---\n\n"
        f"# {info['task']} model fine-tuned by spaneval\n\n"
        f"- run record: `{run_dir / 'record.json'}` (run id `{info['run_id']}`): data, model, config, seed, "
        "scores and environment of the run that produced these weights\n"
        f"- task: {info['task']} v{info['task_version']}; architecture: {info['architecture']}\n"
        f"- task config: `{TASK_FILE}`\n\n"
        "## Use\n\n"
        f"    python -m spaneval predict {info['task']} --model {run_dir / 'model'} --data FILE\n\n"
        f"{usage}"
    )


def load_task_model(model_dir: str | Path, overrides: dict[str, str] | None = None) -> LoadedModel:
    """A folder written by `save_task_model`, rebuilt as the spaneval task model it was saved from."""
    from transformers import AutoTokenizer

    from spaneval.tasks.registry import TASKS

    model_dir = Path(model_dir)
    info = _read_task_file(model_dir)
    task = lookup(TASKS, info["task"], f"task (in {model_dir / TASK_FILE})")
    task_cfg = config_from_dict(task.config_cls, info["config"], model_dir / TASK_FILE)
    if overrides:
        from spaneval.config import apply_overrides

        task_cfg = apply_overrides({"task": task_cfg}, overrides)["task"]
    tokenizer = task.prepare_tokenizer(
        AutoTokenizer.from_pretrained(model_dir, local_files_only=True), task_cfg
    )
    if info.get("head_file"):
        model = _load_encoder_and_head(model_dir, info["head_file"], task, task_cfg, tokenizer)
    else:
        model = _load_transformers(model_dir, info["architecture"], task, task_cfg, tokenizer)
    model.eval()
    return LoadedModel(task, task_cfg, model, tokenizer, info["architecture"])


def _read_task_file(model_dir: Path) -> dict[str, Any]:
    path = model_dir / TASK_FILE
    if not path.is_file():
        raise SpanevalError(
            f"{model_dir} has no {TASK_FILE}: not a model saved by `spaneval run --save-model` "
            "(expected RUN_DIR/model)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpanevalError(f"{path}: not a readable JSON file ({err})") from None
    missing = [k for k in ("task", "architecture", "config") if k not in info]
    if missing:
        raise SpanevalError(f"{path}: missing key {missing[0]!r}")
    return info


def config_from_dict(cls: type, values: dict[str, Any], source: Path) -> Any:
    """The frozen config `cls` from its to_dict() form (lists back to tuples); unknown keys are errors."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpanevalError(f"{source}: config key {unknown[0]!r} is not a {cls.__name__} field")
    hints = typing.get_type_hints(cls)
    return cls(**{k: tuple(v) if typing.get_origin(hints[k]) is tuple else v for k, v in values.items()})


def _fresh_encoder(config: Any) -> Any:
    from transformers import BertModel

    return BertModel._from_config(config, add_pooling_layer=False, attn_implementation="sdpa")


def _load_transformers(model_dir: Path, architecture: str, task, task_cfg, tokenizer) -> Any:
    import transformers

    hf_model, loading = getattr(transformers, architecture).from_pretrained(
        model_dir, local_files_only=True, output_loading_info=True
    )
    # from_pretrained fills missing weights with random ones; a saved model must have them all
    unmatched = [k for kind in ("missing_keys", "unexpected_keys") for k in loading.get(kind, ())]
    if unmatched:
        raise SpanevalError(f"{model_dir}: weights do not match {architecture}: {sorted(unmatched)[:5]}")
    model = task.build_model(_fresh_encoder(hf_model.config), tokenizer, task_cfg)
    layout = hf_layout(model)
    if layout is None or layout[0] != architecture:
        raise SpanevalError(
            f"{model_dir}: saved as {architecture}, but this task config builds "
            f"{layout[0] if layout else 'a head without a transformers class'}"
        )
    inverse = {new: old for old, new in layout[1].items()}
    model.load_state_dict(rename_keys(hf_model.state_dict(), inverse), strict=True)
    return model


def _load_encoder_and_head(model_dir: Path, head_file: str, task, task_cfg, tokenizer) -> Any:
    from safetensors.torch import load_file
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(
        model_dir, local_files_only=True, add_pooling_layer=False, attn_implementation="sdpa"
    )
    model = task.build_model(encoder, tokenizer, task_cfg)
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    model.load_state_dict(state | load_file(str(model_dir / head_file)), strict=True)
    return model
