"""Numerical gradient checking with central differences.

Why float64: a central difference ``(f(x+h) - f(x-h)) / 2h`` has a truncation
error of order h^2 and a rounding error of order eps_machine / h. In float64
(eps ~ 1e-16) a step h ~ 1e-6 makes both about 1e-10 to 1e-12, far below the
1e-6 tolerance; in float32 (eps ~ 1e-7) the best achievable error is about
1e-3, which hides real bugs. So checks run in float64 and asking for a
float32 check warns.

Why an upstream gradient: instead of checking ``d sum(f(x)) / dx`` (which a
wrong but symmetric backward can pass), the checked scalar is
``sum(f(x) * g)`` with a random ``g`` of the output's shape, so every output
element carries its own weight.

The error reported per input is the largest relative error over its elements,
``|a - n| / max(|a| + |n|, tiny)``, with ``a`` the analytic and ``n`` the
numerical derivative.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from . import backend
from .tensor import Tensor, no_grad

TINY = 1e-12


def numerical_gradient(f: Callable[[], float], array: Any, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``array``, changed in place."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)  # a view: writing it changes ``array``
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i].item()
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        g[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    seed: int = 0,
) -> list[float]:
    """Compare ``fn``'s backward with central differences; return the max relative error per input.

    Args:
        fn: maps the input Tensors to one output Tensor (any shape).
        inputs: Tensors; those with ``requires_grad`` are checked (others get ``nan``).
        eps: the finite-difference step.
        seed: seeds the random upstream gradient.
    """
    if any(t.dtype != np.float64 for t in inputs if t.dtype.kind == "f"):
        warnings.warn(
            "gradcheck on a non-float64 input: central differences are only reliable in float64",
            RuntimeWarning,
            stacklevel=2,
        )
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    xp = backend.get_array_module(out.data)
    rng = np.random.default_rng(seed)
    upstream = xp.asarray(rng.standard_normal(out.shape).astype(out.dtype))
    out.backward(upstream)
    upstream_host = backend.to_numpy(upstream).astype(np.float64)

    def scalar() -> float:
        with no_grad():
            y = fn(*inputs)
        return float(np.sum(backend.to_numpy(y.data).astype(np.float64) * upstream_host))

    errors: list[float] = []
    for t in inputs:
        if not t.requires_grad:
            errors.append(float("nan"))
            continue
        host = backend.to_numpy(t.data)
        analytic = np.zeros(t.shape) if t.grad is None else backend.to_numpy(t.grad).astype(np.float64)
        if host is t.data:
            numeric = numerical_gradient(scalar, t.data, eps)
        else:  # GPU: perturb a host copy and push it back each time
            work = host.copy()

            def scalar_gpu() -> float:
                t.data = backend.to_device(work, "gpu")
                return scalar()

            numeric = numerical_gradient(scalar_gpu, work, eps)
            t.data = backend.to_device(host, "gpu")
        rel = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), TINY)
        errors.append(float(rel.max()) if rel.size else 0.0)
    return errors


def assert_gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    tol: float = 1e-6,
    eps: float = 1e-6,
    name: str | None = None,
) -> list[float]:
    """Run :func:`gradcheck` and raise ``AssertionError`` naming the failing inputs."""
    errors = gradcheck(fn, inputs, eps=eps)
    bad = [(i, e) for i, e in enumerate(errors) if not np.isnan(e) and e > tol]
    if bad:
        label = name or getattr(fn, "__name__", "function")
        details = ", ".join(f"input {i} (shape {inputs[i].shape}): {e:.3e}" for i, e in bad)
        raise AssertionError(f"gradient check failed for {label}: max relative error above {tol:g} for {details}")
    return errors
