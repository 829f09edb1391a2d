"""How a multi-task network adds up its task losses.

The paper (Kang, Jiang & Li, eq. 5) writes ``Loss = p * loss_age + q * loss_gender``
with p and q trainable. Four readings are offered, each a small Module whose
parameters (if any) are trained with the network:

``paper``         the literal eq. 5. Gradient descent lowers the loss by shrinking p and q,
                  so both collapse towards 0 (and below): the tasks switch themselves off.
``authors-code``  what the published code did: p and q multiply the softmax probabilities,
                  so each task's loss becomes (L_i - log w_i) / K_i (their cross-entropy is
                  also averaged over the K_i classes). -log w_i does not touch the network's
                  gradients; w_i's own gradient is always negative, so w_i grows without bound
                  and the logged loss goes negative. A no-op for the network.
``fixed``         constant weights (1, 1 by default).
``uncertainty``   homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018):
                  L = sum_i exp(-s_i) L_i + s_i with s_i = log sigma_i^2 trainable. The s_i term
                  stops the collapse: the optimum is s_i = log L_i.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..nn.module import Module, Parameter
from ..tensor import Tensor

WEIGHTINGS = ("paper", "authors-code", "fixed", "uncertainty")


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


def _total(terms: list[Tensor]) -> Tensor:
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
        return _total([loss * w for loss, w in zip(losses, self.weights)])

    def values(self) -> dict[str, float]:
        return {f"w_{n}": w for n, w in zip(self.task_names, self.weights)}


class PaperWeighting(TaskWeighting):
    """The literal eq. 5: L = sum_i w_i L_i with trainable w_i (p for age, q for gender), starting at ``init``."""

    def __init__(self, task_names: Sequence[str], init: float = 0.5) -> None:
        super().__init__(task_names)
        self.w = Parameter(np.full(len(task_names), init, np.float32))

    def combine(self, losses: list[Tensor]) -> Tensor:
        return _total([loss * self.w[i] for i, loss in enumerate(losses)])

    def values(self) -> dict[str, float]:
        return {f"w_{n}": float(v) for n, v in zip(self.task_names, self.w.numpy())}


class AuthorsCodeWeighting(PaperWeighting):
    """The published code: weights multiply probabilities, so L = sum_i (L_i - log w_i) / K_i."""

    def __init__(self, task_names: Sequence[str], classes: Sequence[int], init: float = 0.5) -> None:
        super().__init__(task_names, init)
        self.classes = [int(k) for k in classes]

    def combine(self, losses: list[Tensor]) -> Tensor:
        return _total([(loss - self.w[i].log()) * (1.0 / k) for i, (loss, k) in enumerate(zip(losses, self.classes))])


class UncertaintyWeighting(TaskWeighting):
    """Kendall et al. 2018: L = sum_i exp(-s_i) L_i + s_i, s_i = log sigma_i^2 trainable (start 0)."""

    def __init__(self, task_names: Sequence[str]) -> None:
        super().__init__(task_names)
        self.log_var = Parameter(np.zeros(len(task_names), np.float32))

    def combine(self, losses: list[Tensor]) -> Tensor:
        return _total([(-self.log_var[i]).exp() * loss + self.log_var[i] for i, loss in enumerate(losses)])

    def values(self) -> dict[str, float]:
        return {f"sigma2_{n}": math.exp(float(v)) for n, v in zip(self.task_names, self.log_var.numpy())}


def make_weighting(kind: str, task_names: Sequence[str], classes: Sequence[int],
                   fixed_weights: Sequence[float] | None = None) -> TaskWeighting:
    """Build the task weighting called ``kind`` (one of :data:`WEIGHTINGS`)."""
    if kind == "paper":
        return PaperWeighting(task_names)
    if kind == "authors-code":
        return AuthorsCodeWeighting(task_names, classes)
    if kind == "fixed":
        return FixedWeighting(task_names, fixed_weights)
    if kind == "uncertainty":
        return UncertaintyWeighting(task_names)
    raise ValueError(f"unknown task weighting {kind!r}: expected one of {WEIGHTINGS}")
