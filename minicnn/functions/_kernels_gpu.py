"""Launchers of minicnn's own CUDA kernels for CuPy arrays (the sources are in :mod:`._kernels_gpu_src`).

The ops call these from their ``forward_gpu`` / ``backward_gpu`` methods (see
:class:`minicnn.tensor.Function`), which run for CuPy arrays; the kernels are built
for float32 and float64, and another dtype raises a TypeError naming them. Matrix
products stay ``xp.matmul`` (cuBLAS). The CPU twins are the Numba kernels of
:mod:`._kernels_cpu`.

Raw kernels are compiled on first use for each (kernel, dtype) with
``cupy.RawModule`` and cached (CuPy also caches the binary on disk). Each is
launched with one thread per output element in blocks of
:data:`THREADS_PER_BLOCK`. Element-wise work (ReLU, dropout, the SGD update) uses
``cupy.ElementwiseKernel``, which writes the loop and the dtype dispatch itself.

This module imports CuPy only inside the launchers, so it can be imported (and
its sources compile-checked) on a machine without CuPy.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from ._kernels_gpu_src import ELEMENTWISE_SOURCES, kernel_source

if TYPE_CHECKING:
    from ._im2col import Window

THREADS_PER_BLOCK = 256


def _cupy():
    import cupy

    return cupy


@functools.lru_cache(maxsize=None)
def _raw_kernel(name: str, dtype_name: str):
    """The compiled raw kernel ``name`` for ``dtype_name`` (compiled once, then cached)."""
    module = _cupy().RawModule(code=kernel_source(name, dtype_name))
    return module.get_function(name)


def _launch(name: str, dtype: Any, total: int, arrays: tuple, scalars: tuple = ()) -> None:
    """Run raw kernel ``name`` on ``total`` elements: its arguments are ``(*arrays, total, *scalars)``."""
    if total == 0:
        return
    blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel = _raw_kernel(name, np.dtype(dtype).name)
    kernel((blocks,), (THREADS_PER_BLOCK,), (*arrays, np.int64(total), *scalars))


@functools.lru_cache(maxsize=None)
def _elementwise(name: str):
    """The ``cupy.ElementwiseKernel`` ``name`` of :data:`ELEMENTWISE_SOURCES` (built once)."""
    in_params, out_params, operation = ELEMENTWISE_SOURCES[name]
    return _cupy().ElementwiseKernel(in_params, out_params, operation, name=name)


def _window_args(win: "Window") -> tuple:
    """The geometry arguments every windowed kernel takes, as C ints."""
    values = (win.in_h, win.in_w, win.kh, win.kw, win.sh, win.sw, win.pad_top, win.pad_left, win.out_h, win.out_w)
    return tuple(np.int32(v) for v in values)


# ------------------------------------------------------------------ im2col
def im2col(x: Any, win: "Window", out: Any = None) -> Any:
    """``x: (N, C, H, W) -> cols: (N, C*kh*kw, OH*OW)``, the layout of :func:`._im2col.im2col`.

    ``out``: an optional C-contiguous array of that shape and ``x``'s dtype to fill.
    """
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    n, c = x.shape[:2]
    shape = (n, c * win.ksize, win.out_size)
    if out is None:
        out = cp.empty(shape, dtype=x.dtype)
    elif tuple(out.shape) != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(f"im2col out must be a C-contiguous {x.dtype} array of shape {shape}, "
                         f"got {out.dtype} {tuple(out.shape)}")
    _launch("im2col", x.dtype, out.size, (x, out), _window_args(win))
    return out


def col2im(cols: Any, win: "Window", channels: int) -> Any:
    """The adjoint of :func:`im2col`: ``cols: (N, C*kh*kw, OH*OW) -> (N, C, H, W)``, summing overlaps."""
    cp = _cupy()
    cols = cp.ascontiguousarray(cols)
    x_grad = cp.empty((cols.shape[0], channels, win.in_h, win.in_w), dtype=cols.dtype)
    _launch("col2im", cols.dtype, x_grad.size, (cols, x_grad), _window_args(win))
    return x_grad


# ----------------------------------------------------------------- pooling
def max_pool_forward(x: Any, win: "Window") -> tuple[Any, Any]:
    """Max-pool ``x: (N, C, H, W) -> (y, argmax)``, both ``(N, C, OH, OW)``.

    ``argmax`` (int32) is the flat index ``h*W + w`` of each window's winner in its
    plane, by the rules of the Numba kernel (first maximum, a NaN wins, padding never does).
    """
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    shape = (x.shape[0], x.shape[1], win.out_h, win.out_w)
    y = cp.empty(shape, dtype=x.dtype)
    argmax = cp.empty(shape, dtype=cp.int32)
    _launch("max_pool_forward", x.dtype, y.size, (x, y, argmax), _window_args(win))
    return y, argmax


def max_pool_backward(y_grad: Any, argmax: Any, win: "Window") -> Any:
    """Route ``y_grad: (N, C, OH, OW)`` to each window's winner (``argmax``): ``-> (N, C, H, W)``."""
    cp = _cupy()
    y_grad = cp.ascontiguousarray(y_grad)
    argmax = cp.ascontiguousarray(argmax, dtype=cp.int32)
    x_grad = cp.empty(y_grad.shape[:2] + (win.in_h, win.in_w), dtype=y_grad.dtype)
    _launch("max_pool_backward", y_grad.dtype, x_grad.size, (y_grad, argmax, x_grad), _window_args(win))
    return x_grad


