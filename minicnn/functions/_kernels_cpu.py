"""Numba kernels: the CPU side of the ops with kernels of their own (NumPy arrays only).

Each is the twin of a CUDA kernel in :mod:`._kernels_gpu_src`, with the same
arguments and outputs: output ``(oh, ow)`` with kernel offset ``(i, j)`` reads
input pixel ``(oh*sh - pad_top + i, ow*sw - pad_left + j)``, and a pixel outside
the image is padding. Max-pooling reads the unpadded input and clips each window
to the image, exactly as its CUDA twin; im2col and col2im work on a zero-padded
copy instead (their docstrings say why). Where the CUDA kernel runs one thread per
output element, the kernel here runs one image-channel plane (or image) per
parallel task and loops over the rest, so tasks never write the same memory and
need no atomics.

Each kernel is compiled twice, on first use for each dtype and cached on disk:
``parallel`` (``prange`` spreads the planes over the threads) for real work and
``serial`` for small inputs, where starting the thread pool costs more than
the work (and under CPU contention far more). :func:`pick` chooses. All are
compiled ``nogil``, so threads of :mod:`minicnn.parallel` run them side by side, and
with NumPy's error model (a float division by zero gives inf or NaN, as in CUDA, with
no test that would stop the loop from vectorising). LRN's kernels live in
:mod:`._kernels_cpu_lrn`.
"""
from __future__ import annotations

import contextlib
import types
from typing import Iterator

import numpy as np
from numba import njit, prange

# Below this many inner-loop steps a kernel runs on one thread.
PARALLEL_MIN_WORK = 1 << 16


def _compile_both(fn):
    """Return (serial, parallel) compiled versions of a kernel written with ``prange``.

    Numba names its on-disk cache after the function's qualified name, not its
    compile options, so the serial one is compiled from a renamed copy.
    """
    serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    serial.__qualname__ = fn.__qualname__ + "_serial"
    options = dict(cache=True, nogil=True, error_model="numpy")  # numpy: a division needs no zero test, so it vectorises
    return njit(**options)(serial), njit(parallel=True, **options)(fn)


_serial_only = 0  # > 0 inside serial_only(): threads of minicnn.parallel are already using the cores


def pick(kernels, work: int):
    """The parallel kernel of a (serial, parallel) pair when ``work`` (loop steps) is large enough.

    Inside :func:`serial_only` always the serial one: Numba's default thread pool must
    not be entered from several Python threads at once, and the cores are busy anyway.
    """
    return kernels[1] if work >= PARALLEL_MIN_WORK and not _serial_only else kernels[0]


def serial_only_active() -> bool:
    """Whether a :func:`serial_only` block is running (threads of :mod:`minicnn.parallel` share the cores)."""
    return _serial_only > 0


@contextlib.contextmanager
def serial_only() -> Iterator[None]:
    """Make :func:`pick` return serial kernels inside the block (used by :class:`minicnn.parallel.DataParallel`)."""
    global _serial_only
    _serial_only += 1
    try:
        yield
    finally:
        _serial_only -= 1


def _im2col(padded, kh, kw, sh, sw, out_h, out_w, cols):
    """Fill ``cols: (N, C*kh*kw, OH*OW)`` from the zero-padded input ``padded: (N, C, Hp, Wp)``.

    Unlike the CUDA kernel, which tests each pixel against the image bounds, this one
    reads a padded copy (:func:`._im2col.pad_for_windows`), where output ``(oh, ow)``
    with offset ``(i, j)`` reads pixel ``(oh*sh + i, ow*sw + j)``: every row is then one
    branch-free loop with non-negative indices, which the compiler vectorises. (With
    the bounds test, or any index that may be negative, Numba keeps a negative-index
    check in the loop and the copy runs several times slower; the padded copy costs
    one pass over the input.)
    """
    n_img, n_ch = padded.shape[:2]
    cols6 = cols.reshape((n_img, n_ch, kh, kw, out_h, out_w))
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        for i in range(kh):
            for j in range(kw):
                for oh in range(out_h):
                    src = padded[n, c, oh * sh + i]
                    dst = cols6[n, c, i, j, oh]
                    if sw == 1:  # contiguous: the compiler vectorises this copy
                        for ow in range(out_w):
                            dst[ow] = src[ow + j]
                    else:
                        for ow in range(out_w):
                            dst[ow] = src[ow * sw + j]


