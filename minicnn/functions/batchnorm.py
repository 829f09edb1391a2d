"""Batch normalisation (Ioffe & Szegedy 2015) with PyTorch's semantics.

Per channel ``c`` of ``x: (N, C, *)`` (the statistics run over every axis but 1)::

    x_hat = (x - mean[c]) / sqrt(var[c] + eps)        y = weight[c] * x_hat + bias[c]

In training the mean and the *biased* variance are the batch's, and the running
statistics move towards them: ``running = (1 - momentum) * running + momentum *
batch``, where the variance fed in is the *unbiased* one, ``var * M / (M - 1)``
with ``M = N * H * W`` values per channel (PyTorch's choice). In evaluation the
running statistics stand in for the batch's, and the op is an affine map per channel.

Backward. With ``g = dL/dy`` and sums over the ``M`` values of a channel, the
batch statistics depend on ``x``, which gives the compact form::

    dL/dx      = weight * inv_std / M * (M * g - sum(g) - x_hat * sum(g * x_hat))
    dL/dweight = sum(g * x_hat)          dL/dbias = sum(g)

(with running statistics ``mean`` and ``var`` are constants: ``dL/dx = g * weight * inv_std``).
Every line uses the arrays' own module (NumPy or CuPy), so the same formulas run
on the CPU and the GPU: the Function is xp-generic (one ``forward`` and ``backward``).
"""
from __future__ import annotations

from typing import Any, Callable

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor


def _channel_shape(x: Any) -> tuple[int, ...]:
    """``(1, C, 1, ...)``: how a per-channel ``(C,)`` array broadcasts against ``x: (N, C, *)``."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _check_channel_array(name: str, value: Any, x: Any) -> None:
    """Raise unless ``value`` is ``(C,)`` of ``x``'s dtype (or None)."""
    if value is None:
        return
    if tuple(value.shape) != (x.shape[1],):
        raise ValueError(f"batch_norm {name} must have shape ({x.shape[1]},) (one per channel), "
                         f"got {tuple(value.shape)}")
    if value.dtype != x.dtype:
        raise TypeError(f"batch_norm {name} dtype {value.dtype} differs from the input's {x.dtype}")