def avg_pool_forward(x: Any, win: "Window", divisor: Any) -> Any:
    """Average-pool ``x: (N, C, H, W) -> (N, C, OH, OW)``; ``divisor: (OH, OW)`` from :func:`.pool.avg_pool_divisor`."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    divisor = cp.ascontiguousarray(divisor, dtype=x.dtype)
    y = cp.empty((x.shape[0], x.shape[1], win.out_h, win.out_w), dtype=x.dtype)
    _launch("avg_pool_forward", x.dtype, y.size, (x, divisor, y), _window_args(win))
    return y


def avg_pool_backward(y_grad: Any, win: "Window", divisor: Any) -> Any:
    """Spread ``y_grad: (N, C, OH, OW) / divisor`` over each window: ``-> (N, C, H, W)``."""
    cp = _cupy()
    y_grad = cp.ascontiguousarray(y_grad)
    divisor = cp.ascontiguousarray(divisor, dtype=y_grad.dtype)
    x_grad = cp.empty(y_grad.shape[:2] + (win.in_h, win.in_w), dtype=y_grad.dtype)
    _launch("avg_pool_backward", y_grad.dtype, x_grad.size, (y_grad, divisor, x_grad), _window_args(win))
    return x_grad


# --------------------------------------------------------------------- LRN
def lrn_forward(x: Any, before: int, after: int, a: float, k: float, beta: float) -> tuple[Any, Any, Any]:
    """LRN across channels: ``x: (N, C, H, W) -> (y, scale, scale_pow)``, all ``(N, C, H, W)``.

    ``scale = k + a * sum(x[c - before .. c + after]^2)``, ``scale_pow = scale**-beta``
    and ``y = x * scale_pow``, as :class:`.lrn.LocalResponseNorm` (``a`` already divided by the size if need be).
    """
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    y, scale, scale_pow = cp.empty_like(x), cp.empty_like(x), cp.empty_like(x)
    t = x.dtype.type
    scalars = (np.int32(x.shape[1]), np.int32(x.shape[2] * x.shape[3]), np.int32(before), np.int32(after),
               t(a), t(k), t(beta))
    _launch("lrn_forward", x.dtype, x.size, (x, y, scale, scale_pow), scalars)
    return y, scale, scale_pow


def lrn_backward(x: Any, scale: Any, scale_pow: Any, y_grad: Any, before: int, after: int, a: float,
                 beta: float) -> Any:
    """LRN's input gradient, all arrays ``(N, C, H, W)``: ``y_grad * scale_pow - 2 a beta x *``
    ``sum(y_grad * x * scale_pow / scale over c - after .. c + before)``."""
    cp = _cupy()
    arrays = tuple(cp.ascontiguousarray(v) for v in (x, scale, scale_pow, y_grad))
    x_grad = cp.empty_like(arrays[0])
    scalars = (np.int32(x.shape[1]), np.int32(x.shape[2] * x.shape[3]), np.int32(before), np.int32(after),
               x_grad.dtype.type(-2.0 * a * beta))
    _launch("lrn_backward", x_grad.dtype, x_grad.size, (*arrays, x_grad), scalars)
    return x_grad


# ----------------------------------------------------------- cross-entropy
def softmax_cross_entropy_forward(logits: Any, labels: Any, row_weight: Any) -> tuple[Any, Any]:
    """Softmax and weighted negative log-likelihood per row.

    ``logits: (N, K)``, ``labels: (N,)`` ints in ``[0, K)`` (checked by the caller),
    ``row_weight: (N,)`` -> ``prob: (N, K)``, ``row_loss: (N,) = -log softmax[label] * row_weight``.
    """
    cp = _cupy()
    logits = cp.ascontiguousarray(logits)
    labels = cp.ascontiguousarray(labels, dtype=cp.int64)
    row_weight = cp.ascontiguousarray(row_weight, dtype=logits.dtype)
    prob = cp.empty_like(logits)
    row_loss = cp.empty(logits.shape[0], dtype=logits.dtype)
    arrays = (logits, labels, row_weight, prob, row_loss)
    _launch("softmax_cross_entropy_forward", logits.dtype, logits.shape[0], arrays, (np.int32(logits.shape[1]),))
    return prob, row_loss


def softmax_cross_entropy_backward(prob: Any, labels: Any, row_coef: Any) -> Any:
    """``(prob - one_hot(labels)) * row_coef[:, None]``: ``prob: (N, K)``, ``labels, row_coef: (N,)`` -> ``(N, K)``."""
    cp = _cupy()
    prob = cp.ascontiguousarray(prob)
    labels = cp.ascontiguousarray(labels, dtype=cp.int64)
    row_coef = cp.ascontiguousarray(cp.broadcast_to(row_coef, labels.shape), dtype=prob.dtype)
    logits_grad = cp.empty_like(prob)
    _launch("softmax_cross_entropy_backward", prob.dtype, prob.size, (prob, labels, row_coef, logits_grad),
            (np.int32(prob.shape[1]),))
    return logits_grad


# ------------------------------------------------------------- element-wise
def relu_forward(x: Any) -> tuple[Any, Any]:
    """``y = max(x, 0)`` and the boolean mask ``x > 0`` in one pass; both of ``x``'s shape."""
    return _elementwise("relu_forward")(x)


