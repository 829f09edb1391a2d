"""Local response normalisation across channels (Krizhevsky et al. 2012).

For each pixel, channel ``c`` is divided by a power of the sum of squares over a
window of ``size`` neighbouring channels::

    scale[c] = k + a * sum_{j = c - size//2}^{c + (size-1)//2} x[j]^2     (clipped to [0, C))
    y[c]     = x[c] * scale[c] ** -beta

(PyTorch's window for an even ``size``: more channels before than after.)
Conventions differ on ``a``: Caffe and PyTorch use ``a = alpha / size``
(``alpha_over_size=True``); TensorFlow and Chainer use ``a = alpha``, and TF's
``depth_radius r`` is ``size = 2r + 1``.

Backward (the Chainer form): with ``W`` the window above and ``W^T`` its mirror
(channels ``c - (size-1)//2 .. c + size//2``, the channels whose window holds ``c``)::

    gx = gy * scale**-beta - 2 * a * beta * x * W^T-sum(gy * y / scale)

A naive loop twin lives in :func:`minicnn.functions.naive.local_response_norm_naive`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor
from . import _kernels_gpu
from .conv import check_float_input


def channel_window_sum(a: Any, before: int, after: int, nonnegative: bool = False) -> Any:
    """``out[:, c] = sum(a[:, c - before : c + after + 1])`` (clipped to the channels), ``a: (N, C, H, W)``.

    A prefix sum over channels, one plane-wide addition per channel, then one
    difference per channel: O(C) array operations whatever the window size.
    The difference of two float prefix sums can dip a rounding error below zero
    where the window holds only zeros; with ``nonnegative`` (``a >= 0``, e.g.
    squares) the result is clipped at 0.
    """
    xp = get_array_module(a)
    n, c = a.shape[:2]
    prefix = xp.empty((n, c + 1) + a.shape[2:], dtype=a.dtype)  # prefix[:, j] = a[:, :j].sum(1)
    prefix[:, 0] = 0
    for j in range(c):
        xp.add(prefix[:, j], a[:, j], out=prefix[:, j + 1])
    out = xp.empty_like(a)
    for j in range(c):
        xp.subtract(prefix[:, min(j + after + 1, c)], prefix[:, max(j - before, 0)], out=out[:, j])
    return xp.maximum(out, 0, out=out) if nonnegative else out


def negative_power(base: Any, beta: float) -> Any:
    """``base ** -beta`` for a positive array, with square roots for the common betas (much faster than pow)."""
    xp = get_array_module(base)
    if beta == 0.75:
        return 1 / xp.sqrt(base * xp.sqrt(base))
    if beta == 0.5:
        return 1 / xp.sqrt(base)
    if beta == 1.0:
        return 1 / base
    return base ** -beta


class LocalResponseNorm(Function):
    """y = x / (k + a * window-sum of x^2) ** beta across channels.  x: (N, C, H, W) -> y: (N, C, H, W)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 alpha_over_size: bool = True) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"local_response_norm size must be an int >= 1 (channels in the window), got {size!r}")
        if k < 0 or alpha < 0:
            raise ValueError(f"local_response_norm needs k >= 0 and alpha >= 0, got k={k!r}, alpha={alpha!r}")
        self.size, self.beta, self.k = size, float(beta), float(k)
        self.a = float(alpha) / size if alpha_over_size else float(alpha)
        self.before, self.after = size // 2, (size - 1) // 2

    def forward(self, x):
        check_float_input(x, "local_response_norm input x", 4)
        self.gpu_kernel = _kernels_gpu.handles(x)
        if self.gpu_kernel:  # one CUDA thread per output sums its channel window
            y, scale = _kernels_gpu.lrn_forward(x, self.before, self.after, self.a, self.k, self.beta)
            self.x, self.y, self.scale = x, y, scale
            return y
        if isinstance(x, np.ndarray):  # one Numba pass: a running window sum per pixel
            from . import _kernels_cpu

            x = np.ascontiguousarray(x)
            y, scale, self.scale_pow = np.empty_like(x), np.empty_like(x), np.empty_like(x)
            kernel = _kernels_cpu.pick(_kernels_cpu.lrn_forward, x.size * 4)
            kernel(x, self.before, self.after, x.dtype.type(self.a), x.dtype.type(self.k), x.dtype.type(self.beta),
                   y, scale, self.scale_pow)
        else:  # the array twin (CuPy dtypes without a kernel)
            scale = channel_window_sum(x * x, self.before, self.after, nonnegative=True)
            scale *= self.a
            scale += self.k
            self.scale_pow = negative_power(scale, self.beta)  # scale ** -beta
            y = x * self.scale_pow
        self.x, self.y, self.scale = x, y, scale
        return y

    def backward(self, gy):
        if self.gpu_kernel:
            return _kernels_gpu.lrn_backward(self.x, self.y, self.scale, gy, self.before, self.after, self.a, self.beta)
        weighted = gy * self.y
        weighted /= self.scale
        # mirrored window: channel c feeds the outputs c - after .. c + before
        spread = channel_window_sum(weighted, self.after, self.before)
        spread *= self.x
        spread *= -2.0 * self.a * self.beta
        gx = gy * self.scale_pow
        gx += spread
        return gx


def local_response_norm(x: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                        alpha_over_size: bool = True) -> Tensor:
    """Local response normalisation across channels, ``x: (N, C, H, W) -> (N, C, H, W)``.

    Args:
        size: channels in the window, centred on c: c - size//2 .. c + (size-1)//2.
        alpha, beta, k: y = x / (k + a * sum x^2) ** beta.
        alpha_over_size: a = alpha / size (PyTorch, Caffe) if True, else a = alpha
            (TensorFlow with depth_radius r = (size - 1) / 2, Chainer).
    """
    return LocalResponseNorm(size, alpha, beta, k, alpha_over_size).apply_to(as_tensor(x))
