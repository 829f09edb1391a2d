"""The four readings of Kang, Jiang & Li's eq. 5, ``Loss = p * loss_age + q * loss_gender``.

``paper``         the literal eq. 5 with p and q trainable. Gradient descent lowers the loss by
                  shrinking p and q, so both collapse towards 0 (and below): the tasks switch
                  themselves off.
``authors-code``  what the published code did: p and q multiply the softmax probabilities,
                  so each task's loss becomes (L_i - log w_i) / K_i (their cross-entropy is
                  also averaged over the K_i classes). -log w_i does not touch the network's
                  gradients; w_i's own gradient is always negative, so w_i grows without bound
                  and the logged loss goes negative. A no-op for the network.
``fixed``         constant weights (1, 1 by default): ``minicnn.train.weighting.FixedWeighting``.
``uncertainty``   Kendall et al.'s weighting: ``minicnn.train.weighting.UncertaintyWeighting``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from minicnn.nn.module import Parameter
from minicnn.tensor import Tensor
from minicnn.train.weighting import FixedWeighting, TaskWeighting, UncertaintyWeighting, total_of

WEIGHTINGS = ("paper", "authors-code", "fixed", "uncertainty")


class PaperWeighting(TaskWeighting):
    """The literal eq. 5: L = sum_i w_i L_i with trainable w_i (p for age, q for gender), starting at ``init``."""

    def __init__(self, task_names: Sequence[str], init: float = 0.5) -> None:
        super().__init__(task_names)
        self.w = Parameter(np.full(len(task_names), init, np.float32))

    def combine(self, losses: list[Tensor]) -> Tensor:
        return total_of([loss * self.w[i] for i, loss in enumerate(losses)])

    def values(self) -> dict[str, float]:
        return {f"w_{n}": float(v) for n, v in zip(self.task_names, self.w.numpy())}


class AuthorsCodeWeighting(PaperWeighting):
    """The published code: weights multiply probabilities, so L = sum_i (L_i - log w_i) / K_i."""

    def __init__(self, task_names: Sequence[str], classes: Sequence[int], init: float = 0.5) -> None:
        super().__init__(task_names, init)
        self.classes = [int(k) for k in classes]

    def combine(self, losses: list[Tensor]) -> Tensor:
        return total_of([(loss - self.w[i].log()) * (1.0 / k) for i, (loss, k) in enumerate(zip(losses, self.classes))])


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
