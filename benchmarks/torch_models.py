"""PyTorch twins of minicnn's paper networks (test and benchmark reference only).

Each twin has the same module tree as its minicnn network, so both libraries
name every parameter alike ("features.0.weight", ...) and weights copy across
with :func:`copy_weights`. TensorFlow's asymmetric 'SAME' padding is done with
an explicit ``F.pad`` before the convolution or pooling.
"""
from __future__ import annotations

import math
from typing import Any

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


def twin_of(module: mnn.Module) -> nn.Module:
    """Build the PyTorch module with the same structure (and parameter names) as a minicnn module."""
    if isinstance(module, mnn.Sequential):
        return nn.Sequential(*[twin_of(m) for m in module])
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
        twin.add_module(name, twin_of(child))
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