def _col2im(cols, kh, kw, sh, sw, out_h, out_w, padded):
    """Add ``cols: (N, C*kh*kw, OH*OW)`` onto the padded gradient ``padded: (N, C, Hp, Wp)`` (zeroed first)."""
    n_img, n_ch = padded.shape[:2]
    cols6 = cols.reshape((n_img, n_ch, kh, kw, out_h, out_w))
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        for i in range(kh):
            for j in range(kw):
                for oh in range(out_h):
                    src = cols6[n, c, i, j, oh]
                    dst = padded[n, c, oh * sh + i]
                    if sw == 1:
                        for ow in range(out_w):
                            dst[ow + j] += src[ow]
                    else:
                        for ow in range(out_w):
                            dst[ow * sw + j] += src[ow]


def _max_pool_forward(x, kh, kw, sh, sw, pad_top, pad_left, nan_aware, y, argmax):
    """Max over each window of ``x: (N, C, H, W)`` into ``y: (N, C, OH, OW)``; padding never wins.

    ``argmax`` (``y``'s shape, int32) receives the flat index ``h*W + w`` of the winner
    in its image-channel plane (PyTorch's ``return_indices``): the first maximum in
    row-major window order. The search covers the window's rows ``h_first .. h_last``
    and columns ``w_first .. w_last`` inside the image (the CUDA kernel's loop) and
    starts at its first pixel inside, so an all -inf window sends its gradient there,
    as PyTorch does. With ``nan_aware`` a NaN wins (the last NaN of the window), as
    in PyTorch; that test slows the loop, so the caller sets it only when ``x`` holds a NaN.
    """
    n_img, n_ch, height, width = x.shape
    out_h, out_w = y.shape[2:]
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        plane = x[n, c]
        for oh in range(out_h):
            h0 = oh * sh - pad_top  # the window's top row (negative: in the padding)
            h_first, h_last = max(h0, 0), min(h0 + kh, height)  # its rows inside the image
            for ow in range(out_w):
                w0 = ow * sw - pad_left
                w_first, w_last = max(w0, 0), min(w0 + kw, width)
                best_at = h_first * width + w_first
                best = plane[h_first, w_first]
                for h in range(h_first, h_last):
                    for w in range(w_first, w_last):
                        value = plane[h, w]
                        if value > best:
                            best = value
                            best_at = h * width + w
                        elif nan_aware and value != value:  # value != value: NaN
                            best = value
                            best_at = h * width + w
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_at


