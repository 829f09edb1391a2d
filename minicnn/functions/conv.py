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

from typing import Any, Callable

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor
from . import _kernels_gpu
from ._im2col import IntPair, Padding, Window, col2im_cpu, im2col_cpu, make_window

# Bytes of ``cols`` per chunk on the CPU: small enough to stay in the last-level cache.
CPU_CHUNK_BYTES = 4 << 20


def check_float_input(x: Any, name: str, ndim: int | None = None) -> None:
    """Raise a clear error unless ``x`` is a floating-point array (of ``ndim`` dimensions when given)."""
    if ndim is not None and x.ndim != ndim:
        layout = " (N, C, H, W)" if ndim == 4 else ""
        raise ValueError(f"{name} must be {ndim}-D{layout}, got shape {tuple(x.shape)} ({x.ndim}-D)")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}")


def images_per_chunk(n_images: int, bytes_per_image: int) -> int:
    """How many images the CPU processes at once: a chunk whose ``cols`` fit in the last-level cache.

    Under :class:`minicnn.parallel.DataParallel` each thread gets half the budget: the
    threads share the last-level cache, and their buffers add up in memory.
    """
    from . import _kernels_cpu

    budget = CPU_CHUNK_BYTES // 2 if _kernels_cpu.serial_only_active() else CPU_CHUNK_BYTES  # threads share the cache
    return max(1, min(n_images, budget // max(bytes_per_image, 1)))


def _check_conv_inputs(x: Any, w: Any, b: Any) -> None:
    """Raise a clear error unless ``x: (N, C, H, W)``, ``w: (F, C, kh, kw)`` and ``b: (F,)`` or None fit together."""
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


def _cpu_im2col(x: Any, win: Window, out: Any = None) -> Any:
    return im2col_cpu(x, win, out, parallel=False)  # one thread: BLAS has the cores between the kernels


def _cpu_col2im(cols: Any, win: Window, channels: int) -> Any:
    return col2im_cpu(cols, win, channels, parallel=False)


class Conv2d(Function):
    """y = conv2d(x, w) + b.

    Shapes: x: (N, C, H, W), w: (F, C, kh, kw), b: (F,) (optional) -> y: (N, F, OH, OW).
    ``stride`` is an int or (sh, sw); ``padding`` an int or (ph, pw) (zeros on both
    sides), "valid" (none) or "same" (TensorFlow: OH = ceil(H / sh), odd pixel after).

    The CPU and GPU sides run the same code (:meth:`_forward`, :meth:`_backward`) and
    differ only in their im2col/col2im kernels (Numba or CUDA) and in the chunk of
    images per matrix product (a cache-sized chunk, or the whole batch). Both save
    ``x``, the reshaped weights ``w2: (F, C*kh*kw)`` and, when the batch was one
    chunk and the weights need a gradient, its ``cols``.
    """

    def __init__(self, stride: IntPair = 1, padding: Padding = 0) -> None:
        self.stride, self.padding = stride, padding

    def forward_cpu(self, ctx, x, w, b=None):
        _check_conv_inputs(x, w, b)
        win = make_window(x.shape[2:], w.shape[2:], self.stride, self.padding)
        chunk = images_per_chunk(x.shape[0], x.shape[1] * win.ksize * win.out_size * x.itemsize)
        return self._forward(ctx, x, w, b, win, chunk, _cpu_im2col)

    def forward_gpu(self, ctx, x, w, b=None):
        _check_conv_inputs(x, w, b)
        win = make_window(x.shape[2:], w.shape[2:], self.stride, self.padding)
        return self._forward(ctx, x, w, b, win, x.shape[0], _kernels_gpu.im2col)

    def backward_cpu(self, ctx, gy):
        return self._backward(ctx, gy, _cpu_im2col, _cpu_col2im)

    def backward_gpu(self, ctx, gy):
        return self._backward(ctx, gy, _kernels_gpu.im2col, _kernels_gpu.col2im)

    @staticmethod
    def _forward(ctx, x: Any, w: Any, b: Any, win: Window, chunk: int, im2col: Callable) -> Any:
        """``y[n] = w2 @ im2col(x[n])``, ``chunk`` images at a time through one reused ``cols`` buffer."""
        xp = get_array_module(x)
        n_img, n_ch = x.shape[:2]
        n_filt = w.shape[0]
        w2 = w.reshape(n_filt, n_ch * win.ksize)
        y = xp.empty((n_img, n_filt, win.out_size), dtype=x.dtype)
        buffer = xp.empty((chunk, w2.shape[1], win.out_size), dtype=x.dtype) if chunk < n_img else None
        cols = None
        for start in range(0, n_img, chunk):
            part = slice(start, start + chunk)
            cols = im2col(x[part], win, None if buffer is None else buffer[: len(x[part])])
            xp.matmul(w2, cols, out=y[part])
            if b is not None:
                y[part] += b[:, None]
        # One chunk (the GPU, a small batch): keep its columns for the weight gradient.
        # Several: recomputing them chunk by chunk in backward is cheaper than storing them all.
        keep = buffer is None and ctx.needs_input_grad[1]
        ctx.save_for_backward(x, w2, cols if keep else None)
        ctx.win, ctx.chunk = win, chunk
        return y.reshape(n_img, n_filt, win.out_h, win.out_w)

    @staticmethod
    def _backward(ctx, gy: Any, im2col: Callable, col2im: Callable) -> Any:
        """``gw2 = (sum_n cols[n] @ gy[n].T).T``, ``gx[n] = col2im(w2.T @ gy[n])``, ``gb = sum gy``, chunk by chunk."""
        xp = get_array_module(gy)
        x, w2, kept_cols = ctx.saved_tensors
        win: Window = ctx.win
        need = ctx.needs_input_grad
        n_img, n_filt = gy.shape[:2]
        n_ch = x.shape[1]
        gy3 = gy.reshape(n_img, n_filt, win.out_size)
        gx = xp.empty_like(x) if need[0] else None
        gw2t = xp.zeros((w2.shape[1], n_filt), dtype=w2.dtype) if need[1] else None  # gw2.T, (C*kh*kw, F)
        chunked = ctx.chunk < n_img
        shape = (ctx.chunk, w2.shape[1], win.out_size)
        cols_buffer = xp.empty(shape, dtype=gy.dtype) if chunked and need[1] else None
        gcols_buffer = xp.empty(shape, dtype=gy.dtype) if chunked and need[0] else None
        for start in range(0, n_img, ctx.chunk):
            part = slice(start, start + ctx.chunk)
            m = len(gy3[part])
            if need[1]:
                cols = kept_cols
                if cols is None:
                    cols = im2col(x[part], win, None if cols_buffer is None else cols_buffer[:m])
                # cols @ gy.T, the transposed product: OpenBLAS runs this shape (K x P by P x F) about
                # 1.3x faster than gy @ cols.T (F x P by P x K) at conv2's sizes.
                products = xp.matmul(cols, gy3[part].transpose(0, 2, 1))
                gw2t += products[0] if m == 1 else products.sum(axis=0)
            if need[0]:
                gcols = xp.matmul(w2.T, gy3[part], out=None if gcols_buffer is None else gcols_buffer[:m])
                gx[part] = col2im(gcols, win, n_ch)
        gw = xp.ascontiguousarray(gw2t.T).reshape(n_filt, n_ch, win.kh, win.kw) if need[1] else None
        if len(need) == 2:
            return gx, gw
        return gx, gw, gy3.sum(axis=(0, 2)) if need[2] else None


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
