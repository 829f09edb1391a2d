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
from ..tensor import Function, Tensor, as_tensor
from . import _kernels_cpu, _kernels_gpu
from ._im2col import (IntPair, Padding, Window, as_pair, crop_padding, make_window, offset_slices, pad_for_windows,
                      padded_size)
from .conv import check_float_input


def pool_window(x: Any, kernel_size: IntPair, stride: IntPair | None, padding: Padding, ceil_mode: bool) -> Window:
    """Validate pooling settings for ``x: (N, C, H, W)`` and return the window geometry (stride defaults to kernel)."""
    check_float_input(x, "pooling input x", 4)
    stride = kernel_size if stride is None else stride
    return make_window(x.shape[2:], kernel_size, stride, padding, ceil_mode, max_pad_half_kernel=True)


# ----------------------------------------------------------------- max pooling
def max_pool_forward_xp(x: Any, win: Window) -> tuple[Any, Any]:
    """Max-pool with array slicing (NumPy or CuPy): ``x: (N, C, H, W) -> (y, argmax)``, both ``(N, C, OH, OW)``.

    The readable version of the two kernels, with their conventions (the tests'
    reference): ``argmax`` (int32) is the flat index ``h*W + w`` of each window's
    winner in its plane (PyTorch's ``return_indices``): the first maximum in
    row-major order, a NaN wins (the last NaN), and an all -inf window picks its
    first pixel inside the image.
    """
    xp = get_array_module(x)
    padded = pad_for_windows(x, win, -np.inf)
    shape = (x.shape[0], x.shape[1], win.out_h, win.out_w)
    first_i = np.maximum(win.pad_top - np.arange(win.out_h) * win.sh, 0)  # each window's first row inside
    first_j = np.maximum(win.pad_left - np.arange(win.out_w) * win.sw, 0)
    best = xp.full(shape, -np.inf, dtype=x.dtype)
    offset = xp.broadcast_to(xp.asarray((first_i[:, None] * win.kw + first_j[None, :]).astype(np.int32)), shape).copy()
    for i in range(win.kh):
        for j in range(win.kw):
            rows, cols = offset_slices(win, i, j)
            values = padded[:, :, rows, cols]
            better = (values > best) | xp.isnan(values)
            best = xp.where(better, values, best)
            offset = xp.where(better, np.int32(i * win.kw + j), offset)
    h = xp.asarray(np.arange(win.out_h) * win.sh - win.pad_top)[:, None] + offset // win.kw  # kernel offset -> pixel
    w = xp.asarray(np.arange(win.out_w) * win.sw - win.pad_left)[None, :] + offset % win.kw
    return best, (h * win.in_w + w).astype(np.int32)


def max_pool_backward_xp(gy: Any, argmax: Any, win: Window) -> Any:
    """Add each ``gy: (N, C, OH, OW)`` to its plane's pixel ``argmax`` (flat index): ``-> gx: (N, C, H, W)``."""
    xp = get_array_module(gy)
    n, c = gy.shape[:2]
    gx = xp.zeros((n * c, win.in_h * win.in_w), dtype=gy.dtype)
    planes = xp.arange(n * c)[:, None]
    xp.add.at(gx, (planes, argmax.reshape(n * c, -1)), gy.reshape(n * c, -1))
    return gx.reshape(n, c, win.in_h, win.in_w)


