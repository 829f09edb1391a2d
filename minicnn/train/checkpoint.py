"""Checkpoints: every state needed to resume a run, in one ``.npz`` (no pickle).

Each state (a model's ``state_dict()``, an optimiser's, a schedule's) is stored
under its own prefix, ``"model/features.0.weight"``, ``"optimizer/3.velocity"``,
``"schedule/t"``; numbers become 0-d arrays. The run's bookkeeping (epoch,
history, best so far) is one JSON string stored as a 0-d unicode array under
``"meta"``. The file is written atomically by :func:`minicnn.serialization.save_arrays`.

Reading checks what the Trainer will use before it uses it: the arrays through
:func:`minicnn.serialization.load_arrays` (headers first, no pickle), then the meta entry's
type and size, its JSON, and the type and range of the bookkeeping fields (epoch, step,
history, best, tasks). A damaged or foreign file is one :class:`CheckpointError` (a
ValueError) naming the file and what is wrong.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..serialization import ModelFileError, load_arrays, save_arrays

META_KEY = "meta"
SEPARATOR = "/"
#: The longest meta entry read (characters): a long run's history is a few megabytes.
MAX_META_CHARS = 64 << 20


class CheckpointError(ValueError):
    """A file is not a usable training checkpoint."""


def save_checkpoint(path: str | os.PathLike, states: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any]) -> Path:
    """Write ``states`` (name -> flat mapping of arrays or numbers) and ``meta`` (JSON-ready) to ``path``.

    Raises:
        ValueError: a state name contains the separator ``"/"`` or equals ``"meta"``.
    """
    arrays: dict[str, Any] = {}
    for state_name, state in states.items():
        if SEPARATOR in state_name or state_name == META_KEY:
            raise ValueError(f"checkpoint state name {state_name!r} may not contain {SEPARATOR!r} or be {META_KEY!r}")
        for key, value in state.items():
            arrays[f"{state_name}{SEPARATOR}{key}"] = value if hasattr(value, "shape") else np.asarray(value)
    arrays[META_KEY] = np.asarray(json.dumps(meta))
    return save_arrays(arrays, path)


def _check_meta(meta: Any, path: str | os.PathLike) -> dict[str, Any]:
    """``meta`` when its bookkeeping fields have the types and ranges the Trainer relies on."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the meta entry is a {type(meta).__name__}, not a JSON object")
    for key in ("epoch", "step"):
        value = meta.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
            raise CheckpointError(f"{path}: meta {key!r} must be a whole number >= 0, got {value!r}")
    for key in ("history", "step_log", "tasks"):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise CheckpointError(f"{path}: meta {key!r} must be a list of objects, got {type(value).__name__}")
    for task in meta.get("tasks", []):
        names = task.get("class_names")
        if not isinstance(task.get("name"), str) or not isinstance(names, list):
            raise CheckpointError(f"{path}: each meta task needs a 'name' and a list of 'class_names', got {task!r}")
    best = meta.get("best")
    if best is not None and not (isinstance(best, dict) and isinstance(best.get("epoch"), int)
                                 and isinstance(best.get("score"), (int, float))):
        raise CheckpointError(f"{path}: meta 'best' must be null or an object with an epoch and a score")
    return meta


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Read a checkpoint: ``(states by name, meta)``; the inverse of :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no file. CheckpointError: anything else that makes it unusable.
    """
    try:
        arrays = load_arrays(path)
    except ModelFileError as error:
        raise CheckpointError(str(error)) from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path} is not a training checkpoint (no {META_KEY!r} entry)")
    meta_array = arrays.pop(META_KEY)
    if meta_array.dtype.kind != "U" or meta_array.ndim != 0 or meta_array.dtype.itemsize > 4 * MAX_META_CHARS:
        raise CheckpointError(f"{path}: the meta entry must be one JSON string, got {meta_array.dtype} "
                              f"{meta_array.shape}")
    try:
        meta = json.loads(str(meta_array))
    except RecursionError:
        raise CheckpointError(f"{path}: the meta entry is nested too deeply") from None
    except ValueError as error:
        raise CheckpointError(f"{path}: the meta entry is not valid JSON: {error}") from None
    meta = _check_meta(meta, path)
    states: dict[str, dict[str, np.ndarray]] = {}
    for name, value in arrays.items():
        state_name, _, key = name.partition(SEPARATOR)
        states.setdefault(state_name, {})[key] = value
    return states, meta
