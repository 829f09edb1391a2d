"""How a multi-task network adds up its task losses: a weighting is a small Module.

``TaskWeighting`` is the interface the Trainer calls (``weighting(losses) -> Tensor``;
its parameters, if any, are trained with the network by their own SGD). Two general
weightings live here:

``FixedWeighting``        constant weights (1, 1 by default): L = sum_i w_i L_i.
``UncertaintyWeighting``  homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018):
                          L = sum_i exp(-s_i) L_i + s_i with s_i = log sigma_i^2 trainable. The s_i
                          term stops weights collapsing to 0: the optimum is s_i = log L_i.

The readings of one paper's equation (Kang, Jiang & Li's trainable p and q) live with
that paper's code, in ``facestack.train.weighting``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..nn.module import Module, Parameter
from ..tensor import Tensor


class TaskWeighting(Module):
    """Combine per-task losses into one. Subclasses define :meth:`combine` and :meth:`values`."""

    def __init__(self, task_names: Sequence[str]) -> None:
        super().__init__()
        self.task_names = list(task_names)

    def forward(self, losses: Sequence[Tensor]) -> Tensor:
        if len(losses) != len(self.task_names):
            raise ValueError(f"expected {len(self.task_names)} task losses, got {len(losses)}")
        return self.combine(list(losses))

    def combine(self, losses: list[Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self) -> dict[str, float]:
        """The current weights, by a readable name, for the epoch log."""
        return {}


def total_of(terms: list[Tensor]) -> Tensor:
    """The sum of ``terms`` as one Tensor (a graph of additions)."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class FixedWeighting(TaskWeighting):
    """L = sum_i w_i L_i with constant w_i."""

    def __init__(self, task_names: Sequence[str], weights: Sequence[float] | None = None) -> None:
        super().__init__(task_names)
        self.weights = [1.0] * len(task_names) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(task_names):
            raise ValueError(f"fixed weighting: {len(self.weights)} weights for {len(task_names)} tasks")

    def combine(self, losses: list[Tensor]) -> Tensor:
        return total_of([loss * w for loss, w in zip(losses, self.weights)])

    def values(self) -> dict[str, float]:
        return {f"w_{n}": w for n, w in zip(self.task_names, self.weights)}


class UncertaintyWeighting(TaskWeighting):
    """Kendall et al. 2018: L = sum_i exp(-s_i) L_i + s_i, s_i = log sigma_i^2 trainable (start 0)."""

    def __init__(self, task_names: Sequence[str]) -> None:
        super().__init__(task_names)
        self.log_var = Parameter(np.zeros(len(task_names), np.float32))

    def combine(self, losses: list[Tensor]) -> Tensor:
        return total_of([(-self.log_var[i]).exp() * loss + self.log_var[i] for i, loss in enumerate(losses)])

    def values(self) -> dict[str, float]:
        return {f"sigma2_{n}": math.exp(float(v)) for n, v in zip(self.task_names, self.log_var.numpy())}
