"""The SGD parameter update (PyTorch's rule), in place, as a CPU / GPU pair.

Not a differentiable op, but it follows the ops' pairing convention
(:class:`minicnn.tensor.Function`): :func:`sgd_update_cpu` and
:func:`sgd_update_gpu` take the same arguments and return the same velocity, and
:func:`sgd_update` chooses between them by :func:`minicnn.backend.on_gpu`, as
every op does. :class:`minicnn.optim.SGD` calls :func:`sgd_update` for each parameter::

    g = grad + weight_decay * param
    velocity = g                                 (first step)
    velocity = momentum * velocity + g           (later steps)
    param -= lr * (g + momentum * velocity if nesterov else velocity)     (lr * g without momentum)
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import _kernels_gpu


def sgd_update_cpu(param: Any, grad: Any, velocity: Any, lr: float, momentum: float, weight_decay: float,
                   nesterov: bool) -> Any:
    """The update as array code, in place on ``param``; returns the velocity (None without momentum).

    ``grad`` and ``velocity`` (None on the first step) have ``param``'s shape and dtype.
    """
    g = grad + weight_decay * param if weight_decay else grad
    if momentum:
        if velocity is None:
            velocity = g.copy()
        else:
            velocity *= momentum
            velocity += g
        g = g + momentum * velocity if nesterov else velocity
    param -= lr * g
    return velocity


def sgd_update_gpu(param: Any, grad: Any, velocity: Any, lr: float, momentum: float, weight_decay: float,
                   nesterov: bool) -> Any:
    """The same update as one fused CUDA kernel per parameter (the ``sgd`` / ``sgd_momentum`` element-wise kernels)."""
    return _kernels_gpu.sgd_step(param, grad, lr, weight_decay, momentum, nesterov, velocity)


def sgd_update(param: Any, grad: Any, velocity: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
               nesterov: bool = False) -> Any:
    """One in-place SGD step of ``param`` on its device; returns the new velocity (None without momentum).

    Args:
        param, grad: arrays of one shape and dtype, both NumPy or both CuPy.
        velocity: the previous step's velocity, or None (the first step, or no momentum).
        lr, momentum, weight_decay, nesterov: PyTorch's SGD settings.
    """
    side = sgd_update_gpu if backend.on_gpu(param, grad, velocity) else sgd_update_cpu
    return side(param, grad, velocity, lr, momentum, weight_decay, nesterov)
