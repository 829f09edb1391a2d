"""minicnn: a small define-by-run CNN library written to be read.

NumPy on the CPU, CuPy on an NVIDIA GPU; every op has its forward and backward
side by side and is gradient-checked. Start with ``minicnn/tensor.py``.
"""
from . import backend, functional, functions, nn, optim
from .gradcheck import gradcheck
from .nn.init import manual_seed
from .serialization import load, save
from .tensor import Function, Tensor, is_grad_enabled, no_grad, set_grad_enabled

__version__ = "0.1.0"
__all__ = ["Tensor", "Function", "no_grad", "set_grad_enabled", "is_grad_enabled", "nn", "optim", "functions",
           "backend", "save", "load", "gradcheck", "manual_seed", "functional"]
