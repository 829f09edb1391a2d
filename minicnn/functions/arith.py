"""Elementary differentiable operations behind Tensor's operators.

Each is a :class:`~minicnn.tensor.Function` with ``forward`` and ``backward``
next to each other; all are xp-generic (the same array code on NumPy and CuPy). Binary operations broadcast like NumPy; their backward
sums the gradient over the broadcast axes (:func:`unbroadcast`) so every input
receives a gradient of its own shape.
"""
from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from ..tensor import Function, Tensor


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


class Add(Function):
    """z = a + b (broadcasting)."""

    def forward(self, ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, ctx, gz):
        return unbroadcast(gz, ctx.shapes[0]), unbroadcast(gz, ctx.shapes[1])


class Sub(Function):
    """z = a - b (broadcasting)."""

    def forward(self, ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, ctx, gz):
        return unbroadcast(gz, ctx.shapes[0]), unbroadcast(-gz, ctx.shapes[1])


class Mul(Function):
    """z = a * b (broadcasting)."""

    def forward(self, ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(self, ctx, gz):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(gz * b, a.shape) if need_a else None,
                unbroadcast(gz * a, b.shape) if need_b else None)


class Div(Function):
    """z = a / b (broadcasting)."""

    def forward(self, ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    def backward(self, ctx, gz):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(gz / b, a.shape) if need_a else None,
                unbroadcast(-gz * a / (b * b), b.shape) if need_b else None)


class Neg(Function):
    """z = -a."""

    def forward(self, ctx, a):
        return -a

    def backward(self, ctx, gz):
        return -gz


class Power(Function):
    """z = a ** p for a constant exponent p."""

    def __init__(self, exponent: float) -> None:
        self.exponent = exponent

    def forward(self, ctx, a):
        ctx.save_for_backward(a)
        return a**self.exponent

    def backward(self, ctx, gz):
        (a,), p = ctx.saved_tensors, self.exponent
        return gz * (p * a ** (p - 1))


class MatMul(Function):
    """z = a @ b for 2-D a: (M, K), b: (K, N) -> z: (M, N) (also batched, NumPy rules)."""

    def forward(self, ctx, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul needs arrays of 2 or more dimensions, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul shape mismatch: {a.shape} @ {b.shape} (inner sizes {a.shape[-1]} != {b.shape[-2]})")
        ctx.save_for_backward(a, b)
        return a @ b

    def backward(self, ctx, gz):
        xp = get_array_module(gz)
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(gz @ xp.swapaxes(b, -1, -2), a.shape) if need_a else None,
                unbroadcast(xp.swapaxes(a, -1, -2) @ gz, b.shape) if need_b else None)


class Exp(Function):
    """z = exp(a)."""

    def forward(self, ctx, a):
        z = get_array_module(a).exp(a)
        ctx.save_for_backward(z)
        return z

    def backward(self, ctx, gz):
        (z,) = ctx.saved_tensors
        return gz * z


class Log(Function):
    """z = log(a)."""

    def forward(self, ctx, a):
        ctx.save_for_backward(a)
        return get_array_module(a).log(a)

    def backward(self, ctx, gz):
        (a,) = ctx.saved_tensors
        return gz / a


class AsType(Function):
    """z = a converted to another dtype; the gradient is converted back."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype

    def forward(self, ctx, a):
        ctx.in_dtype = a.dtype
        return a.astype(self.dtype)

    def backward(self, ctx, gz):
        return gz.astype(ctx.in_dtype)


class GetItem(Function):
    """z = a[index] (basic or advanced indexing); backward scatters with add."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, ctx, a):
        ctx.shape, ctx.dtype = a.shape, a.dtype
        return a[self.index]

    def backward(self, ctx, gz):
        xp = get_array_module(gz)
        ga = xp.zeros(ctx.shape, dtype=ctx.dtype)
        xp.add.at(ga, self.index, gz)  # add, not assign: an index may repeat
        return ga


