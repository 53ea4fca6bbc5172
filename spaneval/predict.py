"""`spaneval predict TASK --model RUN_DIR/model --data FILE`: a saved task model's predictions on a file.

The model folder carries the task config of its run (spaneval_task.json), so the file is encoded,
decoded and scored exactly as the run's evaluation was; the output directory gets the task's
official prediction files and scores.json.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from spaneval.atomic import write_json
from spaneval.errors import SpanevalError


def predict_file(
    task_name: str, model_dir: str, data: str, output: str | None, overrides: dict[str, str]
) -> Path:
    """Predict (and score: every reader here requires gold) `data`; returns the output directory."""
    import torch

    from spaneval.finetune import predict
    from spaneval.saved_model import load_task_model

    loaded = load_task_model(model_dir, overrides)
    task, cfg = loaded.task, loaded.task_cfg
    if task.info.name != task_name:
        raise SpanevalError(
            f"{model_dir} is a {task.info.name} model, not {task_name}: "
            f"run `spaneval predict {task.info.name} --model {model_dir} ...`"
        )
    split = task.load(data, "eval", cfg)
    features = task.encode(split.examples, loaded.tokenizer, cfg, False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    outputs = predict(loaded.model.to(device), features, task.collate, 64, device)
    predictions = task.decode(split.examples, features, outputs, cfg)
    scores = task.score(split.examples, predictions, cfg)
    out = Path(output) if output else Path(model_dir).parent / "predict"
    out.mkdir(parents=True, exist_ok=True)
    task.write_predictions(out, split.examples, predictions, scores)
    write_json(out / "scores.json", _scores_file(task, model_dir, split, scores))
    main = task.info.main_metric
    print(f"[spaneval] {main} = {scores.metrics[main]:.2f} ({task.info.metric_scale})", file=sys.stderr)
    return out


def _scores_file(task: Any, model_dir: str, split: Any, scores: Any) -> dict[str, Any]:
    return {
        "task": task.info.name,
        "model": str(Path(model_dir).resolve()),
        "data": {"path": split.path, "fingerprint": split.fingerprint, "n_examples": len(split.examples)},
        "main_metric": task.info.main_metric,
        "metrics": scores.metrics,
    }
