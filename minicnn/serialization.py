"""Model files: ``.npz`` archives of named arrays, written atomically, read without pickle.

Atomic: the archive is written to a temporary file in the same folder, flushed to
disk, then renamed over the target, so a crash never leaves a half-written model
under the final name. Read with ``allow_pickle=False``, so loading a file from
elsewhere cannot run code.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import backend


def save_arrays(arrays: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write named arrays (NumPy or CuPy; always stored as host arrays) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = {name: backend.to_numpy(value) for name, value in arrays.items()}
    for name, value in host.items():
        if value.dtype == object:
            raise TypeError(f"save: {name!r} is an object array; only numeric arrays can be saved without pickle")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **host)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file (no pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def save(module: Any, path: str | os.PathLike) -> Path:
    """Save a Module's ``state_dict()`` (or a mapping of arrays) to ``path`` as ``.npz``."""
    state = module.state_dict() if hasattr(module, "state_dict") else module
    return save_arrays(state, path)


def load(path: str | os.PathLike, module: Any = None) -> dict[str, np.ndarray]:
    """Read a saved state; when ``module`` is given, load it into the module (strict names and shapes)."""
    state = load_arrays(path)
    if module is not None:
        module.load_state_dict(state)
    return state
