"""Element-wise activations and dropout.

Each backward uses what the forward already computed (the output for sigmoid
and tanh, a mask for ReLU and dropout), so no activation is evaluated twice.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor
from . import _kernels_gpu


class ReLU(Function):
    """y = max(x, 0); x: any shape -> y: same shape. Saves the mask ``x > 0`` (bool) for backward.

    Both sides skip the mask when no gradient is wanted (inference).
    """

    def forward_cpu(self, ctx, x):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x > 0)
        return np.maximum(x, 0)

    def forward_gpu(self, ctx, x):
        if not ctx.needs_input_grad[0]:
            return get_array_module(x).maximum(x, 0)
        y, mask = _kernels_gpu.relu_forward(x)  # one pass writes y and the mask
        ctx.save_for_backward(mask)
        return y

    def backward(self, ctx, gy):  # xp-generic
        (mask,) = ctx.saved_tensors
        return gy * mask


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y). xp-generic.

    Computed in place on one buffer: exp(-x) overflows to inf for x below about
    -88 (float32), and 1 / (1 + inf) is the right limit, 0, so the overflow
    warning is silenced rather than avoided (twice as fast as tanh(x/2)).
    """

    def forward(self, ctx, x):
        xp = get_array_module(x)
        y = xp.negative(x)
        with np.errstate(over="ignore"):
            xp.exp(y, out=y)
        y += 1
        y = xp.reciprocal(y, out=y)
        ctx.save_for_backward(y)
        return y

    def backward(self, ctx, gy):
        (y,) = ctx.saved_tensors
        g = 1 - y
        g *= y
        g *= gy
        return g


class Tanh(Function):
    """y = tanh(x); dy/dx = 1 - y^2. xp-generic."""

    def forward(self, ctx, x):
        y = get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    def backward(self, ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (1 - y * y)


class Dropout(Function):
    """Inverted dropout: keep each element with probability 1 - p and scale it by 1/(1 - p).

    In evaluation (``training=False``) or with ``p == 0`` it is the identity. Both
    sides save ``mask = keep / (1 - p)`` in x's dtype (keep: a uniform draw ``>= p``)
    and return ``x * mask``; the CPU draws from ``rng`` (a NumPy Generator, or a
    fresh one), the GPU from CuPy's global generator.
    """

    def __init__(self, p: float, training: bool, rng: Any = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.training, self.rng = p, training, rng

    def forward(self, ctx, x):
        if not self.training or self.p == 0.0:  # the identity, on both devices
            return x
        return super().forward(ctx, x)  # forward_cpu or forward_gpu

    def forward_cpu(self, ctx, x):
        rng = self.rng if self.rng is not None else np.random.default_rng()
        keep = rng.random(x.shape, dtype=np.float32) >= self.p
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        ctx.save_for_backward(mask)
        return x * mask

    def forward_gpu(self, ctx, x):
        y, mask = _kernels_gpu.dropout_forward(x, self.p)  # the draw, the mask and the product in one pass
        ctx.save_for_backward(mask)
        return y

    def backward(self, ctx, gy):  # xp-generic
        return gy * ctx.saved_tensors[0] if ctx.saved_tensors else gy


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
