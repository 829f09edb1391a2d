"""Optimisers: SGD (with momentum, weight decay, Nesterov) and Adam.

Both follow PyTorch's update rules exactly, so one step from the same weights
and gradients gives the same weights in both libraries (a test checks it).
Updates run in place on each parameter's array under the parameter's own
array module, so they work unchanged on the GPU.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..backend import device_of, get_array_module, to_device
from ..functions.sgd_update import sgd_update
from ..tensor import Tensor


class Optimizer:
    """Holds the parameters and a learning rate that schedules may change."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_on_device(self, p: Tensor, st: dict[str, Any]) -> dict[str, Any]:
        """Move ``st``'s arrays to ``p``'s device (the model was moved after the optimiser was built)."""
        xp = get_array_module(p.data)
        for name, value in st.items():
            if hasattr(value, "shape") and get_array_module(value) is not xp:
                st[name] = to_device(value, device_of(p.data))
        return st

    def state_dict(self) -> dict[str, Any]:
        """Arrays and numbers needed to resume exactly (flat names for an .npz)."""
        out: dict[str, Any] = {"lr": self.lr}
        for i, st in enumerate(self.state):
            for k, v in st.items():
                out[f"{i}.{k}"] = v
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (arrays move to each parameter's device)."""
        self.lr = float(state["lr"])
        self.state = [{} for _ in self.params]
        for key, v in state.items():
            if key == "lr":
                continue
            i, name = key.split(".", 1)
            p = self.params[int(i)]
            xp = get_array_module(p.data)
            self.state[int(i)][name] = xp.asarray(v) if getattr(v, "ndim", 0) else (v.item() if hasattr(v, "item") else v)


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

    g = grad + weight_decay * w;  v = momentum * v + g;  w -= lr * (g + momentum * v if nesterov else v).
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov

    def step(self) -> None:
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            st = self._state_on_device(p, st)
            velocity = sgd_update(p.data, p.grad, st.get("velocity"), self.lr, self.momentum, self.weight_decay,
                                  self.nesterov)  # NumPy code on the CPU, one fused CUDA kernel on the GPU
            if velocity is not None:
                st["velocity"] = velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule with L2 weight decay added to the gradient."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def step(self) -> None:
        b1, b2 = self.betas
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            st = self._state_on_device(p, st)
            xp = get_array_module(p.data)
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if "m" not in st:
                st["m"], st["v"], st["t"] = xp.zeros_like(p.data), xp.zeros_like(p.data), 0
            st["t"] += 1
            m, v, t = st["m"], st["v"], st["t"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            step_size = self.lr / (1 - b1**t)
            denom = xp.sqrt(v / (1 - b2**t)) + self.eps
            p.data -= (step_size * m / denom).astype(p.data.dtype, copy=False)


__all__ = ["Optimizer", "SGD", "Adam"]
