"""Naive loop versions of the spatial ops: slow, short and obviously right.

Forward only, on NumPy arrays, one output value per Python loop iteration.
They share no code with the fast ops (not even the padding arithmetic), so the
tests can use them as an independent reference, and a reader can see what the
fast versions compute.
"""
from __future__ import annotations

import math

import numpy as np


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _axis_padding(size: int, kernel: int, stride: int, padding, ceil_mode: bool = False) -> tuple[int, int, int]:
    """(pad_before, pad_after, number of outputs) along one axis; ``padding`` an int, "valid" or "same"."""
    if padding == "same":  # TensorFlow: out = ceil(size / stride), extra pixel after
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2, out
    p = 0 if padding == "valid" else padding
    if ceil_mode:
        out = math.ceil((size + 2 * p - kernel) / stride) + 1
        if (out - 1) * stride >= size + p:  # last window may not start in the right padding
            out -= 1
    else:
        out = (size + 2 * p - kernel) // stride + 1
    return p, p, out


def _paddings(shape, kernel, stride, padding, ceil_mode=False):
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    ph, pw = (padding, padding) if isinstance(padding, str) else _pair(padding)
    rows = _axis_padding(shape[2], kh, sh, ph, ceil_mode)
    cols = _axis_padding(shape[3], kw, sw, pw, ceil_mode)
    return (kh, kw), (sh, sw), rows, cols


def _pad(x: np.ndarray, rows, cols, kernel, stride, value: float) -> np.ndarray:
    """Pad before as declared and after as far as the last window reaches."""
    (kh, kw), (sh, sw) = kernel, stride
    bottom = max((rows[2] - 1) * sh + kh - x.shape[2] - rows[0], 0)
    right = max((cols[2] - 1) * sw + kw - x.shape[3] - cols[0], 0)
    return np.pad(x, ((0, 0), (0, 0), (rows[0], bottom), (cols[0], right)), constant_values=value)


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0) -> np.ndarray:
    """``x: (N, C, H, W)``, ``w: (F, C, kh, kw)``, ``b: (F,)`` -> ``(N, F, OH, OW)``, one dot product per output."""
    kernel, strides, rows, cols = _paddings(x.shape, w.shape[2:], stride, padding)
    xp = _pad(x, rows, cols, kernel, strides, 0.0)
    (kh, kw), (sh, sw) = kernel, strides
    y = np.zeros((x.shape[0], w.shape[0], rows[2], cols[2]), dtype=x.dtype)
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for oh in range(rows[2]):
                for ow in range(cols[2]):
                    patch = xp[n, :, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
                    y[n, f, oh, ow] = np.sum(patch * w[f]) + (0 if b is None else b[f])
    return y


def max_pool2d_naive(x: np.ndarray, kernel_size, stride=None, padding=0, ceil_mode=False) -> np.ndarray:
    """``x: (N, C, H, W) -> (N, C, OH, OW)``, the max of each window (padding is -inf)."""
    stride = kernel_size if stride is None else stride
    kernel, strides, rows, cols = _paddings(x.shape, kernel_size, stride, padding, ceil_mode)
    xp = _pad(x, rows, cols, kernel, strides, -np.inf)
    (kh, kw), (sh, sw) = kernel, strides
    y = np.zeros(x.shape[:2] + (rows[2], cols[2]), dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(rows[2]):
                for ow in range(cols[2]):
                    y[n, c, oh, ow] = np.max(xp[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw])
    return y


def avg_pool2d_naive(x: np.ndarray, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True) -> np.ndarray:
    """``x: (N, C, H, W) -> (N, C, OH, OW)``, each window's mean as PyTorch defines it.

    A window starting at ``s`` (input coordinates) ends at ``min(s + k, size + pad_after)``;
    its divisor is that length (rows times columns) with ``count_include_pad``,
    else the number of real input pixels in it.
    """
    stride = kernel_size if stride is None else stride
    (kh, kw), (sh, sw), rows, cols = _paddings(x.shape, kernel_size, stride, padding, ceil_mode)
    height, width = x.shape[2:]
    y = np.zeros(x.shape[:2] + (rows[2], cols[2]), dtype=x.dtype)
    for oh in range(rows[2]):
        h0 = oh * sh - rows[0]
        h1 = min(h0 + kh, height + rows[1])
        for ow in range(cols[2]):
            w0 = ow * sw - cols[0]
            w1 = min(w0 + kw, width + cols[1])
            inside = x[:, :, max(h0, 0) : min(h1, height), max(w0, 0) : min(w1, width)]
            if count_include_pad:
                divisor = (h1 - h0) * (w1 - w0)
            else:
                divisor = inside.shape[2] * inside.shape[3]
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    y[n, c, oh, ow] = np.sum(inside[n, c]) / divisor
    return y


def subsample2d_naive(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, kernel_size=2) -> np.ndarray:
    """``x: (N, C, H, W)``, ``weight, bias: (C,)`` -> ``(N, C, H // kh, W // kw)``: weight * block sum + bias."""
    kh, kw = _pair(kernel_size)
    y = np.zeros(x.shape[:2] + (x.shape[2] // kh, x.shape[3] // kw), dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(y.shape[2]):
                for ow in range(y.shape[3]):
                    block = x[n, c, oh * kh : (oh + 1) * kh, ow * kw : (ow + 1) * kw]
                    y[n, c, oh, ow] = weight[c] * np.sum(block) + bias[c]
    return y


def local_response_norm_naive(x: np.ndarray, size: int, alpha=1e-4, beta=0.75, k=1.0,
                              alpha_over_size=True) -> np.ndarray:
    """``x: (N, C, H, W) -> (N, C, H, W)``: each channel over its own window sum, one channel at a time."""
    a = alpha / size if alpha_over_size else alpha
    channels = x.shape[1]
    y = np.zeros_like(x)
    for c in range(channels):
        first = max(0, c - size // 2)
        last = min(channels - 1, c + (size - 1) // 2)
        total = np.zeros(x.shape[:1] + x.shape[2:], dtype=x.dtype)
        for j in range(first, last + 1):
            total += x[:, j] ** 2
        y[:, c] = x[:, c] / (k + a * total) ** beta
    return y
