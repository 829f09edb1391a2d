"""Fully connected layer and flatten.

``linear`` keeps PyTorch's weight layout ``(out_features, in_features)`` so that
weights copy between the two libraries unchanged: y = x @ W.T + b.
"""
from __future__ import annotations

from typing import Any

from ..tensor import Function, Tensor


class Linear(Function):
    """y = x @ W.T + b.  x: (N, in), W: (out, in), b: (out,) or None -> y: (N, out). xp-generic."""

    def forward(self, ctx, x, w, b=None):
        if x.ndim != 2:
            raise ValueError(f"linear expects x of shape (N, in_features), got {x.ndim}-D shape {x.shape}")
        if w.ndim != 2 or w.shape[1] != x.shape[1]:
            raise ValueError(
                f"linear: weight of shape {w.shape} does not fit input of shape {x.shape}: "
                f"expected weight (out_features, {x.shape[1]})"
            )
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias of shape {b.shape}, expected ({w.shape[0]},)")
        ctx.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(self, ctx, gy):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gy @ w if need[0] else None
        gw = gy.T @ x if need[1] else None
        if len(need) == 3:
            return gx, gw, gy.sum(axis=0) if need[2] else None
        return gx, gw


class Flatten(Function):
    """x: (N, d1, d2, ...) -> y: (N, d1*d2*...). Copies nothing when x is contiguous."""

    def forward(self, ctx, x):
        ctx.in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, ctx, gy):
        return gy.reshape(ctx.in_shape)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """Fully connected layer: ``x @ weight.T + bias``."""
    if bias is None:
        return Linear().apply_to(x, weight)
    return Linear().apply_to(x, weight, bias)


def flatten(x: Any) -> Tensor:
    """Keep the batch axis, merge all others."""
    return Flatten().apply_to(x)


