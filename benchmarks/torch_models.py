"""PyTorch twins of minicnn's paper networks (test and benchmark reference only).

Each twin has the same module tree as its minicnn network, so both libraries
name every parameter alike ("features.0.weight", ...) and weights copy across
with :func:`copy_weights`. TensorFlow's asymmetric 'SAME' padding is done with
an explicit ``F.pad`` before the convolution or pooling.

LRN comes in two forms: ``torch.nn.LocalResponseNorm`` (stock PyTorch; it sums the
window with ``avg_pool3d``, whose backward dominates a training step) and
:class:`ExpertLocalResponseNorm`, what an expert would write for the same maths: a
hand-written autograd Function whose window sum over channels is either a prefix sum
(``cumsum``) or a product with a banded 0/1 matrix (``band``, a 1-D convolution over
channels done as one batched matrix product), with in-place element-wise work and
square roots instead of ``pow`` for beta 0.75 and 0.5.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minicnn import nn as mnn


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'SAME' along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = tf_same_pads(x.shape[2], kh, sh)
        left, right = tf_same_pads(x.shape[3], kw, sw)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


class SameMaxPool2d(nn.Module):
    """MaxPool2d with TensorFlow 'SAME' padding (pads with -inf)."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_pads(x.shape[2], self.kernel, self.stride)
        left, right = tf_same_pads(x.shape[3], self.kernel, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=-math.inf)
        return F.max_pool2d(x, self.kernel, self.stride)


class Subsample2d(nn.Module):
    """LeNet's trainable subsampling: weight[c] * (2x2 block sum) + bias[c]."""

    def __init__(self, channels: int, kernel: int = 2) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.full((channels,), 1.0 / kernel**2))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.avg_pool2d(x, self.kernel) * (self.kernel**2)
        return s * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def _negative_power(scale: torch.Tensor, beta: float) -> torch.Tensor:
    """``scale ** -beta`` in a new tensor, with square roots for beta 0.75 and 0.5 (``pow`` is far slower)."""
    if beta == 0.75:
        return scale.sqrt().mul_(scale).rsqrt_()
    if beta == 0.5:
        return scale.rsqrt()
    return scale.pow(-beta)


def channel_window_sum(v: torch.Tensor, before: int, after: int, method: str) -> torch.Tensor:
    """``out[:, c] = sum(v[:, c - before .. c + after])`` over channels (clipped to [0, C)), a new tensor.

    ``method`` "cumsum": a prefix sum over the zero-padded channels and one difference of
    two shifted slices; "band": a batched matrix product with the 0/1 band ``(C, C)``.
    """
    n, c = v.shape[:2]
    if method == "band":
        i = torch.arange(c)
        band = ((i[None, :] >= i[:, None] - before) & (i[None, :] <= i[:, None] + after)).to(v.dtype)
        return torch.matmul(band, v.reshape(n, c, -1)).reshape(v.shape)
    if method != "cumsum":
        raise ValueError(f"unknown window-sum method {method!r}: cumsum or band")
    padded = F.pad(v, (0, 0, 0, 0, before + 1, after))  # channel j of v sits at j + before + 1
    prefix = padded.cumsum_(1) if not padded.requires_grad else padded.cumsum(1)
    return prefix[:, before + after + 1:] - prefix[:, :c]


class _ExpertLRN(torch.autograd.Function):
    """LRN across channels with a hand-written backward (the formulas of ``minicnn.functions.lrn``)."""

    @staticmethod
    def forward(ctx, x, size: int, a: float, beta: float, k: float, method: str):  # type: ignore[override]
        before, after = size // 2, (size - 1) // 2
        scale = channel_window_sum(x * x, before, after, method).mul_(a).add_(k)  # k + a * window sum
        power = _negative_power(scale, beta)
        ctx.save_for_backward(x, scale, power)
        ctx.settings = (before, after, a, beta, method)
        return x * power

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        x, scale, power = ctx.saved_tensors
        before, after, a, beta, method = ctx.settings
        terms = (gy * x).mul_(power).div_(scale)  # gy * y / scale
        window = channel_window_sum(terms, after, before, method)  # the mirrored window
        gx = (gy * power).addcmul_(x, window, value=-2.0 * a * beta)
        return gx, None, None, None, None, None


