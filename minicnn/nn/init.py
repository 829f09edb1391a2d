"""Weight initialisers. Each fills a Parameter's data in place and returns it.

fan_in / fan_out follow PyTorch: for a (out, in) linear weight, fan_in = in;
for a (out, in, kh, kw) conv weight, fan_in = in * kh * kw.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(param: Any, values: np.ndarray) -> Any:
    xp = backend.get_array_module(param.data)
    param.data = xp.asarray(values.astype(param.data.dtype))
    return param


_global_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator that layers use when no ``rng`` is given (like ``torch.manual_seed``)."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)


def _rng(rng: Any) -> np.random.Generator:
    """``rng`` if it is a Generator, a new one seeded with it if it is a seed, else the global one."""
    if isinstance(rng, np.random.Generator):
        return rng
    return _global_rng if rng is None else np.random.default_rng(rng)


def constant_(param: Any, value: float) -> Any:
    """Fill with a constant (the paper's biases: 0.1)."""
    return _fill(param, np.full(param.shape, value))


def normal_(param: Any, std: float, mean: float = 0.0, rng: Any = None) -> Any:
    """Normal(mean, std)."""
    return _fill(param, _rng(rng).normal(mean, std, param.shape))


def trunc_normal_(param: Any, std: float, mean: float = 0.0, rng: Any = None) -> Any:
    """Normal(mean, std) redrawn outside mean +- 2 std, as TensorFlow's truncated_normal (the paper's stddev 0.1)."""
    r = _rng(rng)
    values = r.normal(mean, std, param.shape)
    bad = np.abs(values - mean) > 2 * std
    while bad.any():
        values[bad] = r.normal(mean, std, int(bad.sum()))
        bad = np.abs(values - mean) > 2 * std
    return _fill(param, values)


def uniform_(param: Any, low: float, high: float, rng: Any = None) -> Any:
    """Uniform(low, high)."""
    return _fill(param, _rng(rng).uniform(low, high, param.shape))


def he_normal_(param: Any, rng: Any = None) -> Any:
    """He (Kaiming) normal for ReLU nets: std = sqrt(2 / fan_in)."""
    fan_in, _ = _fans(param.shape)
    return normal_(param, math.sqrt(2.0 / fan_in), rng=rng)


def glorot_uniform_(param: Any, rng: Any = None) -> Any:
    """Glorot (Xavier) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(param.shape)
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -a, a, rng=rng)


def default_uniform_(param: Any, fan_in: int, rng: Any = None) -> Any:
    """PyTorch's default for Linear/Conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(param, -bound, bound, rng=rng)
