"""Sliding-window geometry and im2col / col2im, shared by convolution and pooling.

A 2-D sliding window over an ``(H, W)`` image is fully described by its kernel
size, stride and the padding added *before* the first row/column: output
position ``(oh, ow)`` and kernel offset ``(i, j)`` read input pixel::

    h = oh * stride_h - pad_top + i        w = ow * stride_w - pad_left + j

and any ``(h, w)`` outside ``[0, H) x [0, W)`` is padding (zero for convolution,
-inf for max-pooling). The padding *after* the last row/column only matters for
how many outputs there are. The CUDA kernels (:mod:`._kernels_gpu_src`) and the
max-pool Numba kernel read the unpadded input with that formula and a bounds
test. The Numba im2col and col2im (:mod:`._kernels_cpu`) and the readable slicing
versions here (:func:`im2col_xp`, :func:`col2im_xp`, the references the tests
compare the kernels with) work on a padded copy (:func:`pad_for_windows`) instead,
where the same pixel sits at ``(oh*stride_h + i, ow*stride_w + j)``.

im2col lays the windows out as columns: ``cols[n, (c*kh + i)*kw + j, oh*OW + ow]``
is input pixel ``(h, w)`` of channel ``c`` of image ``n``. With ``w`` of shape
``(F, C, kh, kw)`` reshaped to ``(F, C*kh*kw)``, ``w @ cols[n]`` is the
convolution output of image ``n`` already in ``(F, OH*OW)`` = NCHW order.
col2im is its adjoint: it adds every column entry back onto the pixel it came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .. import backend
from ..backend import get_array_module

IntPair = Union[int, tuple[int, int]]
Padding = Union[int, tuple[int, int], str]


@dataclass(frozen=True)
class Window:
    """Geometry of a 2-D sliding window: sizes in pixels, per axis (height, width).

    Attributes:
        in_h, in_w: input size.
        kh, kw: kernel size.
        sh, sw: stride.
        pad_top, pad_bottom, pad_left, pad_right: padding before/after each axis.
        out_h, out_w: output size.
    """

    in_h: int
    in_w: int
    kh: int
    kw: int
    sh: int
    sw: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    out_h: int
    out_w: int

    @property
    def ksize(self) -> int:
        """Number of kernel offsets, kh * kw."""
        return self.kh * self.kw

    @property
    def out_size(self) -> int:
        """Number of output positions, out_h * out_w."""
        return self.out_h * self.out_w


def as_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a pair of ints >= ``minimum``; raise ValueError otherwise."""
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    pair = (value, value) if is_int(value) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(is_int(v) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints (h, w), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} on each axis, got {value!r}")
    return int(pair[0]), int(pair[1])


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's 'SAME' padding on one axis: (pad_before, pad_after, out).

    out = ceil(size / stride); the total padding makes the last window end on the
    padded edge, and its odd pixel goes after: 7x7 stride 2 on 128 pads (2, 3).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _axis_out(size: int, kernel: int, stride: int, before: int, after: int, ceil_mode: bool, axis: str) -> int:
    """Number of windows along one axis (PyTorch's rule, including ceil_mode)."""
    span = size + before + after
    if span < kernel:
        raise ValueError(
            f"kernel {axis} {kernel} is larger than the padded input {axis} {span} "
            f"(input {size} + padding {before} + {after})"
        )
    if not ceil_mode:
        return (span - kernel) // stride + 1
    out = -(-(span - kernel) // stride) + 1
    if (out - 1) * stride >= size + before:  # the last window would start in the padding
        out -= 1
    return out


def make_window(
    in_hw: tuple[int, int],
    kernel: IntPair,
    stride: IntPair,
    padding: Padding,
    ceil_mode: bool = False,
    max_pad_half_kernel: bool = False,
) -> Window:
    """Validate the settings of a sliding window and compute its geometry.

    Args:
        in_hw: input (H, W).
        kernel: kernel size, int or (kh, kw), >= 1.
        stride: int or (sh, sw), >= 1.
        padding: int or (ph, pw) >= 0 (the same on both sides), or "valid" (none)
            or "same" (TensorFlow: out = ceil(in / stride), extra pixel after).
        ceil_mode: round the output size up (pooling), as PyTorch does.
        max_pad_half_kernel: enforce PyTorch's pooling rule padding <= kernel // 2.
    """
    kh, kw = as_pair(kernel, "kernel_size", 1)
    sh, sw = as_pair(stride, "stride", 1)
    in_h, in_w = in_hw
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            top = bottom = left = right = 0
        elif mode == "same":
            top, bottom, _ = tf_same_padding(in_h, kh, sh)
            left, right, _ = tf_same_padding(in_w, kw, sw)
        else:
            raise ValueError(f"padding must be an int, a pair (h, w), 'same' or 'valid', got {padding!r}")
    else:
        ph, pw = as_pair(padding, "padding", 0)
        if max_pad_half_kernel and (ph > kh // 2 or pw > kw // 2):
            raise ValueError(
                f"padding {(ph, pw)} should be at most half the kernel size {(kh, kw)} "
                f"(otherwise a window could lie entirely in the padding)"
            )
        top = bottom = ph
        left = right = pw
    out_h = _axis_out(in_h, kh, sh, top, bottom, ceil_mode, "height")
    out_w = _axis_out(in_w, kw, sw, left, right, ceil_mode, "width")
    return Window(in_h, in_w, kh, kw, sh, sw, top, bottom, left, right, out_h, out_w)


def padded_size(win: Window) -> tuple[int, int]:
    """(Hp, Wp): the input with ``pad_top``/``pad_left`` before and as much after as the last window reaches.

    With ceil_mode the last window can hang past ``pad_bottom``/``pad_right``; with a
    large stride it can end before them (the padding it never reads is dropped).
    """
    return (win.pad_top + max((win.out_h - 1) * win.sh + win.kh - win.pad_top, win.in_h),
            win.pad_left + max((win.out_w - 1) * win.sw + win.kw - win.pad_left, win.in_w))


def pad_for_windows(x: Any, win: Window, value: float) -> Any:
    """Pad ``x: (N, C, H, W)`` with ``value`` to ``(N, C, Hp, Wp)`` (:func:`padded_size`); ``x`` itself if no padding."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    hp, wp = padded_size(win)
    if (hp, wp) == (h, w):
        return x
    out = xp.full((n, c, hp, wp), value, dtype=x.dtype)
    out[:, :, win.pad_top : win.pad_top + h, win.pad_left : win.pad_left + w] = x
    return out


def crop_padding(padded: Any, win: Window) -> Any:
    """The inverse of :func:`pad_for_windows`: ``(N, C, Hp, Wp) -> (N, C, H, W)`` (a view)."""
    return padded[:, :, win.pad_top : win.pad_top + win.in_h, win.pad_left : win.pad_left + win.in_w]


def offset_slices(win: Window, i: int, j: int) -> tuple[slice, slice]:
    """Slices of a padded array that pick, for kernel offset (i, j), the pixel of every window."""
    return (
        slice(i, i + win.sh * (win.out_h - 1) + 1, win.sh),
        slice(j, j + win.sw * (win.out_w - 1) + 1, win.sw),
    )


def im2col_xp(x: Any, win: Window, out: Any = None) -> Any:
    """im2col with array slicing (NumPy or CuPy): ``x: (N, C, H, W) -> cols: (N, C*kh*kw, OH*OW)``.

    One strided copy per kernel offset, each over all images, channels and windows.
    ``out`` is an optional C-contiguous array of the result's shape to fill.
    """
    xp = get_array_module(x)
    n, c = x.shape[:2]
    padded = pad_for_windows(x, win, 0.0)
    if out is None:
        out = xp.empty((n, c * win.ksize, win.out_size), dtype=x.dtype)
    cols = out.reshape(n, c, win.kh, win.kw, win.out_h, win.out_w)
    for i in range(win.kh):
        for j in range(win.kw):
            rows, columns = offset_slices(win, i, j)
            cols[:, :, i, j] = padded[:, :, rows, columns]
    return out


def col2im_xp(cols: Any, win: Window, channels: int) -> Any:
    """The adjoint of :func:`im2col_xp`: ``cols: (N, C*kh*kw, OH*OW) -> x: (N, C, H, W)``, summing overlaps."""
    xp = get_array_module(cols)
    n = cols.shape[0]
    cols6 = cols.reshape(n, channels, win.kh, win.kw, win.out_h, win.out_w)
    padded = xp.zeros((n, channels) + padded_size(win), dtype=cols.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            rows, columns = offset_slices(win, i, j)
            padded[:, :, rows, columns] += cols6[:, :, i, j]
    return crop_padding(padded, win)


def im2col_cpu(x: np.ndarray, win: Window, out: np.ndarray | None = None, parallel: bool = True) -> np.ndarray:
    """im2col of a NumPy ``x: (N, C, H, W) -> (N, C*kh*kw, OH*OW)`` by the Numba kernel (on a zero-padded copy).

    ``out`` is an optional C-contiguous array of the result's shape to fill.
    ``parallel=False`` keeps the kernel on one thread (for small chunks of work
    between multi-threaded matrix products, where waking a second thread pool
    costs more than it saves, and far more when other processes load the CPUs).
    """
    from . import _kernels_cpu

    n, c = x.shape[:2]
    if out is None:
        out = np.empty((n, c * win.ksize, win.out_size), dtype=x.dtype)
    padded = np.ascontiguousarray(pad_for_windows(x, win, 0.0))  # see _kernels_cpu._im2col for why padded
    kernel = _kernels_cpu.pick(_kernels_cpu.im2col, out.size if parallel else 0)
    kernel(padded, win.kh, win.kw, win.sh, win.sw, win.out_h, win.out_w, out)
    return out


def col2im_cpu(cols: np.ndarray, win: Window, channels: int, parallel: bool = True) -> np.ndarray:
    """col2im of a NumPy ``cols: (N, C*kh*kw, OH*OW) -> (N, C, H, W)`` by the Numba kernel (``parallel`` as im2col)."""
    from . import _kernels_cpu

    padded = np.zeros((cols.shape[0], channels) + padded_size(win), dtype=cols.dtype)
    kernel = _kernels_cpu.pick(_kernels_cpu.col2im, cols.size if parallel else 0)
    kernel(np.ascontiguousarray(cols), win.kh, win.kw, win.sh, win.sw, win.out_h, win.out_w, padded)
    return crop_padding(padded, win)


def im2col(x: Any, win: Window, out: Any = None) -> Any:
    """im2col ``x: (N, C, H, W) -> (N, C*kh*kw, OH*OW)`` on either device: :func:`im2col_cpu` or the CUDA kernel.

    The side is chosen by :func:`minicnn.backend.on_gpu`, as every op's.
    ``out`` is an optional C-contiguous array of the result's shape to fill.
    """
    if backend.on_gpu(x):
        from . import _kernels_gpu

        return _kernels_gpu.im2col(x, win, out)
    return im2col_cpu(x, win, out)


def col2im(cols: Any, win: Window, channels: int) -> Any:
    """col2im ``(N, C*kh*kw, OH*OW) -> (N, C, H, W)`` on either device: :func:`col2im_cpu` or the CUDA kernel."""
    if backend.on_gpu(cols):
        from . import _kernels_gpu

        return _kernels_gpu.col2im(cols, win, channels)
    return col2im_cpu(cols, win, channels)