def _max_pool_forward_separable(x, kh, kw, sh, sw, pad_top, pad_left, y, argmax):
    """:func:`_max_pool_forward` for inputs without NaN, in two passes per output row; the same outputs.

    Pass 1 goes down the window's rows along whole contiguous input rows and keeps, for
    every column, the maximum and the flat index ``h*W + w`` of the first row holding
    it. Pass 2 goes along each window's columns and keeps the largest of those, among
    equal values the smallest flat index: the first maximum in row-major window order,
    the one-pass kernel's rule (an all -inf window still picks its first pixel inside).
    Both passes are loops of comparisons and selects over a row of outputs, which the
    compiler vectorises: pass 2 runs kernel offset ``j`` outer and the outputs inner, on
    views that start at the first unclipped window, so every index is provably >= 0
    (no negative-index test in the loop), with the stride a constant when it is 2;
    the windows clipped by the image's edges are done one by one.
    """
    n_img, n_ch, height, width = x.shape
    out_h, out_w = y.shape[2:]
    ow_lo = min(-(-pad_left // sw), out_w)
    ow_hi = max(min((width + pad_left - kw) // sw + 1, out_w), ow_lo)
    count = ow_hi - ow_lo
    base = ow_lo * sw - pad_left
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        plane = x[n, c]
        col_max = np.empty(width, dtype=x.dtype)
        col_at = np.empty(width, dtype=np.int32)
        for oh in range(out_h):
            h0 = oh * sh - pad_top
            h_first, h_last = max(h0, 0), min(h0 + kh, height)
            top = plane[h_first]
            offset = h_first * width
            for w in range(width):
                col_max[w] = top[w]
                col_at[w] = offset + w
            for h in range(h_first + 1, h_last):
                row = plane[h]
                offset = h * width
                for w in range(width):
                    better = row[w] > col_max[w]
                    col_max[w] = row[w] if better else col_max[w]
                    col_at[w] = offset + w if better else col_at[w]
            out, where = y[n, c, oh], argmax[n, c, oh]
            # interior outputs: kernel offset j outer, outputs inner (views: every index provably >= 0)
            cm, ca = col_max[base:], col_at[base:]
            o, wh = out[ow_lo:ow_hi], where[ow_lo:ow_hi]
            if sw == 2:
                for i in range(count):
                    o[i] = cm[2 * i]
                    wh[i] = ca[2 * i]
                for j in range(1, kw):
                    for i in range(count):
                        v, at = cm[2 * i + j], ca[2 * i + j]
                        better = v > o[i]  # later columns of the same row never win a tie; earlier rows do
                        tie = (v == o[i]) & (at < wh[i])
                        o[i] = v if better else o[i]
                        wh[i] = at if (better | tie) else wh[i]
            else:
                for i in range(count):
                    o[i] = cm[sw * i]
                    wh[i] = ca[sw * i]
                for j in range(1, kw):
                    for i in range(count):
                        v, at = cm[sw * i + j], ca[sw * i + j]
                        better = v > o[i]
                        tie = (v == o[i]) & (at < wh[i])
                        o[i] = v if better else o[i]
                        wh[i] = at if (better | tie) else wh[i]
            for ow in range(out_w):  # the clipped windows at both edges
                if ow_lo <= ow < ow_hi:
                    continue
                w0 = ow * sw - pad_left
                w_first, w_last = max(w0, 0), min(w0 + kw, width)
                best, best_at = col_max[w_first], col_at[w_first]
                for w in range(w_first + 1, w_last):
                    if col_max[w] > best or (col_max[w] == best and col_at[w] < best_at):
                        best, best_at = col_max[w], col_at[w]
                out[ow] = best
                where[ow] = best_at

def _max_pool_backward(gy, argmax, gx):
    """Add each ``gy[n, c, oh, ow]`` to ``gx[n, c]`` at its plane's flat index ``argmax[n, c, oh, ow]``.

    ``gx: (N, C, H, W)`` must start at zero. One task per plane: no write races.
    """
    n_img, n_ch, height, width = gx.shape
    out_size = gy.shape[2] * gy.shape[3]
    gy_planes = gy.reshape((n_img * n_ch, out_size))
    arg_planes = argmax.reshape((n_img * n_ch, out_size))
    gx_planes = gx.reshape((n_img * n_ch, height * width))
    for task in prange(n_img * n_ch):
        g_in = gx_planes[task]
        g_out = gy_planes[task]
        where = arg_planes[task]
        for p in range(out_size):
            g_in[where[p]] += g_out[p]


def _subsample_forward(x, kh, kw, weight, bias, block_sum, y):
    """LeNet subsampling: ``block_sum[n, c, oh, ow]`` = sum of the k x k block, ``y = block_sum * weight[c] + bias[c]``.

    ``x: (N, C, H, W)``; ``block_sum, y: (N, C, H // kh, W // kw)``; rows and columns
    left over at the end are ignored.
    """
    n_img, n_ch = x.shape[:2]
    out_h, out_w = y.shape[2:]
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        scale, shift = weight[c], bias[c]
        for oh in range(out_h):
            total = block_sum[n, c, oh]
            total[:] = 0
            for i in range(kh):
                row = x[n, c, oh * kh + i]
                for ow in range(out_w):
                    for j in range(kw):
                        total[ow] += row[ow * kw + j]
            out = y[n, c, oh]
            for ow in range(out_w):
                out[ow] = total[ow] * scale + shift


def _subsample_backward(gy, weight, kh, kw, gx):
    """Spread ``gy[n, c, oh, ow] * weight[c]`` over its k x k block of ``gx: (N, C, H, W)`` (leftovers zero)."""
    n_img, n_ch, height, width = gx.shape
    out_h, out_w = gy.shape[2:]
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        scale = weight[c]
        plane = gx[n, c]
        plane[:] = 0
        for oh in range(out_h):
            g_row = gy[n, c, oh]
            for i in range(kh):
                row = plane[oh * kh + i]
                for ow in range(out_w):
                    g = g_row[ow] * scale
                    for j in range(kw):
                        row[ow * kw + j] = g


im2col = _compile_both(_im2col)
col2im = _compile_both(_col2im)
max_pool_forward = _compile_both(_max_pool_forward)
max_pool_forward_separable = _compile_both(_max_pool_forward_separable)
max_pool_backward = _compile_both(_max_pool_backward)
subsample_forward = _compile_both(_subsample_forward)
subsample_backward = _compile_both(_subsample_backward)