def update_running_stats(running_mean: Any, running_var: Any, mean: Any, var: Any, count: int,
                         momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place; the variance made unbiased.

    ``mean`` and ``var`` (biased) are the batch's per channel over ``count`` values each;
    the variance fed in is ``var * count / (count - 1)``, PyTorch's choice.
    """
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += (momentum * count / (count - 1)) * var


def pooled_stats(parts: list[tuple[Any, Any, int]]) -> tuple[Any, Any, int]:
    """The mean, biased variance and count of the union of batches given as ``(mean, var, count)`` each.

    ``mean = sum(n_i m_i) / N``, ``var = sum(n_i (v_i + (m_i - mean)^2)) / N`` with ``N = sum(n_i)``:
    exactly the statistics of the whole batch (up to rounding).
    """
    total = sum(n for _, _, n in parts)
    mean = sum(m * (n / total) for m, _, n in parts)
    var = sum((v + (m - mean) ** 2) * (n / total) for m, v, n in parts)
    return mean, var, total


class BatchNorm(Function):
    """y = weight * (x - mean) / sqrt(var + eps) + bias per channel.  x: (N, C, *) -> y: same shape.

    Inputs: ``x`` and, when affine, ``weight, bias: (C,)``. Settings:

    Args:
        use_batch_stats: normalise with the batch's mean and variance (training, or no
            running statistics); otherwise with ``running_mean`` / ``running_var``.
        running_mean, running_var: ``(C,)`` arrays of x's dtype or None. With
            ``use_batch_stats`` they are updated in place by ``momentum``.
        momentum: the weight of the batch in the running average (``1 / batches`` for
            a cumulative average, as PyTorch does for ``momentum=None``).
        eps: added to the variance before the square root.
        stats_sink: with ``use_batch_stats``, called as ``stats_sink(mean, var, count)`` with
            the batch's mean, biased variance and values per channel, instead of updating
            running statistics (data parallelism gathers every slice's, then updates once).
    """

    def __init__(self, use_batch_stats: bool, running_mean: Any = None, running_var: Any = None,
                 momentum: float = 0.1, eps: float = 1e-5,
                 stats_sink: Callable[[Any, Any, int], None] | None = None) -> None:
        if (running_mean is None) != (running_var is None):
            raise ValueError("batch_norm needs both running_mean and running_var, or neither")
        if not use_batch_stats and running_mean is None:
            raise ValueError("batch_norm without batch statistics needs running_mean and running_var")
        self.use_batch_stats, self.momentum, self.eps = use_batch_stats, float(momentum), float(eps)
        self.running_mean, self.running_var = running_mean, running_var
        self.stats_sink = stats_sink

    def forward(self, ctx, x, weight=None, bias=None):
        if x.ndim < 2:
            raise ValueError(f"batch_norm expects x of shape (N, C, ...), got shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise TypeError(f"batch_norm input must be floating-point (float32 or float64), got {x.dtype}")
        for name, value in (("weight", weight), ("bias", bias), ("running_mean", self.running_mean),
                            ("running_var", self.running_var)):
            _check_channel_array(name, value, x)
        xp = get_array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = _channel_shape(x)
        count = x.size // x.shape[1]  # M: values per channel
        if self.use_batch_stats:
            if count < 2 and self.running_var is not None:
                raise ValueError(f"batch_norm in training needs more than 1 value per channel, "
                                 f"got input {tuple(x.shape)}")
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = (centred * centred).mean(axis=axes)
            if self.stats_sink is not None:
                self.stats_sink(mean, var, count)
            elif self.running_mean is not None:
                update_running_stats(self.running_mean, self.running_var, mean, var, count, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
            centred = x - mean.reshape(shape)
        inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        x_hat = centred * inv_std.reshape(shape)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.count, ctx.axes = count, axes
        if weight is None:
            return x_hat if bias is None else x_hat + bias.reshape(shape)
        y = x_hat * weight.reshape(shape)
        if bias is not None:
            y += bias.reshape(shape)
        return y

    def backward(self, ctx, gy):
        x_hat, inv_std, weight = ctx.saved_tensors
        need, axes = ctx.needs_input_grad, ctx.axes
        shape = _channel_shape(gy)
        scale = inv_std if weight is None else inv_std * weight  # (C,)
        gx = None
        if need[0]:
            if self.use_batch_stats:
                g_sum = gy.sum(axis=axes).reshape(shape)
                gx_hat_sum = (gy * x_hat).sum(axis=axes).reshape(shape)
                gx = gy - (g_sum + x_hat * gx_hat_sum) / ctx.count
                gx *= scale.reshape(shape)
            else:
                gx = gy * scale.reshape(shape)
        if len(need) == 1:
            return gx
        grads = [gx]
        if weight is not None:
            grads.append((gy * x_hat).sum(axis=axes) if need[1] else None)
        if len(need) > len(grads):  # a bias
            grads.append(gy.sum(axis=axes) if need[len(grads)] else None)
        return tuple(grads)


def batch_norm(x: Any, running_mean: Any = None, running_var: Any = None, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               stats_sink: Callable[[Any, Any, int], None] | None = None) -> Tensor:
    """Batch normalisation of ``x: (N, C, *)`` per channel, PyTorch's ``F.batch_norm``.

    Args:
        running_mean, running_var: ``(C,)`` Tensors or arrays, or None (then the batch's
            statistics are always used). When ``training`` they are updated in place.
        weight, bias: ``(C,)`` scale and shift (None: 1 and 0).
        training: use (and track) the batch's statistics; otherwise the running ones.
        momentum: the batch's weight in the running average.
        eps: added to the variance for stability.
        stats_sink: in training, receive the batch's ``(mean, biased var, count)`` instead of
            updating the running statistics (see :class:`BatchNorm`).
    """
    mean_array = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    var_array = running_var.data if isinstance(running_var, Tensor) else running_var
    fn = BatchNorm(training or mean_array is None, mean_array, var_array, momentum, eps, stats_sink)
    inputs = [as_tensor(x)]
    if weight is not None:
        inputs.append(as_tensor(weight))
    if bias is not None:
        if weight is None:
            raise ValueError("batch_norm with a bias needs a weight too (pass ones for a shift only)")
        inputs.append(as_tensor(bias))
    return fn.apply_to(*inputs)