class ExpertLocalResponseNorm(nn.Module):
    """``torch.nn.LocalResponseNorm``'s maths (``a = alpha / size``) with an expert's window sum and backward."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 method: str = "band") -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.method = size, alpha, beta, k, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ExpertLRN.apply(x, self.size, self.alpha / self.size, self.beta, self.k, self.method)


def twin_of(module: mnn.Module, lrn: str = "stock") -> nn.Module:
    """Build the PyTorch module with the same structure (and parameter names) as a minicnn module.

    ``lrn``: "stock" for ``torch.nn.LocalResponseNorm``; "cumsum" or "band" for
    :class:`ExpertLocalResponseNorm` with that window sum.
    """
    if isinstance(module, mnn.Sequential):
        return nn.Sequential(*[twin_of(m, lrn) for m in module])
    if isinstance(module, mnn.Conv2d):
        if module.padding == "same":
            return SameConv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                              bias=module.bias is not None)
        padding = 0 if module.padding == "valid" else module.padding
        return nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride, padding,
                         bias=module.bias is not None)
    if isinstance(module, mnn.MaxPool2d):
        if module.padding == "same":
            return SameMaxPool2d(module.kernel_size, module.stride or module.kernel_size)
        return nn.MaxPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
    if isinstance(module, mnn.LocalResponseNorm):
        alpha = module.alpha if module.alpha_over_size else module.alpha * module.size
        if lrn != "stock":
            return ExpertLocalResponseNorm(module.size, alpha, module.beta, module.k, method=lrn)
        return nn.LocalResponseNorm(module.size, alpha, module.beta, module.k)
    if isinstance(module, mnn.Linear):
        return nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, mnn.Subsample2d):
        return Subsample2d(module.channels, module.kernel_size)
    simple = {mnn.ReLU: nn.ReLU, mnn.Sigmoid: nn.Sigmoid, mnn.Tanh: nn.Tanh, mnn.Flatten: nn.Flatten}
    for k, v in simple.items():
        if type(module) is k:
            return v()
    if isinstance(module, mnn.Dropout):
        return nn.Dropout(module.p)
    # A composite model: mirror its sub-modules under the same attribute names.
    twin = _Composite(type(module).__name__, module)
    for name, child in module._modules.items():
        twin.add_module(name, twin_of(child, lrn))
    return twin


class _Composite(nn.Module):
    """A container whose forward mirrors the minicnn model's (features -> heads)."""

    def __init__(self, kind: str, source: Any) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> Any:
        if self.kind == "MultiTaskNet":
            h = self.shared(self.features(x))
            return self.gender_head(h), self.age_head(h)
        return self.classifier(self.features(x))


def copy_weights(source: mnn.Module, target: nn.Module) -> None:
    """Copy every minicnn parameter into the PyTorch twin (same names, same shapes)."""
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in source.state_dict().items()}
    target.load_state_dict(state, strict=True)


def torch_twins(model: mnn.Module, method: str, channels_last: bool = False, compile_expert: bool = False) -> dict[str, nn.Module]:
    """``{"stock": twin, "expert": twin with ExpertLocalResponseNorm(method)}``, both with ``model``'s weights.

    ``method`` "none" (a network without LRN) gives the stock twin only. ``channels_last``
    converts both; ``compile_expert`` wraps the expert one in ``torch.compile``.
    """
    twins = {}
    for label, lrn in (("stock", "stock"), ("expert", method)):
        if label == "expert" and method == "none":  # no LRN in this network: the expert twin is the stock one
            continue
        twin = twin_of(model, lrn=lrn)
        copy_weights(model, twin)
        if channels_last:
            twin = twin.to(memory_format=torch.channels_last)
        if compile_expert and label == "expert":
            twin = torch.compile(twin)
        twins[label] = twin
    return twins


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def expert_lrn_method(model: mnn.Module, x: np.ndarray) -> tuple[str, dict[str, float]]:
    """The faster window sum for :class:`ExpertLocalResponseNorm` at ``model``'s LRN inputs, and both timings (s).

    Times forward + backward of every LRN of the network on its real input shapes (batch
    ``x``), each method in turn, best of three.
    """
    twin = twin_of(model)
    copy_weights(model, twin)
    inputs = []
    handles = [m.register_forward_hook(lambda mod, inp, out: inputs.append((mod, inp[0].detach().clone())))
               for m in twin.modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    with torch.no_grad():
        twin(torch.from_numpy(x))
    for h in handles:
        h.remove()
    if not inputs:
        return "none", {}
    times = {}
    for method in ("cumsum", "band"):
        layers = [(ExpertLocalResponseNorm(m.size, m.alpha, m.beta, m.k, method), v.requires_grad_(True))
                  for m, v in inputs]

        def once() -> None:
            for layer, v in layers:
                layer(v).backward(torch.ones_like(v))

        once()
        times[method] = min(_seconds(once) for _ in range(3))
    return min(times, key=times.get), times
