"""PyTorch's ``torch.nn.functional``, for code that reads ``F.conv2d(x, w, b, stride, padding)``.

Thin wrappers with PyTorch's argument names and order over the Functions of
:mod:`minicnn.functions` (where the forward and backward of each op live); no
arithmetic is repeated here. Every result is a differentiable Tensor, including
:func:`softmax`, which is ``exp(log_softmax(x))``. ``dim`` may name any axis:
the softmaxes move it last and run on rows, the same Functions as for ``(N, K)``.

What PyTorch has and this does not: ``dilation`` and ``groups`` of convolutions
and pooling, ``return_indices``, ``inplace``, ``ignore_index`` and ``label_smoothing``.
Options after the first few are keyword-only, so a positional PyTorch call that
relies on one of them fails loudly instead of meaning something else.
"""
from __future__ import annotations

from typing import Any

from . import functions as _functions
from .functions._im2col import IntPair, Padding
from .tensor import Tensor, as_tensor

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "relu", "sigmoid", "tanh", "linear", "dropout", "softmax",
    "log_softmax", "cross_entropy", "local_response_norm", "batch_norm", "flatten",
]


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1, padding: Padding = 0) -> Tensor:
    """2-D cross-correlation: ``input: (N, C, H, W)``, ``weight: (F, C, kh, kw)``, ``bias: (F,)`` -> ``(N, F, OH, OW)``.

    ``padding``: int, (ph, pw), "valid" or "same" (TensorFlow's rule: for an odd
    total the extra pixel goes after, where PyTorch's "same" needs stride 1).
    """
    return _functions.conv2d(input, weight, bias, stride=stride, padding=padding)


def max_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0, *,
               ceil_mode: bool = False) -> Tensor:
    """Max pooling ``(N, C, H, W) -> (N, C, OH, OW)``; ``stride`` defaults to ``kernel_size``, padding is -inf."""
    return _functions.max_pool2d(input, kernel_size, stride, padding, ceil_mode)


def avg_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Average pooling ``(N, C, H, W) -> (N, C, OH, OW)``; padding zeros count in the divisor by default."""
    return _functions.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def relu(input: Any) -> Tensor:
    """``max(input, 0)`` element-wise; any shape."""
    return _functions.relu(as_tensor(input))


def sigmoid(input: Any) -> Tensor:
    """``1 / (1 + exp(-input))`` element-wise; any shape."""
    return _functions.sigmoid(as_tensor(input))


def tanh(input: Any) -> Tensor:
    """``tanh(input)`` element-wise; any shape."""
    return _functions.tanh(as_tensor(input))


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weight.T + bias``: ``input: (N, in)``, ``weight: (out, in)``, ``bias: (out,)`` -> ``(N, out)``."""
    return _functions.linear(as_tensor(input), weight, bias)


def dropout(input: Any, p: float = 0.5, training: bool = True, *, rng: Any = None) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by ``1 / (1 - p)``.

    The identity when ``training`` is False (PyTorch's default here is True, as in
    ``torch.nn.functional.dropout``: pass ``training=self.training`` in a module).
    ``rng``: a NumPy Generator for repeatable masks on the CPU.
    """
    return _functions.dropout(as_tensor(input), p, training, rng)


def _along_rows(function: Any, input: Any, dim: int) -> Tensor:
    """Apply a row-wise (axis 1 of a 2-D array) Function along axis ``dim`` of ``input``, differentiably.

    Moves ``dim`` last, flattens the rest into rows, applies, and undoes both.
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError("softmax of a 0-d tensor: give at least one axis")
    axis = dim % x.ndim
    if x.ndim == 2 and axis == 1:
        return function(x)
    order = [a for a in range(x.ndim) if a != axis] + [axis]
    moved = x.transpose(order)
    rows = function(moved.reshape(-1, x.shape[axis])).reshape(moved.shape)
    inverse = sorted(range(x.ndim), key=lambda a: order[a])
    return rows.transpose(inverse)


def log_softmax(input: Any, dim: int) -> Tensor:
    """``log(softmax(input))`` along ``dim``, computed stably (max subtracted); same shape as ``input``."""
    return _along_rows(_functions.log_softmax, input, dim)


def softmax(input: Any, dim: int) -> Tensor:
    """Softmax along ``dim`` (``exp`` of :func:`log_softmax`, so differentiable and overflow-free)."""
    return log_softmax(input, dim).exp()


def cross_entropy(input: Any, target: Any, weight: Any = None, *, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of ``input: (N, K)`` logits against ``target: (N,)`` integer class labels.

    ``weight: (K,)`` per class; with it the "mean" is ``sum w[y] * nll / sum w[y]``
    (PyTorch's). ``reduction``: "mean", "sum" or "none" (per-row ``(N,)``).
    """
    target = target.data if isinstance(target, Tensor) else target
    return _functions.cross_entropy(as_tensor(input), target, weight, reduction)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """LRN across channels, PyTorch's meaning: ``x / (k + alpha / size * sum of x^2 over size channels) ** beta``."""
    return _functions.local_response_norm(input, size, alpha, beta, k, alpha_over_size=True)


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of ``input: (N, C, *)`` per channel (see :mod:`minicnn.functions.batchnorm`).

    ``running_mean`` / ``running_var`` (``(C,)``, or None) are used when not
    ``training`` and updated in place when ``training``, as in PyTorch.
    """
    return _functions.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def flatten(input: Any) -> Tensor:
    """``(N, d1, d2, ...) -> (N, d1 * d2 * ...)`` (``torch.flatten(x, 1)``)."""
    return _functions.flatten(as_tensor(input))
