"""Learning-rate schedules, stepped once per training step (or per epoch, as you call them).

Each schedule sets ``optimizer.lr = base_lr * factor(t)`` where ``t`` counts calls to ``step()``.
"""
from __future__ import annotations

import math

from .sgd import Optimizer


class Schedule:
    """Base class: remembers the base learning rate and the step count."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.t = 0

    def factor(self, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> float:
        """Advance one step and return the new learning rate."""
        self.t += 1
        self.optimizer.lr = self.base_lr * self.factor(self.t)
        return self.optimizer.lr

    def state_dict(self) -> dict[str, float]:
        return {"t": self.t, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.t, self.base_lr = int(state["t"]), float(state["base_lr"])
        self.optimizer.lr = self.base_lr * self.factor(self.t)


class ExponentialDecay(Schedule):
    """lr = base * rate ** (t / decay_steps), floored when ``staircase`` (TensorFlow's exponential_decay).

    The paper: rate 0.96 every 5000 steps, staircase; the authors' code: 0.98.
    """

    def __init__(self, optimizer: Optimizer, decay_rate: float, decay_steps: int, staircase: bool = True) -> None:
        super().__init__(optimizer)
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.decay_rate, self.decay_steps, self.staircase = decay_rate, decay_steps, staircase

    def factor(self, t: int) -> float:
        e = t / self.decay_steps
        return self.decay_rate ** (math.floor(e) if self.staircase else e)


class StepDecay(Schedule):
    """lr = base * gamma ** (t // step_size) (PyTorch's StepLR)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def factor(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)


class CosineDecay(Schedule):
    """lr = min_factor + (1 - min_factor) * (1 + cos(pi * t / total_steps)) / 2, constant after total_steps."""

    def __init__(self, optimizer: Optimizer, total_steps: int, min_factor: float = 0.0, warmup_steps: int = 0) -> None:
        super().__init__(optimizer)
        self.total_steps, self.min_factor, self.warmup_steps = total_steps, min_factor, warmup_steps

    def factor(self, t: int) -> float:
        if t < self.warmup_steps:
            return (t + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        u = min((t - self.warmup_steps) / span, 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * u))
