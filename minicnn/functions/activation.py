"""Element-wise activations and dropout.

Each backward uses what the forward already computed (the output for sigmoid
and tanh, a mask for ReLU and dropout), so no activation is evaluated twice.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor, is_grad_enabled


class ReLU(Function):
    """y = max(x, 0); x: any shape -> y: same shape."""

    def forward(self, x):
        xp = get_array_module(x)
        if xp is not np:
            from . import _kernels_gpu

            if _kernels_gpu.handles(x):  # one pass writes y and the mask
                y, self.mask = _kernels_gpu.relu_forward(x)
                return y
        if self.inputs and not (is_grad_enabled() and self.needs_grad(0)):  # inference: no mask needed
            return xp.maximum(x, 0)
        self.mask = x > 0
        return xp.maximum(x, 0)

    def backward(self, gy):
        return gy * self.mask


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y).

    Computed in place on one buffer: exp(-x) overflows to inf for x below about
    -88 (float32), and 1 / (1 + inf) is the right limit, 0, so the overflow
    warning is silenced rather than avoided (twice as fast as tanh(x/2)).
    """

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.negative(x)
        with np.errstate(over="ignore"):
            xp.exp(y, out=y)
        y += 1
        self.y = xp.reciprocal(y, out=y)
        return self.y

    def backward(self, gy):
        g = 1 - self.y
        g *= self.y
        g *= gy
        return g


class Tanh(Function):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


class Dropout(Function):
    """Inverted dropout: keep each element with probability 1 - p and scale it by 1/(1 - p).

    In evaluation (``training=False``) or with ``p == 0`` it is the identity.
    """

    def __init__(self, p: float, training: bool, rng: Any = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.training, self.rng = p, training, rng

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        xp = get_array_module(x)
        if xp is not np:
            from . import _kernels_gpu

            if _kernels_gpu.handles(x):  # the same uniform draw; mask and product in one pass
                y, self.mask = _kernels_gpu.dropout_forward(x, self.p)
                return y
        if xp is np:
            rng = self.rng if self.rng is not None else np.random.default_rng()
            keep = rng.random(x.shape, dtype=np.float32) >= self.p
        else:
            keep = xp.random.random(x.shape, dtype=xp.float32) >= self.p
        self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, gy):
        return gy if self.mask is None else gy * self.mask


def relu(x: Any) -> Tensor:
    """Rectified linear unit, element-wise."""
    return ReLU().apply_to(x)


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid, element-wise."""
    return Sigmoid().apply_to(x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent, element-wise."""
    return Tanh().apply_to(x)


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout with drop probability ``p`` (identity when not training)."""
    return Dropout(p, training, rng).apply_to(x)
