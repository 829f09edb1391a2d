"""Pooling: max, average (PyTorch semantics) and LeNet's trainable subsampling.

Windows follow :mod:`._im2col`: output ``(oh, ow)`` covers input rows
``oh*sh - pad_top ... + kh - 1`` and columns likewise. Max-pooling treats padding
as -inf (it never wins); average pooling as zeros that count in the divisor
when ``count_include_pad``, except where a ``ceil_mode`` window hangs past the
declared padding (PyTorch's rule). Naive loop twins live in
:mod:`minicnn.functions.naive`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor, is_grad_enabled
from ._im2col import (IntPair, Padding, Window, as_pair, crop_padding, make_window, offset_slices, pad_for_windows,
                      padded_size)
from .conv import check_float_input


def pool_window(x: Any, kernel_size: IntPair, stride: IntPair | None, padding: Padding, ceil_mode: bool) -> Window:
    """Validate pooling settings for ``x: (N, C, H, W)`` and return the window geometry (stride defaults to kernel)."""
    check_float_input(x, "pooling input x", 4)
    stride = kernel_size if stride is None else stride
    return make_window(x.shape[2:], kernel_size, stride, padding, ceil_mode, max_pad_half_kernel=True)


# ----------------------------------------------------------------- max pooling
def first_pixel_offsets(win: Window) -> np.ndarray:
    """``(OH, OW)`` int32: the kernel offset ``i*kw + j`` of each window's first pixel inside the image."""
    first_i = np.maximum(win.pad_top - np.arange(win.out_h) * win.sh, 0)
    first_j = np.maximum(win.pad_left - np.arange(win.out_w) * win.sw, 0)
    return (first_i[:, None] * win.kw + first_j[None, :]).astype(np.int32)


def max_pool_forward_xp(x: Any, win: Window) -> tuple[Any, Any]:
    """Max-pool with array slicing (NumPy or CuPy): ``x: (N, C, H, W) -> (y, offset)``, both ``(N, C, OH, OW)``.

    ``offset`` (int32) is the winning kernel offset ``i*kw + j`` of each window, by
    the rules of the Numba kernel: the first maximum in row-major order, a NaN
    wins (the last NaN), and an all -inf window picks its first pixel inside the image.
    """
    xp = get_array_module(x)
    padded = pad_for_windows(x, win, -np.inf)
    shape = (x.shape[0], x.shape[1], win.out_h, win.out_w)
    best = xp.full(shape, -np.inf, dtype=x.dtype)
    offset = xp.broadcast_to(xp.asarray(first_pixel_offsets(win)), shape).copy()
    for i in range(win.kh):
        for j in range(win.kw):
            rows, cols = offset_slices(win, i, j)
            values = padded[:, :, rows, cols]
            better = (values > best) | xp.isnan(values)
            best = xp.where(better, values, best)
            offset = xp.where(better, np.int32(i * win.kw + j), offset)
    return best, offset


def max_pool_values(x: Any, win: Window) -> Any:
    """Max-pool values only (no argmax: inference), ``x: (N, C, H, W) -> (N, C, OH, OW)``.

    One element-wise maximum per kernel offset over strided views of the -inf-padded
    input; ``maximum`` propagates NaN, as the argmax kernel does.
    """
    xp = get_array_module(x)
    padded = pad_for_windows(x, win, -np.inf)
    rows, cols = offset_slices(win, 0, 0)
    y = padded[:, :, rows, cols].copy()
    for i in range(win.kh):
        for j in range(win.kw):
            if i or j:
                rows, cols = offset_slices(win, i, j)
                xp.maximum(y, padded[:, :, rows, cols], out=y)
    return y


