"""Checkpoint files that hold only tensors and JSON, so reading one can never run code.

A pickle (`torch.save`, `torch.load(weights_only=False)`) executes whatever the file says when it
is loaded, so a planted checkpoint would run on `--resume`. Here a state (nested dicts, lists and
tuples of tensors, numpy arrays, numbers, strings, None) is split in two: every tensor goes into a
safetensors file, and the shape of the state, with a key in place of each tensor, goes as JSON into
that file's metadata. safetensors reads raw bytes and a JSON header, nothing else.

One file, replaced atomically (spaneval.atomic.write_bytes): a kill leaves the old or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spaneval.atomic import remove_stale_temps, write_bytes
from spaneval.errors import SpanevalError

STATE_KEY = "spaneval_state"  # the metadata entry holding the JSON skeleton


class CorruptCheckpointError(SpanevalError):
    """A checkpoint file that cannot be read back (truncated, garbage, or not ours)."""


def save_state(path: Path, state: Any) -> None:
    """Write `state` to `path` as tensors plus JSON, atomically."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _pack(state, tensors, {}, set())
    remove_stale_temps(path)  # e.g. a 12 MB half-written checkpoint from a run killed while saving
    write_bytes(path, save(tensors, metadata={STATE_KEY: json.dumps(skeleton)}))


def load_state(path: Path) -> Any:
    """The state `save_state` wrote (tensors on the CPU); CorruptCheckpointError if it is unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = Path(path).read_bytes()
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
        return _unpack(json.loads(metadata[STATE_KEY]), tensors)
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as err:
        raise CorruptCheckpointError(f"{path}: not a readable spaneval checkpoint ({err})") from None


def _pack(value: Any, tensors: dict, views: dict, storages: set) -> Any:
    """JSON skeleton of `value`; tensors and arrays are moved into `tensors` under fresh keys."""
    if torch.is_tensor(value):
        return {"__tensor__": _store(value.detach().cpu(), tensors, views, storages)}
    if isinstance(value, np.ndarray):
        key = _store(torch.from_numpy(np.ascontiguousarray(value)), tensors, views, storages)
        return {"__ndarray__": key, "dtype": value.dtype.str}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _pack(v, tensors, views, storages) for k, v in value.items()}}
        # optimizer state is keyed by parameter index (int): keep the key type
        return {"__items__": [[k, _pack(v, tensors, views, storages)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_pack(v, tensors, views, storages) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def _store(tensor: torch.Tensor, tensors: dict, views: dict, storages: set) -> str:
    """Key of `tensor` in `tensors`. Tied weights (one view, two names) are stored once; safetensors
    refuses two entries sharing memory, so any other view of a stored storage is copied."""
    view = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape, tensor.stride())
    if tensor.numel() and view in views:
        return views[view]
    if not tensor.numel() or view[0] in storages or not tensor.is_contiguous():
        tensor = tensor.clone(memory_format=torch.contiguous_format)
    key = str(len(tensors))
    tensors[key] = tensor
    if tensor.numel():
        storages.add(view[0])
        views[view] = key
    return key


def _unpack(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, list):
        return [_unpack(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if "__ndarray__" in skeleton:
        return tensors[skeleton["__ndarray__"]].numpy().astype(np.dtype(skeleton["dtype"]))
    if "__tuple__" in skeleton:
        return tuple(_unpack(v, tensors) for v in skeleton["__tuple__"])
    if "__items__" in skeleton:
        return {k: _unpack(v, tensors) for k, v in skeleton["__items__"]}
    return {k: _unpack(v, tensors) for k, v in skeleton["__dict__"].items()}
