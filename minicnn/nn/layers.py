"""Layers with PyTorch's names, arguments and parameter shapes.

Each layer only holds its parameters and settings; the arithmetic lives in
``minicnn.functions`` (one Function per op), so a reader finds the forward and
backward of, say, a convolution in ``functions/conv.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

IntPair = Any  # int or (int, int)


def _pair(v: Any) -> Any:
    return v if isinstance(v, str) else (tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v)))


class Conv2d(Module):
    """2-D convolution. x: (N, in_channels, H, W) -> (N, out_channels, H', W').

    weight: (out_channels, in_channels, kh, kw); bias: (out_channels,).
    ``padding`` is an int, a pair, "valid" or "same" (TensorFlow's asymmetric 'SAME').
    Initialised as PyTorch does, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), unless re-initialised.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair | str = 0, bias: bool = True, dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), _pair(stride), _pair(padding)
        fan_in = in_channels * kh * kw
        self.weight = init.default_uniform_(Parameter(np.zeros((out_channels, in_channels, kh, kw), dtype)), fan_in, rng)
        self.bias = init.default_uniform_(Parameter(np.zeros(out_channels, dtype)), fan_in, rng) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Linear(Module):
    """Fully connected. x: (N, in_features) -> (N, out_features); weight (out, in), bias (out,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = init.default_uniform_(Parameter(np.zeros((out_features, in_features), dtype)), in_features, rng)
        self.bias = init.default_uniform_(Parameter(np.zeros(out_features, dtype)), in_features, rng) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class MaxPool2d(Module):
    """Max pooling over kernel_size windows (stride defaults to kernel_size); padding int, pair or "same"."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair | str = 0,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, ceil_mode={self.ceil_mode}"


class AvgPool2d(Module):
    """Average pooling (PyTorch semantics, including count_include_pad)."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Subsample2d(Module):
    """LeNet's trainable subsampling: y[:, c] = weight[c] * (sum of each k x k block) + bias[c].

    weight, bias: (channels,). LeCun et al. (1998) initialise so that the layer starts
    close to an average: weight = 1 / k^2, bias = 0.
    """

    def __init__(self, channels: int, kernel_size: int = 2, dtype: Any = np.float32) -> None:
        super().__init__()
        self.channels, self.kernel_size = channels, kernel_size
        self.weight = Parameter(np.full(channels, 1.0 / (kernel_size * kernel_size), dtype))
        self.bias = Parameter(np.zeros(channels, dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.subsample2d(x, self.weight, self.bias, self.kernel_size)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


class LocalResponseNorm(Module):
    """Local response normalisation across channels.

    y = x / (k + a * sum over `size` neighbouring channels of x^2) ** beta, with
    a = alpha / size when ``alpha_over_size`` (PyTorch's and Caffe's meaning, the default)
    or a = alpha (TensorFlow's and Chainer's; TF's depth_radius r is size 2r + 1).
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 alpha_over_size: bool = True) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.alpha_over_size = size, alpha, beta, k, alpha_over_size

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.alpha_over_size)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, alpha_over_size={self.alpha_over_size}"


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Dropout(Module):
    """Inverted dropout with drop probability p, active only in training mode."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = init._rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """(N, ...) -> (N, -1)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of (N, K) logits against (N,) integer labels, mean over the batch."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        self.class_weights, self.reduction = weight, reduction

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        return F.cross_entropy(logits, labels, self.class_weights, self.reduction)