class Reshape(Function):
    """z = a.reshape(shape)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, ctx, a):
        ctx.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, ctx, gz):
        return gz.reshape(ctx.in_shape)


class Transpose(Function):
    """z = a.transpose(axes) (reversed axes when None)."""

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def forward(self, ctx, a):
        return a.transpose(self.axes)

    def backward(self, ctx, gz):
        xp = get_array_module(gz)
        if self.axes is None:
            return gz.transpose()
        return gz.transpose(tuple(int(i) for i in xp.argsort(xp.asarray(self.axes)).tolist()))


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim for a in axis)


def _expand_reduced(g: Any, axes: tuple[int, ...], keepdims: bool, in_ndim: int) -> Any:
    """Re-insert reduced axes (as size 1) so ``g`` broadcasts against the input."""
    if keepdims:
        return g
    shape = list(g.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return g.reshape(shape)


class Sum(Function):
    """z = a.sum(axis, keepdims)."""

    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, ctx, a):
        ctx.in_shape, ctx.axes = a.shape, _norm_axes(self.axis, a.ndim)
        return a.sum(axis=ctx.axes, keepdims=self.keepdims)

    def backward(self, ctx, gz):
        xp = get_array_module(gz)
        g = _expand_reduced(gz, ctx.axes, self.keepdims, len(ctx.in_shape))
        return xp.broadcast_to(g, ctx.in_shape).copy()


class Mean(Sum):
    """z = a.mean(axis, keepdims)."""

    def forward(self, ctx, a):
        out = super().forward(ctx, a)
        ctx.count = 1
        for ax in ctx.axes:
            ctx.count *= a.shape[ax]
        return (out / ctx.count).astype(a.dtype, copy=False)

    def backward(self, ctx, gz):
        return super().backward(ctx, gz / ctx.count)


class Max(Function):
    """z = a.max(axis, keepdims); the gradient is shared equally among tied maxima."""

    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, ctx, a):
        ctx.axes = _norm_axes(self.axis, a.ndim)
        out = a.max(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(a, out)
        return out if self.keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in ctx.axes])

    def backward(self, ctx, gz):
        a, out = ctx.saved_tensors
        mask = (a == out).astype(a.dtype)
        mask /= mask.sum(axis=ctx.axes, keepdims=True)
        return mask * _expand_reduced(gz, ctx.axes, self.keepdims, a.ndim)


# ------------------------------------------------------------------ wrappers
def add(a: Any, b: Any) -> Tensor:
    return Add().apply_to(a, b)


def sub(a: Any, b: Any) -> Tensor:
    return Sub().apply_to(a, b)


def mul(a: Any, b: Any) -> Tensor:
    return Mul().apply_to(a, b)


def div(a: Any, b: Any) -> Tensor:
    return Div().apply_to(a, b)


def neg(a: Any) -> Tensor:
    return Neg().apply_to(a)


def power(a: Any, exponent: float) -> Tensor:
    return Power(exponent).apply_to(a)


def matmul(a: Any, b: Any) -> Tensor:
    return MatMul().apply_to(a, b)


def exp(a: Any) -> Tensor:
    return Exp().apply_to(a)


def log(a: Any) -> Tensor:
    return Log().apply_to(a)


def astype(a: Any, dtype: Any) -> Tensor:
    return AsType(dtype).apply_to(a)


def getitem(a: Any, index: Any) -> Tensor:
    if isinstance(index, Tensor):
        index = index.data
    return GetItem(index).apply_to(a)


def reshape(a: Any, shape: tuple[int, ...]) -> Tensor:
    return Reshape(tuple(shape)).apply_to(a)


def transpose(a: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    return Transpose(tuple(axes) if axes is not None else None).apply_to(a)


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - mirrors NumPy
    return Sum(axis, keepdims).apply_to(a)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Mean(axis, keepdims).apply_to(a)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - mirrors NumPy
    return Max(axis, keepdims).apply_to(a)
