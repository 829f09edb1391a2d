"""Checkpoints: every state needed to resume a run, in one ``.npz`` (no pickle).

Each state (a model's ``state_dict()``, an optimiser's, a schedule's) is stored
under its own prefix, ``"model/features.0.weight"``, ``"optimizer/3.velocity"``,
``"schedule/t"``; numbers become 0-d arrays. The run's bookkeeping (epoch,
history, best so far) is one JSON string stored as a 0-d unicode array under
``"meta"``. The file is written atomically by :func:`minicnn.serialization.save_arrays`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..serialization import load_arrays, save_arrays

META_KEY = "meta"
SEPARATOR = "/"


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


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Read a checkpoint: ``(states by name, meta)``; the inverse of :func:`save_checkpoint`."""
    arrays = load_arrays(path)
    if META_KEY not in arrays:
        raise ValueError(f"{path} is not a training checkpoint (no {META_KEY!r} entry)")
    meta = json.loads(str(arrays.pop(META_KEY)))
    states: dict[str, dict[str, np.ndarray]] = {}
    for name, value in arrays.items():
        state_name, _, key = name.partition(SEPARATOR)
        states.setdefault(state_name, {})[key] = value
    return states, meta
