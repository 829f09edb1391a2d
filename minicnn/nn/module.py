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
the same names PyTorch gives, so weights can be exchanged with it. Besides
parameters a module may hold *buffers* (:meth:`Module.register_buffer`): arrays
that belong to its state but are not trained by gradients, such as batch
normalisation's running mean. They are saved, loaded, moved and converted with
the parameters, as in PyTorch.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

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
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ before setting attributes")
        if name in self._buffers:  # assigning to a buffer's name replaces the buffer (as in PyTorch)
            self._buffers[name] = _as_buffer(name, value)
            return
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        """Buffers are attributes too (Python calls this only when normal lookup fails)."""
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value: Any) -> None:
        """Add a non-trained array to the module's state, readable as ``self.<name>`` (a Tensor, or None).

        Buffers appear in :meth:`state_dict` (after the module's own parameters, as in
        PyTorch), and :meth:`to`, :meth:`double` and :meth:`float` move or convert them
        with the parameters (only floating buffers change dtype: a counter stays int64).
        ``None`` reserves the name without an entry in the state (PyTorch's convention
        for statistics that are not tracked).
        """
        if "_buffers" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ before register_buffer")
        if name in self._parameters or name in self._modules or (name in self.__dict__ and name not in self._buffers):
            raise KeyError(f"register_buffer: {name!r} is already an attribute of {type(self).__name__}")
        self._buffers[name] = _as_buffer(name, value)

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

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Yield ("path.name", buffer Tensor) for this module and all sub-modules (buffers set to None skipped)."""
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        for name, m in self._modules.items():
            yield from m.named_buffers(prefix + name + ".")

    def buffers(self) -> list[Tensor]:
        """All buffers (running statistics and the like), each once."""
        return list(dict((id(b), b) for _, b in self.named_buffers()).values())

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Parameters then buffers of each module, module by module: PyTorch's ``state_dict`` order."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        for name, m in self._modules.items():
            yield from m._named_state(prefix + name + ".")

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

    # ------------------------------------------------------- devices, dtypes
    def to(self, *targets: Any, device: str | None = None, dtype: Any = None) -> "Module":
        """Move and/or convert every parameter (with its gradient) and buffer in place; returns self.

        ``targets`` are device names ("cpu", "gpu", "cuda", "cuda:0") and floating dtypes
        (``np.float64``, ``"float32"``), in any order, as PyTorch's ``module.to("cuda")``,
        ``module.to(torch.float64)`` or ``module.to("cuda", torch.float64)``; ``device=`` and
        ``dtype=`` say the same by keyword. A dtype converts only floating arrays (an int64
        counter such as ``num_batches_tracked`` stays int64).

        An optimiser built before a device move follows on its next step: its state arrays
        (momentum, Adam's moments) move to each parameter's device then. Convert the dtype
        before building the optimiser (as in PyTorch): its state keeps the dtype it was made in.

        Raises:
            RuntimeError: ``"gpu"`` was asked for but CuPy or a CUDA device is missing
                (the message names ``pip install .[gpu]``), even for a module without parameters.
            ValueError: a string is neither a device name nor a dtype name.
            TypeError: a dtype is not a floating one, or a target is neither a string nor a dtype.
        """
        for target in targets:
            kind, value = _device_or_dtype(target)
            if kind == "device":
                device = value
            else:
                dtype = value
        if device is not None:
            device = backend.normalize_device(device)
            if device == "gpu":
                backend._require_cupy()
        if dtype is not None:
            dtype = _floating_dtype(dtype)
        for tensor in self.parameters() + self.buffers():
            _move_in_place(tensor, device, dtype)
        return self

    def double(self) -> "Module":
        """Convert every floating parameter and buffer to float64 in place (for gradient checks); returns self."""
        return self.to(dtype=np.float64)

    def float(self) -> "Module":
        """Convert every floating parameter and buffer to float32 in place (the library's default); returns self."""
        return self.to(dtype=np.float32)

    @property
    def device(self) -> str:
        """The device of the first parameter ("cpu" for a module without parameters)."""
        params = self.parameters()
        return params[0].device if params else "cpu"

    # ------------------------------------------------------------ weights
    def state_dict(self) -> "OrderedDict[str, Any]":
        """Parameter and buffer arrays by name (the arrays themselves, on their device), in PyTorch's order."""
        return OrderedDict((name, t.data) for name, t in self._named_state())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers of the same names, checking shapes (and names if strict).

        Everything is checked before anything is copied, so a failed load leaves the
        module as it was. The values are copied (to each target's device and dtype):
        changing the given arrays afterwards, or training the module, never changes the
        other. Accepts NumPy or CuPy arrays and anything ``np.asarray`` reads (PyTorch
        CPU tensors included).

        Raises:
            KeyError: ``strict`` and the names differ (the message lists the missing and
                the unexpected keys).
            ValueError: an array's shape differs from the model's (all such names listed).
        """
        own = dict(self._named_state())
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        values = {name: backend.to_numpy(value) for name, value in state.items() if name in own}
        wrong = [f"{name} has shape {tuple(value.shape)} in the file, {own[name].shape} in the model"
                 for name, value in values.items() if tuple(value.shape) != own[name].shape]
        if wrong:
            raise ValueError("load_state_dict: " + "; ".join(wrong))
        for name, value in values.items():
            target = own[name]
            xp = backend.get_array_module(target.data)
            target.data = xp.array(value, dtype=target.data.dtype)  # a copy, never a view of the caller's array

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


def _as_buffer(name: str, value: Any) -> Tensor | None:
    """A buffer value as a Tensor without gradient (None stays None)."""
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise TypeError(f"buffer {name!r} cannot be a Parameter (parameters are trained, buffers are not)")
    data = value.data if isinstance(value, Tensor) else value
    if not hasattr(data, "dtype"):
        raise TypeError(f"buffer {name!r} must be an array or a Tensor, got {type(value).__name__}")
    return value if isinstance(value, Tensor) else Tensor(data)


def _floating_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy floating dtype; TypeError otherwise."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"to(): {dtype!r} is neither a device name ('cpu', 'gpu') nor a NumPy dtype") from error
    if resolved.kind != "f":
        raise TypeError(f"to(): modules convert to a floating dtype (float32, float64), got {resolved}")
    return resolved


def _device_or_dtype(target: Any) -> tuple[str, Any]:
    """Classify one positional argument of :meth:`Module.to`: ("device", name) or ("dtype", dtype)."""
    if isinstance(target, str):
        try:
            return "device", backend.normalize_device(target)
        except ValueError as not_a_device:
            try:
                np.dtype(target)
            except TypeError:
                raise ValueError(f"{not_a_device} (or a floating dtype such as 'float64')") from None
    return "dtype", _floating_dtype(target)


def _move_in_place(tensor: Tensor, device: str | None, dtype: np.dtype | None) -> None:
    """Replace ``tensor.data`` (and ``.grad``) by a copy on ``device`` and/or in ``dtype`` (floating arrays only)."""
    def convert(array: Any) -> Any:
        if device is not None and backend.device_of(array) != device:
            array = backend.to_device(array, device)
        if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
            array = array.astype(dtype)
        return array

    tensor.data = convert(tensor.data)
    if tensor.grad is not None:
        tensor.grad = convert(tensor.grad)
