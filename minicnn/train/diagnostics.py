"""Why a network does not learn: per-layer activation and gradient statistics on a fixed batch.

A network that stays at the majority class usually shows it layer by layer: sigmoids
pinned at 0 or 1 (their gradient ``s (1 - s)`` is then ~0), ReLUs that never fire, or
gradients that shrink by orders of magnitude from the loss back to the first layer.
:func:`layer_statistics` measures that on one fixed batch, without changing the model
(no optimiser step; the gradients it leaves are cleared):

* for every leaf layer (a Module without sub-modules), its output's mean, standard
  deviation, the fraction of exact zeros (dead ReLUs) and the fraction of values outside
  ``[0.02, 0.98]`` (saturated, for a layer whose outputs lie in [0, 1], such as a sigmoid);
* for every parameter, the L2 norm of its gradient and of the parameter itself, and their
  ratio (what one SGD step of learning rate 1 would change, relatively).

``write_rows`` appends the rows to a CSV (``diagnostics.csv`` of a run), one row per
layer or parameter, tagged with the epoch they were measured after (0 = before training).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import backend, nn
from ..tensor import Tensor

SATURATION_BAND = (0.02, 0.98)
COLUMNS = ("epoch", "kind", "name", "layer", "shape", "mean", "std", "zero_fraction", "saturated_fraction",
           "grad_norm", "param_norm", "grad_to_param")


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(dotted name, module)`` of every module without sub-modules, in definition order."""
    out = []

    def walk(module: nn.Module, prefix: str) -> None:
        children = list(module._modules.items())
        if not children and prefix:
            out.append((prefix.rstrip("."), module))
        for name, child in children:
            walk(child, f"{prefix}{name}.")

    walk(model, "")
    return out


def _activation_row(name: str, module: nn.Module, value: Any) -> dict[str, Any]:
    a = np.asarray(backend.to_numpy(value), dtype=np.float64)
    in_unit = a.size > 0 and a.min() >= 0.0 and a.max() <= 1.0
    low, high = SATURATION_BAND
    return {"kind": "activation", "name": name, "layer": type(module).__name__, "shape": "x".join(map(str, a.shape)),
            "mean": float(a.mean()), "std": float(a.std()), "zero_fraction": float((a == 0).mean()),
            "saturated_fraction": float(((a < low) | (a > high)).mean()) if in_unit else None}


def layer_statistics(model: nn.Module, x: np.ndarray,
                     loss_of: Callable[[Any], Tensor]) -> list[dict[str, Any]]:
    """Activation statistics of every leaf layer and gradient statistics of every parameter.

    Args:
        model: the network (its mode, train or eval, is used as it is).
        x: one input batch, e.g. float32 ``(B, 1, 128, 128)``.
        loss_of: the model's output -> the scalar loss whose gradients are measured.
    Returns:
        one dict per leaf layer (``kind="activation"``) then per parameter (``kind="gradient"``).
    """
    recorded: list[dict[str, Any]] = []
    patched = []
    for name, module in leaf_modules(model):
        original = module.forward

        def recording(*args: Any, _name: str = name, _module: nn.Module = module, _forward: Any = original) -> Any:
            out = _forward(*args)
            if isinstance(out, Tensor):
                recorded.append(_activation_row(_name, _module, out.data))
            return out

        module.forward = recording  # an instance attribute: Module.__call__ finds it first
        patched.append(module)
    try:
        for p in model.parameters():
            p.grad = None
        loss = loss_of(model(Tensor(x)))
        loss.backward()
    finally:
        for module in patched:
            del module.forward
    rows = list(recorded)
    for name, p in model.named_parameters():
        grad_norm = float(np.linalg.norm(backend.to_numpy(p.grad))) if p.grad is not None else 0.0
        param_norm = float(np.linalg.norm(backend.to_numpy(p.data)))
        rows.append({"kind": "gradient", "name": name, "layer": "", "shape": "x".join(map(str, p.shape)),
                     "grad_norm": grad_norm, "param_norm": param_norm,
                     "grad_to_param": grad_norm / param_norm if param_norm > 0 else None})
        p.grad = None
    return rows


def write_rows(rows: Sequence[dict[str, Any]], epoch: int, path: str | os.PathLike) -> Path:
    """Append ``rows`` (tagged with ``epoch``) to the CSV at ``path``, writing the header first if new."""
    path = Path(path)
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({column: ("" if row.get(column) is None else row.get(column))
                             for column in COLUMNS} | {"epoch": epoch})
    return path
