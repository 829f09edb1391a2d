"""Numba kernels for the CPU hot loops of conv and max-pool (NumPy arrays only).

Each kernel runs one image-channel plane per parallel task, so tasks never write
the same memory and need no atomics. They read a *padded* copy of
the input (zeros for conv, -inf for max-pool; see :func:`._im2col.pad_for_windows`),
so the index formula of :mod:`._im2col` loses its offsets and bounds checks:
output ``(oh, ow)`` with kernel offset ``(i, j)`` reads padded pixel
``(oh*sh + i, ow*sw + j)``. Simple loops like these are what the compiler
vectorises; a GPU twin computes the same arithmetic per thread.

Each kernel is compiled twice, on first use for each dtype and cached on disk:
``parallel`` (``prange`` spreads the planes over the threads) for real work and
``serial`` for small inputs, where starting the thread pool costs more than
the work (and under CPU contention far more). :func:`pick` chooses. All are
compiled ``nogil``, so threads of :mod:`minicnn.parallel` run them side by side.
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
    return njit(cache=True, nogil=True)(serial), njit(parallel=True, cache=True, nogil=True)(fn)


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
    """Fill ``cols: (N, C*kh*kw, OH*OW)`` from the padded input ``padded: (N, C, Hp, Wp)``."""
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


def _max_pool_forward(padded, kh, kw, sh, sw, pad_top, pad_left, in_w, out_h, out_w, nan_aware, y, argmax):
    """Max over each window of the -inf-padded input ``padded: (N, C, Hp, Wp)`` into ``y: (N, C, OH, OW)``.

    ``argmax`` (same shape as ``y``, int32) receives the flat index ``h*W + w`` of
    the maximum in the *unpadded* plane (as PyTorch's indices): the first maximum
    in row-major window order. The search starts at the window's first pixel
    inside the image, so padding never wins and an all -inf window sends its
    gradient there, as PyTorch does. With ``nan_aware`` a NaN wins (the last NaN
    of the window), as in PyTorch; that test slows the loop, so the caller sets
    it only when the input holds a NaN.
    """
    n_img, n_ch = padded.shape[:2]
    for task in prange(n_img * n_ch):
        n = task // n_ch
        c = task % n_ch
        plane = padded[n, c]
        for oh in range(out_h):
            h0 = oh * sh
            for ow in range(out_w):
                w0 = ow * sw
                best_k = (max(h0, pad_top) - h0) * kw + max(w0, pad_left) - w0  # offset i*kw + j
                best = plane[h0 + best_k // kw, w0 + best_k % kw]
                for i in range(kh):
                    row = plane[h0 + i]
                    for j in range(kw):
                        value = row[w0 + j]
                        if value > best:
                            best = value
                            best_k = i * kw + j
                        elif nan_aware and value != value:  # value != value: NaN
                            best = value
                            best_k = i * kw + j
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = (h0 + best_k // kw - pad_top) * in_w + w0 + best_k % kw - pad_left


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


def _lrn_forward(x, before, after, a, k, beta, y, scale, scale_pow):
    """LRN forward of ``x: (N, C, H, W)``: a running sum of squares over the channel window.

    For each image the window sum of every pixel is kept in one plane-sized array:
    moving from channel c-1 to c adds channel ``c + after`` and removes channel
    ``c - before - 1``, so each channel costs two plane additions whatever the window
    size. ``scale = k + a * window sum`` (clipped at 0 first: removing a square can
    leave a rounding error below zero) and ``scale_pow = scale ** -beta`` are written
    for backward, ``y = x * scale_pow``.
    """
    n_img, n_ch, height, width = x.shape
    plane = height * width
    for n in prange(n_img):
        xs = x[n].reshape((n_ch, plane))
        ys, ss, ps = y[n].reshape((n_ch, plane)), scale[n].reshape((n_ch, plane)), scale_pow[n].reshape((n_ch, plane))
        window = np.zeros(plane, dtype=x.dtype)
        for j in range(min(after, n_ch - 1) + 1):  # the window of channel 0: channels 0 .. after
            for p in range(plane):
                window[p] += xs[j, p] * xs[j, p]
        for c in range(n_ch):
            if c > 0:
                if c + after < n_ch:
                    for p in range(plane):
                        window[p] += xs[c + after, p] * xs[c + after, p]
                if c - before - 1 >= 0:
                    for p in range(plane):
                        window[p] -= xs[c - before - 1, p] * xs[c - before - 1, p]
            for p in range(plane):
                s = k + a * max(window[p], 0.0)
                ss[c, p] = s
                if beta == 0.75:
                    q = 1.0 / np.sqrt(s * np.sqrt(s))
                elif beta == 0.5:
                    q = 1.0 / np.sqrt(s)
                else:
                    q = s ** -beta
                ps[c, p] = q
                ys[c, p] = xs[c, p] * q


im2col = _compile_both(_im2col)
col2im = _compile_both(_col2im)
max_pool_forward = _compile_both(_max_pool_forward)
max_pool_backward = _compile_both(_max_pool_backward)
subsample_forward = _compile_both(_subsample_forward)
subsample_backward = _compile_both(_subsample_backward)
lrn_forward = _compile_both(_lrn_forward)
