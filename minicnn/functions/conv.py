"""2-D convolution (cross-correlation, as in every deep-learning library) by im2col + matrix product.

For one image, im2col turns the input into a matrix ``cols: (C*kh*kw, OH*OW)``
whose column ``p`` holds the pixels under the window of output position ``p``.
With the weights reshaped to ``W: (F, C*kh*kw)`` the whole convolution is one
matrix product, and the gradients are two more::

    y[n]  = W @ cols[n]                 (F, OH*OW), already NCHW
    gW    = sum_n gy[n] @ cols[n].T     (F, C*kh*kw)
    gcols = W.T @ gy[n]                 (C*kh*kw, OH*OW)  -> col2im -> gx[n]

On the CPU the batch is processed in chunks of a few images through one
reused buffer, so a chunk of ``cols`` stays in the cache between im2col writing
it and the matrix product reading it, and no batch-sized ``cols`` is ever
allocated (fresh memory costs page faults); backward recomputes the chunk's
``cols`` (cheap) instead of storing them all. The matrix products use BLAS's
threads, the im2col/col2im kernels one thread (a small share of the time, and
alternating two thread pools is slow).
A naive loop twin lives in :func:`minicnn.functions.naive.conv2d_naive`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor, is_grad_enabled
from ._im2col import IntPair, Padding, Window, col2im, im2col, make_window

# Bytes of ``cols`` per chunk on the CPU: small enough to stay in the last-level cache.
CPU_CHUNK_BYTES = 4 << 20


def check_float_input(x: Any, name: str, ndim: int | None = None) -> None:
    """Raise a clear error unless ``x`` is a floating-point array (of ``ndim`` dimensions when given)."""
    if ndim is not None and x.ndim != ndim:
        layout = " (N, C, H, W)" if ndim == 4 else ""
        raise ValueError(f"{name} must be {ndim}-D{layout}, got shape {tuple(x.shape)} ({x.ndim}-D)")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}")


def images_per_chunk(n_images: int, bytes_per_image: int, xp: Any) -> int:
    """How many images to process at once: all on the GPU, a cache-sized chunk on the CPU.

    Under :class:`minicnn.parallel.DataParallel` each thread gets half the budget: the
    threads share the last-level cache, and their buffers add up in memory.
    """
    if xp is not np:
        return n_images
    from . import _kernels_cpu

    budget = CPU_CHUNK_BYTES // 2 if _kernels_cpu.serial_only_active() else CPU_CHUNK_BYTES  # threads share the cache
    return max(1, min(n_images, budget // max(bytes_per_image, 1)))


class Conv2d(Function):
    """y = conv2d(x, w) + b.

    Shapes: x: (N, C, H, W), w: (F, C, kh, kw), b: (F,) (optional) -> y: (N, F, OH, OW).
    ``stride`` is an int or (sh, sw); ``padding`` an int or (ph, pw) (zeros on both
    sides), "valid" (none) or "same" (TensorFlow: OH = ceil(H / sh), odd pixel after).
    """

    def __init__(self, stride: IntPair = 1, padding: Padding = 0) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x, w, b=None):
        check_float_input(x, "conv2d input x", 4)
        check_float_input(w, "conv2d weight w", 4)
        if x.shape[1] != w.shape[1]:
            raise ValueError(
                f"conv2d channel mismatch: x has {x.shape[1]} channels (shape {tuple(x.shape)}) "
                f"but w expects {w.shape[1]} (shape {tuple(w.shape)}, laid out (F, C, kh, kw))"
            )
        if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
            raise TypeError(f"conv2d dtypes differ: x {x.dtype}, w {w.dtype}, b {None if b is None else b.dtype}")
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"conv2d bias must have shape ({w.shape[0]},) (one per filter), got {tuple(b.shape)}")
        xp = get_array_module(x)
        n_img, n_ch = x.shape[:2]
        n_filt = w.shape[0]
        win = make_window(x.shape[2:], w.shape[2:], self.stride, self.padding)
        k = n_ch * win.ksize
        w2 = w.reshape(n_filt, k)
        chunk = images_per_chunk(n_img, k * win.out_size * x.itemsize, xp)
        y = xp.empty((n_img, n_filt, win.out_size), dtype=x.dtype)
        buffer = xp.empty((chunk, k, win.out_size), dtype=x.dtype) if chunk < n_img else None
        for start in range(0, n_img, chunk):
            part = slice(start, start + chunk)
            out = None if buffer is None else buffer[: len(x[part])]
            cols = im2col(x[part], win, out, parallel=False)
            xp.matmul(w2, cols, out=y[part])
            if b is not None:
                y[part] += b[:, None]
        # One chunk (the GPU, a small batch): keep its columns for the weight gradient.
        # Several: recomputing them chunk by chunk in backward is cheaper than storing them all.
        keep = buffer is None and is_grad_enabled() and len(self.inputs) > 1 and self.needs_grad(1)
        self.cols = cols if keep else None
        self.x, self.w2, self.win, self.chunk = x, w2, win, chunk
        self.has_bias = b is not None
        return y.reshape(n_img, n_filt, win.out_h, win.out_w)

    def backward(self, gy):
        xp = get_array_module(gy)
        n_img, n_filt = gy.shape[:2]
        n_ch = self.x.shape[1]
        win: Window = self.win
        gy3 = gy.reshape(n_img, n_filt, win.out_size)
        need_x, need_w = self.needs_grad(0), self.needs_grad(1)
        gx = xp.empty_like(self.x) if need_x else None
        gw2 = xp.zeros_like(self.w2) if need_w else None
        chunked = self.chunk < n_img
        shape = (self.chunk, self.w2.shape[1], win.out_size)
        cols_buffer = xp.empty(shape, dtype=gy.dtype) if chunked and need_w else None
        gcols_buffer = xp.empty(shape, dtype=gy.dtype) if chunked and need_x else None
        for start in range(0, n_img, self.chunk):
            part = slice(start, start + self.chunk)
            m = len(gy3[part])
            if need_w:
                cols = self.cols
                if cols is None:
                    cols = im2col(self.x[part], win, None if cols_buffer is None else cols_buffer[:m], parallel=False)
                gw2 += xp.matmul(gy3[part], cols.transpose(0, 2, 1)).sum(axis=0)
            if need_x:
                gcols = xp.matmul(self.w2.T, gy3[part], out=None if gcols_buffer is None else gcols_buffer[:m])
                gx[part] = col2im(gcols, win, n_ch, parallel=False)
        gw = gw2.reshape(n_filt, n_ch, win.kh, win.kw) if need_w else None
        if not self.has_bias:
            return gx, gw
        gb = gy3.sum(axis=(0, 2)) if self.needs_grad(2) else None
        return gx, gw, gb


def conv2d(x: Any, w: Any, b: Any = None, stride: IntPair = 1, padding: Padding = 0) -> Tensor:
    """2-D convolution: ``x: (N, C, H, W)``, ``w: (F, C, kh, kw)``, ``b: (F,)`` or None -> ``(N, F, OH, OW)``.

    Args:
        x, w, b: Tensors (or arrays) of one floating dtype; the output keeps it.
        stride: int or (sh, sw), >= 1.
        padding: int or (ph, pw) zeros on both sides; "valid" (= 0); or "same"
            (TensorFlow: OH = ceil(H / sh), total padding max((OH-1)*sh + kh - H, 0),
            the odd pixel after, e.g. 7x7 stride 2 on 128 px pads 2 before, 3 after).
    """
    fn = Conv2d(stride=stride, padding=padding)
    if b is None:
        return fn.apply_to(as_tensor(x), as_tensor(w))
    return fn.apply_to(as_tensor(x), as_tensor(w), as_tensor(b))
