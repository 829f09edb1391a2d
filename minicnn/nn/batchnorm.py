"""Batch normalisation layers with PyTorch's arguments, parameters and buffers.

The arithmetic is :class:`minicnn.functions.batchnorm.BatchNorm`; the layer holds
``weight`` and ``bias`` (when ``affine``) and the buffers ``running_mean``,
``running_var`` and ``num_batches_tracked`` (when ``track_running_stats``), under
PyTorch's names, so a ``state_dict`` copies to ``torch.nn.BatchNorm2d`` and back.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..functions.batchnorm import batch_norm, pooled_stats, update_running_stats
from ..tensor import Tensor
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared by :class:`BatchNorm1d` and :class:`BatchNorm2d`; ``expected_ndims`` says which inputs fit."""

    expected_ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features must be an int >= 1 (channels), got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None (a cumulative average), got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        # Set by minicnn.parallel.DataParallel on each replica during a data-parallel pass: a
        # list that collects each slice's (mean, var, count) instead of updating running stats.
        self.batch_stats_sink: list[tuple[Any, Any, int]] | None = None

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch counted (in place, on the buffers' device)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` with the batch's statistics in training (updating the running ones), else the running."""
        if x.ndim not in self.expected_ndims:
            shapes = " or ".join(f"{n}-D" for n in self.expected_ndims)
            raise ValueError(f"{type(self).__name__} expects {shapes} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got {x.shape[1]} channels (shape {x.shape})")
        sink = getattr(self, "batch_stats_sink", None)
        if self.training and self.track_running_stats and sink is not None:
            return batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                              stats_sink=lambda mean, var, count: sink.append((mean, var, count)))
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # a cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.data)
        use_batch_stats = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean if self.track_running_stats else None,
                          self.running_var if self.track_running_stats else None, self.weight, self.bias,
                          use_batch_stats, momentum, self.eps)

    def track_batch_stats(self, parts: list[tuple[Any, Any, int]]) -> None:
        """Count one training batch made of the slices ``parts`` (``(mean, biased var, count)`` each).

        The running statistics move towards the whole batch's pooled mean and unbiased
        variance (:func:`minicnn.functions.batchnorm.pooled_stats`), once, exactly as one
        forward pass over the whole batch would move them; ``num_batches_tracked`` counts one.
        """
        if not self.track_running_stats or not parts:
            return
        mean, var, count = pooled_stats(parts)
        if count < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than 1 value per channel, got {count}")
        self.num_batches_tracked.data += 1
        momentum = 1.0 / int(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        update_running_stats(self.running_mean.data, self.running_var.data, mean, var, count, momentum)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs, per channel C (PyTorch's BatchNorm1d)."""

    expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs per channel (PyTorch's BatchNorm2d).

    Args:
        num_features: C, the channels.
        eps: added to the variance before the square root.
        momentum: the batch's weight in the running averages; None for a cumulative
            average over all batches seen (``1 / num_batches_tracked``).
        affine: learn a per-channel ``weight`` (starts at 1) and ``bias`` (starts at 0).
        track_running_stats: keep ``running_mean`` (0), ``running_var`` (1, updated with
            the unbiased batch variance) and ``num_batches_tracked``; without them the
            batch's statistics are used in evaluation too.
        dtype: of the parameters and running statistics (float32 by default).
    """

    expected_ndims = (4,)
