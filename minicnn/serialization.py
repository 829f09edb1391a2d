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
    """Save a Module's ``state_dict()`` (parameters and buffers) or a mapping of arrays to ``path`` as ``.npz``."""
    state = module.state_dict() if hasattr(module, "state_dict") else module
    return save_arrays(state, path)


def load(path: str | os.PathLike, model: Any = None, strict: bool = True) -> Any:
    """Read a state saved by :func:`save`; with ``model``, load it into the model and return the model.

    Without ``model`` the state comes back as a dict of NumPy arrays by name (for
    ``model.load_state_dict(state)`` later, or to inspect). With it, the model's
    ``load_state_dict`` copies every array to its parameter's or buffer's device and
    dtype, so ``model = minicnn.load("m.npz", Net())`` reads like PyTorch's
    ``net.load_state_dict(torch.load("m.pt"))``. Never unpickles (``allow_pickle=False``).

    Args:
        path: the ``.npz`` file.
        model: a Module (anything with ``load_state_dict``), or None.
        strict: names must match exactly (shapes always must).

    Raises:
        FileNotFoundError: no file at ``path``.
        KeyError: ``strict`` and the file's names differ from the model's (both lists named).
        ValueError: an array's shape differs from the model's, or the file holds pickled objects.
    """
    state = load_arrays(path)
    if model is None:
        return state
    try:
        model.load_state_dict(state, strict=strict)
    except KeyError as error:
        raise KeyError(f"{path}: {error.args[0] if error.args else error}") from error
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return model
