"""Module, Parameter and Sequential: how layers hold their weights.

A :class:`Module` finds its parameters and sub-modules by looking at its own
attributes, so a model is written as plain Python (as in PyTorch)::

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(4, 2)
        def forward(self, x):
            return self.fc(x)

``state_dict()`` names every parameter by its attribute path ("fc.weight"),
the same names PyTorch gives, so weights can be exchanged with it.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (``requires_grad`` is on)."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, device={self.device})"


class Module:
    """Base class of layers and models: parameters, sub-modules, train/eval mode, devices."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ before setting attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------- calling
    def forward(self, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------- parameters
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ("path.name", Parameter) for this module and all sub-modules, in definition order."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """All trainable parameters (each once)."""
        seen: set[int] = set()
        out = []
        for _, p in self.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        return out

    def modules(self) -> Iterator["Module"]:
        """This module and every sub-module, depth first."""
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self) -> int:
        """The number of scalar weights."""
        return int(sum(p.size for p in self.parameters()))

    # --------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active) for this module and its children."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off)."""
        return self.train(False)

    # ------------------------------------------------------------- devices
    def to(self, device: str) -> "Module":
        """Move every parameter (and its gradient) to ``device`` ("cpu" or "gpu") in place; returns self.

        An optimiser built before the move follows on its next step: its state arrays
        (momentum, Adam's moments) move to each parameter's device then.

        Raises:
            RuntimeError: ``"gpu"`` was asked for but CuPy or a CUDA device is missing
                (the message names ``pip install .[gpu]``), even for a module without parameters.
        """
        device = backend.normalize_device(device)
        if device == "gpu":
            backend._require_cupy()
        for p in self.parameters():
            if p.device != device:
                p.data = backend.to_device(p.data, device)
                if p.grad is not None:
                    p.grad = backend.to_device(p.grad, device)
        return self

    @property
    def device(self) -> str:
        """The device of the first parameter ("cpu" for a module without parameters)."""
        params = self.parameters()
        return params[0].device if params else "cpu"

    # ------------------------------------------------------------ weights
    def state_dict(self) -> "OrderedDict[str, Any]":
        """Parameter arrays by name (the arrays themselves, on their device)."""
        return OrderedDict((name, p.data) for name, p in self.named_parameters())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters of the same names, checking shapes (and names if strict).

        The values are copied (to each parameter's device and dtype): changing the
        given arrays afterwards, or training the module, never changes the other.
        """
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, value in state.items():
            if name not in own:
                continue
            p = own[name]
            value = backend.to_numpy(value)
            if tuple(value.shape) != p.shape:
                raise ValueError(f"load_state_dict: {name} has shape {tuple(value.shape)} in the file, {p.shape} in the model")
            xp = backend.get_array_module(p.data)
            p.data = xp.array(value, dtype=p.data.dtype)  # a copy, never a view of the caller's array

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")


class Sequential(Module):
    """Apply modules one after the other; parameters are named "0.weight", "1.bias", ... as in PyTorch."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules, got {type(layer).__name__} at position {i}")
            setattr(self, str(i), layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Tensor) -> Tensor:
        for layer in self._modules.values():
            x = layer(x)
        return x
