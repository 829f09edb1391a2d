"""Softmax, cross-entropy and accuracy.

The cross-entropy is computed from log-softmax with the max subtracted, so it
never overflows: log_softmax(z)_j = z_j - m - log(sum_k exp(z_k - m)), m = max_k z_k.
Its gradient with respect to the logits is the familiar (softmax - one_hot) / N.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor
from . import _kernels_gpu


def _array(x: Any) -> Any:
    """The array inside a Tensor, or x itself."""
    return x.data if isinstance(x, Tensor) else x


def _log_softmax(z: Any) -> Any:
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


class LogSoftmax(Function):
    """z: (N, K) -> log p: (N, K), along axis 1. xp-generic."""

    def forward(self, ctx, z):
        if z.ndim != 2:
            raise ValueError(f"log_softmax expects logits of shape (N, classes), got shape {z.shape}")
        log_p = _log_softmax(z)
        ctx.save_for_backward(get_array_module(z).exp(log_p))
        return log_p

    def backward(self, ctx, g):
        (p,) = ctx.saved_tensors
        return g - p * g.sum(axis=1, keepdims=True)


def _check_labels(labels: Any, n: int, classes: int, xp: Any) -> Any:
    labels = _array(labels)
    labels = xp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"cross_entropy: labels of shape {labels.shape}, expected ({n},) to match the logits")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {classes - 1}] for {classes} classes, "
            f"got values from {int(labels.min())} to {int(labels.max())}"
        )
    return labels


class CrossEntropy(Function):
    """Softmax cross-entropy. logits: (N, K), labels: (N,) ints -> loss: () (mean over the batch).

    With ``class_weights`` (K,), the mean is weighted as PyTorch does:
    sum_i w[y_i] * nll_i / sum_i w[y_i]. ``reduction`` is "mean", "sum" or "none" ((N,)).

    Both sides compute the softmax ``prob`` and the weighted per-row loss, and save
    ``prob``, the labels and each row's coefficient ``w[y_i] * scale`` (scale:
    ``1 / sum w[y_i]`` for "mean", else 1); backward is ``(prob - one_hot) * coef * g``.
    """

    def __init__(self, labels: Any, class_weights: Any = None, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.labels, self.class_weights, self.reduction = labels, class_weights, reduction

    def _rows(self, z: Any) -> tuple[Any, Any, Any]:
        """Checked ``labels: (N,)``, per-row weights ``w[y_i]: (N,)`` and the reduction's scale, for logits ``z``."""
        xp = get_array_module(z)
        if z.ndim != 2:
            raise ValueError(f"cross_entropy expects logits of shape (N, classes), got shape {z.shape}")
        n, k = z.shape
        y = _check_labels(self.labels, n, k, xp)
        weights = xp.ones(n, dtype=z.dtype)
        if self.class_weights is not None:
            cw = xp.asarray(_array(self.class_weights), dtype=z.dtype)
            if cw.shape != (k,):
                raise ValueError(f"cross_entropy: class_weights of shape {cw.shape}, expected ({k},)")
            weights = cw[y]
        scale = 1.0 / weights.sum() if self.reduction == "mean" else z.dtype.type(1.0)
        return y, weights, scale

    def _reduce(self, ctx, z: Any, prob: Any, y: Any, weights: Any, scale: Any, weighted_nll: Any) -> Any:
        """Save what backward needs and reduce the per-row losses ``weighted_nll: (N,)``."""
        ctx.save_for_backward(prob, y, weights * scale)
        if self.reduction == "none":
            return weighted_nll.astype(z.dtype, copy=False)
        return get_array_module(z).asarray(weighted_nll.sum() * scale, dtype=z.dtype)

    def forward_cpu(self, ctx, z):
        y, weights, scale = self._rows(z)
        log_p = _log_softmax(z)
        weighted_nll = -log_p[np.arange(len(y)), y] * weights
        return self._reduce(ctx, z, np.exp(log_p), y, weights, scale, weighted_nll)

    def forward_gpu(self, ctx, z):
        y, weights, scale = self._rows(z)
        prob, weighted_nll = _kernels_gpu.softmax_cross_entropy_forward(z, y, weights)  # one thread per row
        return self._reduce(ctx, z, prob, y, weights, scale, weighted_nll)

    def backward_cpu(self, ctx, g):
        prob, y, coef = ctx.saved_tensors
        grad = prob.copy()
        grad[np.arange(len(y)), y] -= 1
        return grad * (coef * g)[:, None]

    def backward_gpu(self, ctx, g):
        prob, y, coef = ctx.saved_tensors
        return _kernels_gpu.softmax_cross_entropy_backward(prob, y, coef * g)  # one thread per logit


def log_softmax(logits: Any) -> Tensor:
    """Log of the softmax along axis 1."""
    return LogSoftmax().apply_to(logits)


def cross_entropy(logits: Any, labels: Any, class_weights: Any = None, reduction: str = "mean") -> Tensor:
    """Numerically stable softmax cross-entropy of (N, K) logits against (N,) integer labels."""
    return CrossEntropy(labels, class_weights, reduction).apply_to(logits)


def softmax(logits: Any) -> Any:
    """Softmax probabilities along axis 1 (an array; not differentiable, for prediction)."""
    z = _array(logits)
    xp = get_array_module(z)
    return xp.exp(_log_softmax(z))


def accuracy(logits: Any, labels: Any) -> float:
    """Fraction of rows whose arg-max equals the label."""
    z = _array(logits)
    xp = get_array_module(z)
    y = xp.asarray(_array(labels))
    if z.shape[0] != y.shape[0]:
        raise ValueError(f"accuracy: {z.shape[0]} predictions but {y.shape[0]} labels")
    if z.shape[0] == 0:
        return float("nan")
    return float((z.argmax(axis=1) == y).mean())


__all__ = ["log_softmax", "cross_entropy", "softmax", "accuracy", "CrossEntropy", "LogSoftmax"]
