"""`spaneval ls`: every named thing (tasks, models, presets, objectives) and every config key."""

from __future__ import annotations

from spaneval.config import field_docs
from spaneval.finetune import TrainConfig
from spaneval.models import MODELS
from spaneval.registry import UnknownNameError, did_you_mean


def _config_lines(cls: type, indent: str = "    ") -> list[str]:
    return [
        f"{indent}{name}: {tp} = {default!r}  # {doc}" for name, (tp, default, doc) in field_docs(cls).items()
    ]


def listing() -> str:
    from spaneval.tasks.registry import TASKS

    lines = ["Tasks (python -m spaneval run TASK --model MODEL [--data SOURCE] [key=value ...]):"]
    for name, task in TASKS.items():
        info = task.info
        lines.append(f"  {name} (v{info.version}): {info.description}")
        lines.append(
            f"    main metric: {info.main_metric}; data: {', '.join(info.data_sources)} or a path "
            f"(default {info.default_data})"
        )
        presets = [p for p in task.presets if p != "default"]
        if presets:
            lines.append(f"    presets: {', '.join(presets)} (values: spaneval ls --preset {name}:NAME)")
    lines.append("")
    lines.append("Models (--model NAME, or a directory written by save_pretrained):")
    for name, spec in MODELS.items():
        where = f"{spec.hub_id}@{spec.revision or 'main'}" if spec.hub_id else "built locally"
        lines.append(f"  {name}: {spec.description} [{where}]")
    lines.extend(["", *_pretrain_lines(), ""])
    lines.append("Fine-tuning config keys (key=value):")
    lines.extend(_config_lines(TrainConfig))
    seen: set[type] = set()
    for name, task in TASKS.items():
        if task.config_cls not in seen:
            seen.add(task.config_cls)
            lines.append(f"  {name} task keys:")
            lines.extend(_config_lines(task.config_cls, "      "))
    return "\n".join(lines)


def _pretrain_lines() -> list[str]:
    from spaneval.pretrain.objectives import OBJECTIVES
    from spaneval.pretrain.presets import PRESETS, PretrainConfig

    return [
        "Pretraining (python -m spaneval pretrain --objective OBJ --preset P --corpus PATH --output DIR):",
        f"  objectives: {', '.join(OBJECTIVES)}",
        f"  presets: {', '.join(PRESETS)} (values: spaneval ls --preset pretrain:NAME)",
        "  pretraining config keys (key=value):",
        *_config_lines(PretrainConfig, "      "),
    ]


def _preset_owners() -> dict[str, tuple[dict[str, dict], tuple[type, ...]]]:
    """{scope: (its presets, the config classes they set)}: every task and `pretrain`."""
    from spaneval.pretrain.presets import PRESETS, PretrainConfig
    from spaneval.tasks.registry import TASKS

    owners = {name: (task.presets, (TrainConfig, task.config_cls)) for name, task in TASKS.items()}
    owners["pretrain"] = (PRESETS, (PretrainConfig,))
    return owners


def preset_listing(query: str) -> str:
    """The values of preset `query` ("NAME" in every task and pretraining, or "SCOPE:NAME")."""
    owners = _preset_owners()
    scope, _, name = query.rpartition(":")
    if scope and scope not in owners:
        raise UnknownNameError(f"unknown preset scope {scope!r}.{did_you_mean(scope, owners)} "
                               f"Known: {', '.join(owners)}.")  # fmt: skip
    scopes = [scope] if scope else list(owners)
    found = [s for s in scopes if name in owners[s][0]]
    if not found:
        known = sorted({f"{s}:{p}" for s in scopes for p in owners[s][0]})
        raise UnknownNameError(
            f"no preset {query!r}.{did_you_mean(query, known + [k.split(':')[1] for k in known])} "
            f"Known presets: {', '.join(known)}."
        )
    blocks: dict[int, list[str]] = {}  # tasks sharing one preset dict (squad, squad_v2, mrqa) print once
    for s in found:
        blocks.setdefault(id(owners[s][0][name]), []).append(s)
    return "\n\n".join(_preset_block(name, group, owners) for group in blocks.values())


def _preset_block(name: str, scopes: list[str], owners: dict) -> str:
    presets, classes = owners[scopes[0]]
    fields = {key: doc for cls in classes for key, doc in field_docs(cls).items()}
    command = "pretrain" if scopes == ["pretrain"] else f"run {'|'.join(scopes)}"
    lines = [f"Preset {name!r} of {', '.join(scopes)} (python -m spaneval {command} --preset {name}):"]
    if "default" in presets and name != "default":
        lines.append(f"  applied after the task's 'default' preset: {presets['default']}")
    for key, value in presets[name].items():
        _, default, doc = fields[key]
        lines.append(f"  {key} = {value!r}  (default {default!r})  # {doc}")
    lines.append("  every other key keeps its default (`python -m spaneval ls`); key=value overrides win")
    return "\n".join(lines)
