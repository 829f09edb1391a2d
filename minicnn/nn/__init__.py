"""Layers and containers with PyTorch's names (``nn.Conv2d``, ``nn.Sequential``, ...)."""
from . import init
from .batchnorm import BatchNorm1d, BatchNorm2d
from .layers import (
    AvgPool2d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Subsample2d,
    Tanh,
)
from .module import Module, Parameter, Sequential

__all__ = [
    "init", "Module", "Parameter", "Sequential", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d",
    "Subsample2d", "LocalResponseNorm", "ReLU", "Sigmoid", "Tanh", "Dropout", "Flatten", "CrossEntropyLoss",
    "BatchNorm1d", "BatchNorm2d",
]
