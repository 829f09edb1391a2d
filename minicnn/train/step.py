"""One training step and one evaluation pass, with the loss checked at every step.

A NaN or infinite loss never passes silently: :func:`train_step` raises
:class:`NonFiniteLossError` naming the step, before the bad gradients reach
the weights.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from ..functions.loss import accuracy, cross_entropy
from ..tensor import Tensor, no_grad


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stopped before updating the weights."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(
            f"loss is {value} at step {step}: training stopped before the update "
            f"(try a lower learning rate, check the inputs for NaN/inf, or add gradient clipping)"
        )
        self.step, self.value = step, value


def check_finite(loss: Tensor | float, step: int) -> float:
    """Return the loss as a float, or raise :class:`NonFiniteLossError` naming ``step``."""
    value = float(loss.item() if isinstance(loss, Tensor) else loss)
    if not math.isfinite(value):
        raise NonFiniteLossError(step, value)
    return value


def train_step(
    model: Any,
    optimizer: Any,
    x: Any,
    y: Any,
    step: int,
    loss_fn: Callable[[Tensor, Any], Tensor] = cross_entropy,
) -> tuple[float, float]:
    """Forward, loss, backward and one optimiser update on the batch (x, y).

    Returns (loss, accuracy) of the batch. Raises NonFiniteLossError (weights untouched)
    when the loss is NaN or infinite.
    """
    model.train()
    optimizer.zero_grad()
    logits = model(x if isinstance(x, Tensor) else Tensor(x))
    loss = loss_fn(logits, y)
    value = check_finite(loss, step)
    loss.backward()
    optimizer.step()
    return value, accuracy(logits, y)


def evaluate(model: Any, batches: Iterable[tuple[Any, Any]],
             loss_fn: Callable[[Tensor, Any], Tensor] = cross_entropy) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over (x, y) batches, in eval mode, recording no graph."""
    model.eval()
    total_loss = total_correct = total = 0.0
    with no_grad():
        for x, y in batches:
            logits = model(x if isinstance(x, Tensor) else Tensor(x))
            n = logits.shape[0]
            total_loss += float(loss_fn(logits, y).item()) * n
            total_correct += accuracy(logits, y) * n
            total += n
    model.train()
    if total == 0:
        raise ValueError("evaluate: no batches")
    return total_loss / total, total_correct / total
