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

where ``y / scale = x * scale**-beta / scale``, so forward saves ``x``, ``scale``
and ``scale**-beta`` (not ``y``) on both devices.

A naive loop twin lives in :func:`minicnn.functions.naive.local_response_norm_naive`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Function, Tensor, as_tensor
from . import _kernels_cpu, _kernels_cpu_lrn, _kernels_gpu
from .conv import check_float_input


class LocalResponseNorm(Function):
    """y = x / (k + a * window-sum of x^2) ** beta across channels.  x: (N, C, H, W) -> y: (N, C, H, W).

    Both sides save ``x``, ``scale`` and ``scale_pow = scale ** -beta`` and compute
    the power with the same special cases (square roots for beta 0.75 and 0.5, pow
    otherwise: ``negative_power`` in both kernel files). The CPU kernels (Numba)
    slide the channel window along each image with a running sum; each CUDA thread
    sums its own window.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 alpha_over_size: bool = True) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"local_response_norm size must be an int >= 1 (channels in the window), got {size!r}")
        if k < 0 or alpha < 0:
            raise ValueError(f"local_response_norm needs k >= 0 and alpha >= 0, got k={k!r}, alpha={alpha!r}")
        self.size, self.beta, self.k = size, float(beta), float(k)
        self.a = float(alpha) / size if alpha_over_size else float(alpha)
        self.before, self.after = size // 2, (size - 1) // 2

    def forward(self, ctx, x):
        check_float_input(x, "local_response_norm input x", 4)
        return super().forward(ctx, x)  # forward_cpu or forward_gpu

    def forward_cpu(self, ctx, x):
        x = np.ascontiguousarray(x)
        y, scale, scale_pow = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        kernel = _kernels_cpu.pick(_kernels_cpu_lrn.lrn_forward, x.size * 4)
        t = x.dtype.type
        kernel(x, self.before, self.after, t(self.a), t(self.k), t(self.beta), y, scale, scale_pow)
        ctx.save_for_backward(x, scale, scale_pow)
        return y

    def forward_gpu(self, ctx, x):
        y, scale, scale_pow = _kernels_gpu.lrn_forward(x, self.before, self.after, self.a, self.k, self.beta)
        ctx.save_for_backward(x, scale, scale_pow)
        return y

    def backward_cpu(self, ctx, gy):
        x, scale, scale_pow = ctx.saved_tensors
        gx = np.empty_like(x)
        kernel = _kernels_cpu.pick(_kernels_cpu_lrn.lrn_backward, x.size * 4)
        kernel(x, scale, scale_pow, np.ascontiguousarray(gy), self.before, self.after,
               x.dtype.type(-2.0 * self.a * self.beta), gx)
        return gx

    def backward_gpu(self, ctx, gy):
        x, scale, scale_pow = ctx.saved_tensors
        return _kernels_gpu.lrn_backward(x, scale, scale_pow, gy, self.before, self.after, self.a, self.beta)


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
