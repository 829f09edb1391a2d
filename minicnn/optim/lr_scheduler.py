"""Learning-rate schedulers that wrap an optimiser, as ``torch.optim.lr_scheduler``.

Usage is PyTorch's: build the scheduler on the optimiser, then call
``scheduler.step()`` once per epoch (or per step) after ``optimizer.step()``::

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(opt)
        sched.step()            # sets opt.lr for the next epoch

Each scheduler computes the next rate *from the current one* (PyTorch's
"chainable" form, multiplying ``optimizer.lr`` by a ratio), so two schedulers
stepped together compose, and the sequences equal PyTorch's to the last bit.
``base_lr`` is the optimiser's rate when the first scheduler was built
(PyTorch's ``initial_lr``, kept on the optimiser so that later schedulers share it).

minicnn's optimisers have one learning rate (PyTorch's one param group), so
:meth:`LRScheduler.get_last_lr` returns a list of one rate, as PyTorch's would.
``state_dict`` holds plain numbers (it fits an ``.npz`` checkpoint); it does not
touch ``optimizer.lr``, which the optimiser's own state restores. The older
:mod:`minicnn.optim.schedule` (closed-form factors, used by the Trainer) stays.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .sgd import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "LinearLR"]


class LRScheduler:
    """Base class: counts steps (``last_epoch``) and writes :meth:`get_lr`'s rate into ``optimizer.lr``.

    Building a scheduler takes its first step at once (``last_epoch`` becomes 0), as
    PyTorch does, so ``get_last_lr()`` is the rate of epoch 0 before any ``step()``.
    """

    #: Names of the settings saved in :meth:`state_dict` next to the counters (a subclass lists its own).
    settings: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a minicnn Optimizer")
        self.optimizer = optimizer
        if getattr(optimizer, "initial_lr", None) is None:  # PyTorch's group.setdefault("initial_lr", lr)
            optimizer.initial_lr = optimizer.lr
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = -1
        self.step_count = 0
        self.last_lr = optimizer.lr
        self._initial = True  # inside the constructor's step (PyTorch's _is_initial)
        try:
            self.step()
        finally:
            self._initial = False

    def get_lr(self) -> float:  # pragma: no cover - abstract
        """The rate for epoch ``last_epoch``, from the current ``optimizer.lr``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set ``optimizer.lr`` to its rate."""
        self.step_count += 1
        self.last_epoch += 1
        self.optimizer.lr = float(self.get_lr())
        self.last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The rate the last :meth:`step` set, as a one-element list (PyTorch's, for one param group)."""
        return [self.last_lr]

    def state_dict(self) -> dict[str, float | int]:
        """Counters, rates and settings as plain numbers (everything :meth:`load_state_dict` needs)."""
        state: dict[str, float | int] = {"last_epoch": self.last_epoch, "step_count": self.step_count,
                                         "base_lr": self.base_lr, "last_lr": self.last_lr}
        for name in self.settings:
            state[name] = getattr(self, name)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values (numbers, or 0-d arrays read back from an ``.npz``).

        Raises:
            KeyError: a value is missing (the message lists which).
        """
        needed = ("last_epoch", "step_count", "base_lr", "last_lr") + self.settings
        missing = [name for name in needed if name not in state]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        self.last_epoch, self.step_count = int(state["last_epoch"]), int(state["step_count"])
        self.base_lr, self.last_lr = float(state["base_lr"]), float(state["last_lr"])
        for name in self.settings:
            kind = type(getattr(self, name))
            setattr(self, name, kind(state[name]) if kind in (int, float) else state[name])


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: lr = base_lr * gamma ** (epoch // step_size)."""

    settings = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: lr = base_lr * gamma ** epoch."""

    settings = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        return self.optimizer.lr if self._initial else self.optimizer.lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to ``eta_min`` over ``T_max`` epochs (SGDR without restarts).

    lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, reached
    by PyTorch's recursion (each step the ratio of two consecutive cosine terms); past
    ``T_max`` it climbs back up, and so on, as PyTorch's does.
    """

    settings = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 - PyTorch's name
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr, epoch, t_max = self.optimizer.lr, self.last_epoch, self.T_max
        if self._initial:
            return lr
        if self.step_count == 1 and epoch > 0:
            return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(epoch * math.pi / t_max)) / 2
        if (epoch - 1 - t_max) % (2 * t_max) == 0:  # the bottom of a cycle: the recursion would divide by 0
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        return ((1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max))
                * (lr - self.eta_min) + self.eta_min)


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch) for a function of the epoch (warm-up, any custom shape).

    The function is not part of :meth:`state_dict`: build the scheduler with it, then load the state.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the epoch, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def get_lr(self) -> float:
        return self.base_lr * self.lr_lambda(self.last_epoch)


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` times the base over ``total_iters`` epochs.

    lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters), then constant
    (the usual warm-up: ``LinearLR(opt, start_factor=0.1, total_iters=5)``).
    """

    settings = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor}")
        if total_iters < 1:
            raise ValueError(f"total_iters must be >= 1, got {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = float(start_factor), float(end_factor), int(total_iters)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr, epoch = self.optimizer.lr, self.last_epoch
        if epoch == 0:
            return lr * self.start_factor
        if self._initial or epoch > self.total_iters:
            return lr
        change = self.end_factor - self.start_factor
        return lr * (1.0 + change / (self.total_iters * self.start_factor + (epoch - 1) * change))
