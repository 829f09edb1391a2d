"""The array-module switch: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every op asks the arrays it was given which module they belong to
(:func:`get_array_module`) instead of reading a global flag, so the same code
runs on both devices; an op with kernels of its own picks its CPU or GPU code by
:func:`on_gpu`, in one place (:class:`minicnn.tensor.Function`). CuPy is optional: importing minicnn without it works,
and asking for the GPU without it raises an error that names the fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np

try:  # CuPy is an optional dependency (extra `gpu`).
    import cupy as _cupy  # type: ignore[import-not-found]
except Exception:  # ImportError, or a CUDA library that fails to load
    _cupy = None

GPU_INSTALL_HINT = "install CuPy with `pip install .[gpu]` (package cupy-cuda12x) on a machine with an NVIDIA GPU"


def cupy_available() -> bool:
    """True when CuPy imports and at least one CUDA device is visible."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_array_module(*arrays: Any):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    Arguments may be arrays, Tensors (anything with a ``.data`` array) or None.
    """
    if _cupy is not None:
        for a in arrays:
            if not isinstance(a, (np.ndarray, _cupy.ndarray)):
                a = getattr(a, "data", a)  # a Tensor: look at its array
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def on_gpu(*arrays: Any) -> bool:
    """Whether an op on ``arrays`` runs its GPU code: True when any of them is a CuPy array.

    The one place minicnn chooses between an op's CPU and GPU code:
    :class:`minicnn.tensor.Function` calls ``forward_gpu`` / ``backward_gpu`` when it
    is True, ``forward_cpu`` / ``backward_cpu`` otherwise, and so does the SGD update
    (:mod:`minicnn.functions.sgd_update`). The GPU code's kernels take float32 and
    float64 arrays; other dtypes raise a TypeError there.
    """
    return get_array_module(*arrays) is not np


def device_of(array: Any) -> str:
    """``"gpu"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "gpu" if get_array_module(array) is not np else "cpu"


def _require_cupy():
    if not cupy_available():
        reason = "CuPy is not installed" if _cupy is None else "no CUDA device is visible"
        raise RuntimeError(f"The GPU backend was requested but {reason}: {GPU_INSTALL_HINT}.")
    return _cupy


def normalize_device(device: str) -> str:
    """Map the accepted device names ("cpu", "gpu", "cuda", "cuda:0") to "cpu" or "gpu"."""
    d = str(device).lower()
    if d == "cpu":
        return "cpu"
    if d in ("gpu", "cuda") or d.startswith("cuda:"):
        return "gpu"
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'gpu'")


def to_device(array: Any, device: str):
    """Move an array to ``device`` ("cpu" or "gpu"); a no-op when it is already there."""
    if normalize_device(device) == "cpu":
        return to_numpy(array)
    cp = _require_cupy()
    return cp.asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """Return a NumPy array (copying from the GPU when needed)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)
