"""`spaneval ls`: every named thing (tasks, models, presets, objectives) and every config key."""

from __future__ import annotations

from spaneval.config import field_docs
from spaneval.models import MODELS
from spaneval.train import TrainConfig


def _config_lines(cls: type, indent: str = "    ") -> list[str]:
    return [
        f"{indent}{name}: {tp} = {default!r}  # {doc}" for name, (tp, default, doc) in field_docs(cls).items()
    ]


def listing() -> str:
    from tasks.registry import TASKS

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
            lines.append(f"    presets: {', '.join(presets)}")
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
    from pretrain.objectives import OBJECTIVES
    from pretrain.presets import PRESETS, PretrainConfig

    return [
        "Pretraining (python -m spaneval pretrain --objective OBJ --preset P --corpus PATH --output DIR):",
        f"  objectives: {', '.join(OBJECTIVES)}",
        f"  presets: {', '.join(PRESETS)}",
        "  pretraining config keys (key=value):",
        *_config_lines(PretrainConfig, "      "),
    ]
