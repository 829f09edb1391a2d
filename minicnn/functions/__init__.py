"""Differentiable operations, one Function per op, forward and backward side by side.

The functional API, PyTorch-style (``import minicnn.functions as F``)::

    F.conv2d  F.max_pool2d  F.avg_pool2d  F.subsample2d  F.local_response_norm
    F.linear  F.flatten  F.relu  F.sigmoid  F.tanh  F.dropout
    F.log_softmax  F.cross_entropy  F.softmax  F.accuracy  F.batch_norm

PyTorch's signatures, with a differentiable softmax, are in :mod:`minicnn.functional`.
How an op pairs its CPU and GPU code (``forward_cpu`` / ``forward_gpu`` ...) is
stated on :class:`minicnn.tensor.Function`; the SGD update follows the same
convention in :mod:`minicnn.functions.sgd_update`.
"""
from .activation import dropout, relu, sigmoid, tanh
from .batchnorm import batch_norm
from .conv import conv2d
from .linear import flatten, linear
from .loss import accuracy, cross_entropy, log_softmax, softmax
from .lrn import local_response_norm
from .pool import avg_pool2d, max_pool2d, subsample2d

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "subsample2d", "local_response_norm", "linear", "flatten",
    "relu", "sigmoid", "tanh", "dropout", "log_softmax", "cross_entropy", "softmax", "accuracy",
    "batch_norm",
]