def max_pool_values(x: Any, win: Window) -> Any:
    """Max-pool values only (no argmax: inference), ``x: (N, C, H, W) -> (N, C, OH, OW)``. xp-generic.

    One element-wise maximum per kernel offset over strided views of the -inf-padded
    input; ``maximum`` propagates NaN, as the argmax kernels do.
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


class MaxPool2d(Function):
    """y = max over each window.  x: (N, C, H, W) -> y: (N, C, OH, OW).

    Both sides save ``argmax``: the flat index ``h*W + w`` of each window's winner in
    its image-channel plane (int32, PyTorch's ``return_indices``), by the same rules
    (the first maximum; a NaN wins; padding never does; an all -inf window picks its
    first pixel inside the image). The gradient goes to that pixel. When no gradient
    is wanted, both sides compute the maxima alone (:func:`max_pool_values`).
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
                 ceil_mode: bool = False) -> None:
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def forward(self, ctx, x):
        ctx.win = pool_window(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        if not ctx.needs_input_grad[0]:  # no backward will come, on either device: the maxima suffice
            return max_pool_values(x, ctx.win)
        return super().forward(ctx, x)  # forward_cpu or forward_gpu

    def forward_cpu(self, ctx, x):
        win = ctx.win
        y = np.empty((x.shape[0], x.shape[1], win.out_h, win.out_w), dtype=x.dtype)
        argmax = np.empty(y.shape, dtype=np.int32)
        x = np.ascontiguousarray(x)
        with np.errstate(all="ignore"):  # inf - inf in the sum only sends x to the exact, slower kernel
            has_nan = bool(np.isnan(np.sum(x)))  # no bool temporary of x's size, as isnan(x).any() makes
        if has_nan:  # the one-pass kernel, whose NaN test slows its loop
            kernel = _kernels_cpu.pick(_kernels_cpu.max_pool_forward, y.size * win.ksize)
            kernel(x, win.kh, win.kw, win.sh, win.sw, win.pad_top, win.pad_left, True, y, argmax)
        else:  # down the window's rows, then along its columns: the same outputs, in loops that vectorise
            kernel = _kernels_cpu.pick(_kernels_cpu.max_pool_forward_separable, y.size * win.ksize)
            kernel(x, win.kh, win.kw, win.sh, win.sw, win.pad_top, win.pad_left, y, argmax)
        ctx.save_for_backward(argmax)
        return y

    def forward_gpu(self, ctx, x):
        y, argmax = _kernels_gpu.max_pool_forward(x, ctx.win)
        ctx.save_for_backward(argmax)
        return y

    def backward_cpu(self, ctx, gy):
        (argmax,) = ctx.saved_tensors
        gx = np.zeros(gy.shape[:2] + (ctx.win.in_h, ctx.win.in_w), dtype=gy.dtype)
        kernel = _kernels_cpu.pick(_kernels_cpu.max_pool_backward, gy.size)
        kernel(np.ascontiguousarray(gy), argmax, gx)  # one task per plane scatters onto the winners
        return gx

    def backward_gpu(self, ctx, gy):
        (argmax,) = ctx.saved_tensors
        return _kernels_gpu.max_pool_backward(gy, argmax, ctx.win)  # one thread per pixel gathers its windows


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

    Both sides divide each window's sum by :func:`avg_pool_divisor` (computed once,
    saved with the window for backward), and backward spreads ``gy / divisor`` over
    each window. The CPU side is array code (one strided slice per kernel offset, on
    a zero-padded copy); the GPU side one CUDA thread per output (forward) or per
    input pixel (backward), bounds-checking the unpadded input.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: Padding = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, ctx, x):
        ctx.win = pool_window(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        ctx.save_for_backward(avg_pool_divisor(ctx.win, self.count_include_pad, x.dtype, get_array_module(x)))
        return super().forward(ctx, x)  # forward_cpu or forward_gpu

    def forward_cpu(self, ctx, x):
        win, (divisor,) = ctx.win, ctx.saved_tensors
        padded = pad_for_windows(x, win, 0.0)
        total = np.zeros((x.shape[0], x.shape[1], win.out_h, win.out_w), dtype=x.dtype)
        for i in range(win.kh):
            for j in range(win.kw):
                rows, cols = offset_slices(win, i, j)
                total += padded[:, :, rows, cols]
        return total / divisor

    def forward_gpu(self, ctx, x):
        return _kernels_gpu.avg_pool_forward(x, ctx.win, ctx.saved_tensors[0])

    def backward_cpu(self, ctx, gy):
        win, (divisor,) = ctx.win, ctx.saved_tensors
        share = gy / divisor
        padded = np.zeros(gy.shape[:2] + padded_size(win), dtype=gy.dtype)
        for i in range(win.kh):
            for j in range(win.kw):
                rows, cols = offset_slices(win, i, j)
                padded[:, :, rows, cols] += share
        return crop_padding(padded, win)

    def backward_gpu(self, ctx, gy):
        return _kernels_gpu.avg_pool_backward(gy, ctx.win, ctx.saved_tensors[0])


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
    Blocks do not overlap; rows/columns left over at the end are ignored. Both sides
    save the block sums (for the weight's gradient) and the weight; the CPU runs one
    Numba pass each way, the GPU the same sums as CuPy array code.
    """

    def __init__(self, kernel_size: IntPair = 2) -> None:
        self.kernel_size = kernel_size

    def forward(self, ctx, x, weight, bias):
        check_float_input(x, "subsample2d input x", 4)
        kh, kw = as_pair(self.kernel_size, "kernel_size", 1)
        c, h, w = x.shape[1:]
        for name, p in (("weight", weight), ("bias", bias)):
            if tuple(p.shape) != (c,):
                raise ValueError(f"subsample2d {name} must have shape ({c},) (one per channel), got {tuple(p.shape)}")
            if p.dtype != x.dtype:
                raise TypeError(f"subsample2d {name} dtype {p.dtype} differs from the input's {x.dtype}")
        if kh > h or kw > w:
            raise ValueError(f"subsample2d kernel {(kh, kw)} is larger than the input {(h, w)}")
        ctx.k, ctx.x_shape = (kh, kw), x.shape
        return super().forward(ctx, x, weight, bias)  # forward_cpu or forward_gpu

    def forward_cpu(self, ctx, x, weight, bias):
        (kh, kw), (n, c, h, w) = ctx.k, x.shape
        x = np.ascontiguousarray(x)
        block_sum = np.empty((n, c, h // kh, w // kw), dtype=x.dtype)
        y = np.empty_like(block_sum)
        kernel = _kernels_cpu.pick(_kernels_cpu.subsample_forward, x.size)
        kernel(x, kh, kw, np.ascontiguousarray(weight), np.ascontiguousarray(bias), block_sum, y)
        ctx.save_for_backward(block_sum, weight)
        return y

    def forward_gpu(self, ctx, x, weight, bias):
        (kh, kw), (n, c, h, w) = ctx.k, x.shape
        oh, ow = h // kh, w // kw
        block_sum = x[:, :, : oh * kh, : ow * kw].reshape(n, c, oh, kh, ow, kw).sum(axis=(3, 5))
        ctx.save_for_backward(block_sum, weight)
        return block_sum * weight[:, None, None] + bias[:, None, None]

    def backward_cpu(self, ctx, gy):
        block_sum, weight = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = np.empty(ctx.x_shape, dtype=gy.dtype)
            kernel = _kernels_cpu.pick(_kernels_cpu.subsample_backward, gx.size)
            kernel(np.ascontiguousarray(gy), np.ascontiguousarray(weight), ctx.k[0], ctx.k[1], gx)
        return (gx,) + self._parameter_grads(ctx, gy, block_sum)

    def backward_gpu(self, ctx, gy):
        block_sum, weight = ctx.saved_tensors
        (kh, kw), (n, c, h, w) = ctx.k, ctx.x_shape
        oh, ow = gy.shape[2:]
        gx = None
        if ctx.needs_input_grad[0]:
            xp = get_array_module(gy)
            g_block = (gy * weight[:, None, None])[:, :, :, None, :, None]
            gx = xp.zeros(ctx.x_shape, dtype=gy.dtype)
            gx[:, :, : oh * kh, : ow * kw] = xp.broadcast_to(g_block, (n, c, oh, kh, ow, kw)).reshape(
                n, c, oh * kh, ow * kw)
        return (gx,) + self._parameter_grads(ctx, gy, block_sum)

    @staticmethod
    def _parameter_grads(ctx, gy: Any, block_sum: Any) -> tuple[Any, Any]:
        """The weight's and bias's gradients, ``(C,)`` each (None where not needed): xp-generic sums."""
        gw = (gy * block_sum).sum(axis=(0, 2, 3)) if ctx.needs_input_grad[1] else None
        gb = gy.sum(axis=(0, 2, 3)) if ctx.needs_input_grad[2] else None
        return gw, gb


def subsample2d(x: Any, weight: Any, bias: Any, kernel_size: IntPair = 2) -> Tensor:
    """LeNet subsampling ``x: (N, C, H, W)``, ``weight, bias: (C,)`` -> ``(N, C, H // k, W // k)``.

    ``y[n, c] = weight[c] * (sum of the non-overlapping k x k block) + bias[c]``
    (LeCun et al. 1998; the sigmoid that follows is a separate layer).
    """
    return Subsample2d(kernel_size).apply_to(as_tensor(x), as_tensor(weight), as_tensor(bias))