def max_pool_backward_xp(gy: Any, offset: Any, win: Window) -> Any:
    """Route ``gy: (N, C, OH, OW)`` to each window's winning pixel: ``-> gx: (N, C, H, W)``."""
    xp = get_array_module(gy)
    n, c = gy.shape[:2]
    padded = xp.zeros((n, c) + padded_size(win), dtype=gy.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            rows, cols = offset_slices(win, i, j)
            padded[:, :, rows, cols] += xp.where(offset == i * win.kw + j, gy, 0)
    return crop_padding(padded, win)


class MaxPool2d(Function):
    """y = max over each window.  x: (N, C, H, W) -> y: (N, C, OH, OW).

    The gradient goes to the first maximum of each window (PyTorch's choice on ties).
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
                 ceil_mode: bool = False) -> None:
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def forward(self, x):
        win = pool_window(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        self.win, self.x_shape = win, x.shape
        if self.inputs and not (is_grad_enabled() and self.needs_grad(0)):  # no backward will come: maxima suffice
            return max_pool_values(x, win)
        if get_array_module(x) is not np:
            from . import _kernels_gpu

            kernel = _kernels_gpu.max_pool_forward if _kernels_gpu.handles(x) else max_pool_forward_xp
            y, self.offset = kernel(x, win)  # offset: the winner's i*kw + j, the same convention in both
            return y
        from . import _kernels_cpu

        padded = np.ascontiguousarray(pad_for_windows(x, win, -np.inf))
        y = np.empty((x.shape[0], x.shape[1], win.out_h, win.out_w), dtype=x.dtype)
        self.argmax = np.empty(y.shape, dtype=np.int32)  # flat index h*W + w of each window's maximum
        kernel = _kernels_cpu.pick(_kernels_cpu.max_pool_forward, y.size * win.ksize)
        nan_aware = bool(np.isnan(x).any())
        kernel(padded, win.kh, win.kw, win.sh, win.sw, win.pad_top, win.pad_left, win.in_w, win.out_h, win.out_w,
               nan_aware, y, self.argmax)
        return y

    def backward(self, gy):
        if get_array_module(gy) is not np:
            from . import _kernels_gpu

            kernel = _kernels_gpu.max_pool_backward if _kernels_gpu.handles(gy) else max_pool_backward_xp
            return kernel(gy, self.offset, self.win)
        from . import _kernels_cpu

        gx = np.zeros(self.x_shape, dtype=gy.dtype)
        kernel = _kernels_cpu.pick(_kernels_cpu.max_pool_backward, gy.size)
        kernel(np.ascontiguousarray(gy), self.argmax, gx)
        return gx


def max_pool2d(x: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
               ceil_mode: bool = False) -> Tensor:
    """Max pooling ``x: (N, C, H, W) -> (N, C, OH, OW)``.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); None means kernel_size.
        padding: int or (ph, pw), at most half the kernel, -inf on both sides; or
            "valid" / "same" (TensorFlow: OH = ceil(H / sh), odd pixel after).
        ceil_mode: round the output size up (PyTorch's rule: the last window must
            start inside the input or the left padding).
    """
    return MaxPool2d(kernel_size, stride, padding, ceil_mode).apply_to(as_tensor(x))


# ------------------------------------------------------------- average pooling
def avg_pool_divisor(win: Window, count_include_pad: bool, dtype: Any, xp: Any) -> Any:
    """The divisor of each output window, ``(OH, OW)``.

    Per axis, a window starting at ``s = o*stride - pad_before`` ends at
    ``min(s + k, size + pad_after)``; with ``count_include_pad`` its length counts
    that padded extent, otherwise only the part inside ``[0, size)``.
    """

    def axis_counts(out: int, stride: int, kernel: int, before: int, after: int, size: int) -> np.ndarray:
        start = np.arange(out) * stride - before
        end = np.minimum(start + kernel, size + after)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        return end - start

    rows = axis_counts(win.out_h, win.sh, win.kh, win.pad_top, win.pad_bottom, win.in_h)
    cols = axis_counts(win.out_w, win.sw, win.kw, win.pad_left, win.pad_right, win.in_w)
    return xp.asarray(np.outer(rows, cols).astype(dtype))


class AvgPool2d(Function):
    """y = mean over each window.  x: (N, C, H, W) -> y: (N, C, OH, OW).

    Sum of one strided slice per kernel offset, divided by :func:`avg_pool_divisor`.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        xp = get_array_module(x)
        win = pool_window(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        self.win = win
        self.divisor = avg_pool_divisor(win, self.count_include_pad, x.dtype, xp)
        if xp is not np:
            from . import _kernels_gpu

            if _kernels_gpu.handles(x):
                return _kernels_gpu.avg_pool_forward(x, win, self.divisor)
        padded = pad_for_windows(x, win, 0.0)
        total = xp.zeros((x.shape[0], x.shape[1], win.out_h, win.out_w), dtype=x.dtype)
        for i in range(win.kh):
            for j in range(win.kw):
                rows, cols = offset_slices(win, i, j)
                total += padded[:, :, rows, cols]
        return total / self.divisor

    def backward(self, gy):
        xp = get_array_module(gy)
        win = self.win
        if xp is not np:
            from . import _kernels_gpu

            if _kernels_gpu.handles(gy):
                return _kernels_gpu.avg_pool_backward(gy, win, self.divisor)
        share = gy / self.divisor
        padded = xp.zeros(gy.shape[:2] + padded_size(win), dtype=gy.dtype)
        for i in range(win.kh):
            for j in range(win.kw):
                rows, cols = offset_slices(win, i, j)
                padded[:, :, rows, cols] += share
        return crop_padding(padded, win)


def avg_pool2d(x: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Average pooling ``x: (N, C, H, W) -> (N, C, OH, OW)`` with PyTorch's semantics.

    Args:
        kernel_size, stride, padding, ceil_mode: as :func:`max_pool2d` (zeros pad).
        count_include_pad: whether padding zeros count in the divisor. Windows that
            ``ceil_mode`` lets hang past the padding never count the overhang.
    """
    return AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad).apply_to(as_tensor(x))


# ------------------------------------------------------------ LeNet subsampling
class Subsample2d(Function):
    """LeNet's subsampling: y[n, c] = weight[c] * (sum of each k x k block) + bias[c].

    Shapes: x: (N, C, H, W), weight: (C,), bias: (C,) -> y: (N, C, H // kh, W // kw).
    Blocks do not overlap; rows/columns left over at the end are ignored.
    """

    def __init__(self, kernel_size: IntPair = 2) -> None:
        self.kernel_size = kernel_size

    def forward(self, x, weight, bias):
        check_float_input(x, "subsample2d input x", 4)
        kh, kw = as_pair(self.kernel_size, "kernel_size", 1)
        n, c, h, w = x.shape
        for name, p in (("weight", weight), ("bias", bias)):
            if tuple(p.shape) != (c,):
                raise ValueError(f"subsample2d {name} must have shape ({c},) (one per channel), got {tuple(p.shape)}")
            if p.dtype != x.dtype:
                raise TypeError(f"subsample2d {name} dtype {p.dtype} differs from the input's {x.dtype}")
        if kh > h or kw > w:
            raise ValueError(f"subsample2d kernel {(kh, kw)} is larger than the input {(h, w)}")
        oh, ow = h // kh, w // kw
        self.weight, self.x_shape, self.k = weight, x.shape, (kh, kw)
        if get_array_module(x) is np:  # one Numba pass: block sums and the scaled output
            from . import _kernels_cpu

            x = np.ascontiguousarray(x)
            self.block_sum = np.empty((n, c, oh, ow), dtype=x.dtype)
            y = np.empty_like(self.block_sum)
            kernel = _kernels_cpu.pick(_kernels_cpu.subsample_forward, x.size)
            kernel(x, kh, kw, np.ascontiguousarray(weight), np.ascontiguousarray(bias), self.block_sum, y)
            return y
        self.block_sum = x[:, :, : oh * kh, : ow * kw].reshape(n, c, oh, kh, ow, kw).sum(axis=(3, 5))
        return self.block_sum * weight[:, None, None] + bias[:, None, None]

    def backward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (n, c, h, w) = self.k, self.x_shape
        oh, ow = gy.shape[2:]
        gx = None
        if self.needs_grad(0) and xp is np:
            from . import _kernels_cpu

            gx = np.empty(self.x_shape, dtype=gy.dtype)
            kernel = _kernels_cpu.pick(_kernels_cpu.subsample_backward, gx.size)
            kernel(np.ascontiguousarray(gy), np.ascontiguousarray(self.weight), kh, kw, gx)
        elif self.needs_grad(0):
            g_block = (gy * self.weight[:, None, None])[:, :, :, None, :, None]
            gx = xp.zeros(self.x_shape, dtype=gy.dtype)
            gx[:, :, : oh * kh, : ow * kw] = xp.broadcast_to(g_block, (n, c, oh, kh, ow, kw)).reshape(
                n, c, oh * kh, ow * kw)
        gw = (gy * self.block_sum).sum(axis=(0, 2, 3)) if self.needs_grad(1) else None
        gb = gy.sum(axis=(0, 2, 3)) if self.needs_grad(2) else None
        return gx, gw, gb


def subsample2d(x: Any, weight: Any, bias: Any, kernel_size: IntPair = 2) -> Tensor:
    """LeNet subsampling ``x: (N, C, H, W)``, ``weight, bias: (C,)`` -> ``(N, C, H // k, W // k)``.

    ``y[n, c] = weight[c] * (sum of the non-overlapping k x k block) + bias[c]``
    (LeCun et al. 1998; the sigmoid that follows is a separate layer).
    """
    return Subsample2d(kernel_size).apply_to(as_tensor(x), as_tensor(weight), as_tensor(bias))