def dropout_forward(x: Any, p: float) -> tuple[Any, Any]:
    """Inverted dropout of ``x`` (any shape) with drop probability ``p`` -> ``(y, mask)``, both ``x``'s shape.

    The uniform draw is CuPy's global generator (``cupy.random.seed`` makes it
    repeatable), as in :class:`.activation.Dropout`: ``mask = (u >= p) / (1 - p)``
    and ``y = x * mask``.
    """
    cp = _cupy()
    u = cp.random.random(x.shape, dtype=cp.float32)
    mask, y = _elementwise("dropout_forward")(u, x, np.float32(p), x.dtype.type(1.0 / (1.0 - p)))
    return y, mask


def sgd_step(param: Any, grad: Any, lr: float, weight_decay: float, momentum: float, nesterov: bool,
             velocity: Any = None) -> Any:
    """One in-place SGD update of ``param`` (PyTorch's rule, as :class:`minicnn.optim.SGD`), one kernel launch.

    ``grad`` and ``velocity`` have ``param``'s shape and dtype; ``velocity`` None on
    the first step (it then starts as the gradient). Returns the velocity (None without momentum).
    """
    t = param.dtype.type
    if not momentum:
        _elementwise("sgd")(grad, t(lr), t(weight_decay), param)
        return None
    first_step = velocity is None
    if first_step:
        velocity = _cupy().empty_like(param)
    _elementwise("sgd_momentum")(grad, t(lr), t(weight_decay), t(momentum), np.bool_(nesterov), np.bool_(first_step),
                                 param, velocity)
    return velocity
