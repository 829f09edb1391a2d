"""The autodiff core: :class:`Tensor`, :class:`Function` and reverse-mode ``backward``.

minicnn is *define-by-run*: every operation on Tensors runs at once and, when a
gradient is wanted, records the :class:`Function` that produced its result. The
recorded functions form a graph from the inputs to the loss; ``loss.backward()``
walks it in reverse topological order and calls each function's ``backward``
once, after every gradient flowing into its output has been summed. That order
is what makes a tensor used twice (``y = x * x``) receive the sum of both
contributions.

A Function sees only raw arrays (NumPy or CuPy), never Tensors: ``forward`` maps
input arrays to one output array and saves what ``backward`` needs on a
:class:`Context`; ``backward`` maps the output's gradient to one gradient per
input (``None`` for inputs that need none). :class:`Function` states the
convention that pairs an op's CPU and GPU code.

The graph keeps what backward needs and nothing more. A Function remembers its
inputs as *graph nodes*: a leaf tensor (a parameter, an input) itself, but a
tensor made by another Function only as its :class:`GraphNode` (shape, dtype and
creator, no data). So an intermediate activation lives only as long as the user
holds its Tensor or a Function saved its array for backward (as PyTorch's
"saved tensors"): the convolution output that only a ReLU read is freed once the
ReLU has run, which cuts a training step's peak memory.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Sequence

import numpy as np

from . import backend


class _GradMode(threading.local):
    """Whether operations record the graph, per thread (as in PyTorch): a flag shared
    by all threads would let two threads' ``no_grad`` blocks, interleaved, restore each
    other's saved value and leave graph recording off for good (which silently stopped
    data-parallel training, whose replicas use ``no_grad`` in their own threads)."""

    enabled: bool = True


_grad_mode = _GradMode()


@contextlib.contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Context manager that turns graph recording on or off in this thread, restoring it after."""
    previous = _grad_mode.enabled
    _grad_mode.enabled = bool(enabled)
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager that records no graph in this thread (for evaluation and parameter updates)."""
    return set_grad_enabled(False)


def is_grad_enabled() -> bool:
    """Whether operations in this thread currently record the graph (each thread starts with True)."""
    return _grad_mode.enabled


def _as_array(data: Any, dtype: Any = None):
    """Turn ``data`` into an array of the right module.

    Arrays (NumPy or CuPy) keep their dtype. Python numbers and lists become
    float32, the library's default, so that no float64 appears silently.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if hasattr(data, "dtype"):
        return xp.asarray(data)
    return np.asarray(data, dtype=np.float32)


class Tensor:
    """An array with an optional gradient and a link to the Function that made it.

    Args:
        data: array-like (NumPy or CuPy array, list, scalar). Python numbers and
            lists become float32; arrays keep their dtype.
        requires_grad: whether ``backward`` should fill ``.grad`` for this tensor.
    """

    __array_priority__ = 100  # so that ndarray * Tensor calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data = _as_array(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Function | None = None  # the Function that produced this tensor
        self._node: GraphNode | None = None  # what the graph keeps of it (set when _ctx is)

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def detach(self) -> "Tensor":
        """A tensor sharing the data but cut from the graph."""
        return Tensor(self.data)

    def to(self, device: str) -> "Tensor":
        """A copy on ``device`` ("cpu" or "gpu"), cut from the graph; self if already there.

        Raises:
            RuntimeError: ``"gpu"`` was asked for but CuPy or a CUDA device is missing
                (the message names ``pip install .[gpu]``).
        """
        device = backend.normalize_device(device)
        if device == "gpu":
            backend._require_cupy()
        if device == self.device:
            return self
        return Tensor(backend.to_device(self.data, device), requires_grad=self.requires_grad)

    def astype(self, dtype: Any) -> "Tensor":
        """Convert the dtype (differentiable)."""
        from .functions import arith

        return arith.astype(self, dtype)

    def zero_grad(self) -> None:
        self.grad = None

    # --------------------------------------------------------------- backward
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor, accumulating ``.grad`` on every leaf that requires it.

        Args:
            grad: the gradient of some scalar with respect to this tensor. May be
                omitted only when the tensor holds one element (a loss); it then
                defaults to 1.
            retain_graph: keep what each Function saved, so that backward can run
                through this graph again (as in PyTorch). By default each Function's
                saved arrays are freed as soon as its backward has run.
        """
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar (one-element) tensor, "
                    f"but this tensor has shape {self.shape}; pass grad= of that shape"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = _as_array(grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape}, expected {self.shape}")

        order = _topological_order(self)
        grads: dict[int, Any] = {id(order[-1]): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            fn = node._ctx
            if fn is None:  # a leaf Tensor
                if node.requires_grad:
                    node.grad = g if node.grad is None else node.grad + g
                continue
            if fn.released:
                raise RuntimeError(
                    f"backward through {type(fn).__name__} a second time: the arrays it saved for "
                    f"backward were freed after the first backward; run the forward pass again "
                    f"or pass retain_graph=True to the first backward"
                )
            input_grads = fn.backward(fn.ctx, g)
            if not retain_graph:
                fn.release()  # its saved arrays are no longer needed: free them now, not after the whole pass
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(fn.inputs):
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned {len(input_grads)} gradients "
                    f"for {len(fn.inputs)} inputs"
                )
            for inp, ig in zip(fn.inputs, input_grads):
                if ig is None or not inp.requires_grad:
                    continue
                if tuple(ig.shape) != tuple(inp.shape):
                    raise RuntimeError(
                        f"{type(fn).__name__}.backward gave a gradient of shape {ig.shape} "
                        f"for an input of shape {inp.shape}"
                    )
                key = id(inp)
                grads[key] = ig if key not in grads else grads[key] + ig

    # -------------------------------------------------------------- operators
    def __add__(self, other: Any) -> "Tensor":
        return _arith().add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return _arith().add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return _arith().sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return _arith().sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return _arith().mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return _arith().mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return _arith().div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _arith().div(other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _arith().matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _arith().matmul(other, self)

    def __pow__(self, exponent: float) -> "Tensor":
        return _arith().power(self, exponent)

    def __neg__(self) -> "Tensor":
        return _arith().neg(self)

    def __getitem__(self, index: Any) -> "Tensor":
        return _arith().getitem(self, index)

    # --------------------------------------------------------------- methods
    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _arith().reshape(self, shape)

    def view(self, *shape: Any) -> "Tensor":
        """The same data seen with another shape (one ``-1`` stands for the rest), differentiable, as PyTorch's.

        Unlike :meth:`reshape`, which copies when it must, the result always shares
        this tensor's memory (writing one writes the other); when the layout does not
        allow that (a transposed tensor, say) it raises instead of copying.

        Raises:
            RuntimeError: the new shape cannot be a view of this tensor's memory.
        """
        out = self.reshape(*shape)
        xp = backend.get_array_module(self.data)
        if out.data.size and not xp.may_share_memory(out.data, self.data):  # reshape had to copy
            raise RuntimeError(
                f"view: shape {out.shape} is not compatible with the memory layout of this tensor of shape "
                f"{self.shape} (strides {self.data.strides}); use .reshape(), which copies"
            )
        return out

    def transpose(self, *axes: int) -> "Tensor":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _arith().transpose(self, axes or None)

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _arith().sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _arith().mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _arith().max(self, axis, keepdims)

    def exp(self) -> "Tensor":
        return _arith().exp(self)

    def log(self) -> "Tensor":
        return _arith().log(self)


def _arith():
    from .functions import arith  # late import: arith needs Function from this module

    return arith


class GraphNode:
    """What the graph keeps of a tensor that a Function made: its creator, shape and dtype, not its data.

    Functions list their inputs as graph nodes (see the module docstring), so
    ``fn.inputs[i]`` is a leaf :class:`Tensor` or a GraphNode; both answer
    ``_ctx``, ``shape``, ``dtype`` and ``requires_grad``.
    """

    __slots__ = ("_ctx", "shape", "dtype", "requires_grad")

    def __init__(self, ctx: "Function", shape: tuple[int, ...], dtype: Any) -> None:
        self._ctx, self.shape, self.dtype, self.requires_grad = ctx, tuple(shape), dtype, True

    def __repr__(self) -> str:
        return f"GraphNode(shape={self.shape}, made by {type(self._ctx).__name__})"


def graph_node(tensor: Tensor) -> "Tensor | GraphNode":
    """The node standing for ``tensor`` in the graph: its GraphNode if a Function made it, else itself."""
    return tensor._node if tensor._node is not None else tensor


def _topological_order(root: Tensor) -> list["Tensor | GraphNode"]:
    """Graph nodes reachable from ``root`` through recorded Functions, inputs before outputs.

    Leaf Tensors and the GraphNodes of computed tensors; ``root``'s own node is last.
    Iterative depth-first search, so deep graphs do not hit Python's recursion limit.
    """
    order: list[Tensor | GraphNode] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor | GraphNode, bool]] = [(graph_node(root), False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for inp in node._ctx.inputs:
                if id(inp) not in visited:
                    stack.append((inp, False))
    return order


class Context:
    """What one call of a Function keeps for its backward (PyTorch's and MiniTorch's ``ctx``).

    :meth:`Function.apply_to` makes one per call and hands it to ``forward`` and,
    later, to ``backward``, so neither reads state set behind its back:

    * ``needs_input_grad[i]``: whether input ``i`` will receive a gradient (graph
      recording is on and the input requires one). Forward uses it to skip saving
      what no backward will read (inference), backward to skip unwanted gradients.
    * :meth:`save_for_backward` keeps the arrays backward needs; they come back as
      ``saved_tensors``, in the order given. Small facts that are not arrays (an
      input's shape, a window's geometry) may be set as attributes: ``ctx.win = win``.

    The Function's constructor settings (stride, axis, ...) stay on the Function;
    :meth:`Function.release` drops the Context, and with it every saved array.
    """

    def __init__(self, needs_input_grad: Sequence[bool]) -> None:
        self.needs_input_grad: tuple[bool, ...] = tuple(bool(n) for n in needs_input_grad)
        self.saved_tensors: tuple[Any, ...] = ()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` (NumPy or CuPy, or None) for backward; read them back from ``saved_tensors``."""
        self.saved_tensors = arrays


class Function:
    """One differentiable operation: its settings, ``forward`` and ``backward``.

    Non-tensor settings (stride, axis, ...) go to the constructor and stay on
    ``self``; what one call computes for backward goes on the :class:`Context`
    passed to both methods. Use :meth:`apply` or :meth:`apply_to` to run it::

        y = ReLU.apply(x)                       # x: Tensor
        y = Conv2d(stride=2).apply_to(x, w, b)

    **The pairing convention.** A Function defines either

    * ``forward(ctx, *arrays) -> array`` and ``backward(ctx, grad_output) -> grads``
      when its maths is the same array code on NumPy and CuPy (*xp-generic*: it
      asks :func:`~minicnn.backend.get_array_module` for ``xp``); or
    * ``forward_cpu`` / ``forward_gpu`` and ``backward_cpu`` / ``backward_gpu``, with
      those same signatures, when it has its own kernels (Numba on the CPU, CUDA on
      the GPU). The two sides take the same arguments, save the same state on
      ``ctx`` and handle the same special cases, so a reader compares them in one
      place. The base :meth:`forward` and :meth:`backward` below choose the side
      by :func:`~minicnn.backend.on_gpu` of the arrays: the one place minicnn decides.

    ``backward`` returns one gradient per input (a tuple when there are several),
    ``None`` where ``ctx.needs_input_grad`` is False.
    """

    inputs: tuple["Tensor | GraphNode", ...] = ()  # the graph edges, set by apply_to after forward
    ctx: Context | None = None  # what forward saved, until backward has used it
    released = False  # True once backward ran and the Context was dropped

    def forward(self, ctx: Context, *xs: Any) -> Any:
        """Output array of the input arrays ``xs``: ``forward_gpu`` for CuPy arrays, else ``forward_cpu``."""
        return self.forward_gpu(ctx, *xs) if backend.on_gpu(*xs) else self.forward_cpu(ctx, *xs)

    def backward(self, ctx: Context, grad_output: Any) -> Any:
        """Input gradients from the output's: ``backward_gpu`` for a CuPy gradient, else ``backward_cpu``."""
        return self.backward_gpu(ctx, grad_output) if backend.on_gpu(grad_output) else self.backward_cpu(ctx, grad_output)

    def forward_cpu(self, ctx: Context, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines neither forward nor forward_cpu")

    def forward_gpu(self, ctx: Context, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines neither forward nor forward_gpu")

    def backward_cpu(self, ctx: Context, grad_output: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines neither backward nor backward_cpu")

    def backward_gpu(self, ctx: Context, grad_output: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines neither backward nor backward_gpu")

    def release(self) -> None:
        """Drop the Context, and with it every array forward saved (the settings and ``inputs`` stay).

        ``Tensor.backward`` calls it right after this Function's ``backward``, so the
        arrays of layers already differentiated are freed while the pass goes on.
        """
        self.ctx, self.released = None, True

    @classmethod
    def apply(cls, *inputs: Any, **settings: Any) -> Tensor:
        """Construct the function with ``settings`` and run it on ``inputs``."""
        return cls(**settings).apply_to(*inputs)

    def apply_to(self, *inputs: Any) -> Tensor:
        """Run this function on ``inputs`` (Tensors, arrays or scalars) and record it in the graph if needed.

        Raises:
            RuntimeError: this instance is already a node of a graph (make one Function per call).
        """
        if self.ctx is not None or self.released:
            raise RuntimeError(f"this {type(self).__name__} was already applied and recorded in a graph: "
                               f"make a new one for each call")
        tensors = tuple(x if isinstance(x, Tensor) else Tensor(_as_constant(x, inputs)) for x in inputs)
        recording = _grad_mode.enabled
        ctx = Context([recording and t.requires_grad for t in tensors])
        out = Tensor(self.forward(ctx, *(t.data for t in tensors)))
        if any(ctx.needs_input_grad):
            out.requires_grad = True
            out._ctx = self
            out._node = GraphNode(self, out.data.shape, out.data.dtype)
            self.inputs = tuple(graph_node(t) for t in tensors)  # no strong reference to computed data
            self.ctx = ctx
        return out


def _as_constant(value: Any, inputs: Sequence[Any]):
    """Convert a non-Tensor operand to an array matching the tensors' module and float dtype."""
    ref = next((x for x in inputs if isinstance(x, Tensor)), None)
    if ref is None:
        return _as_array(value)
    xp = backend.get_array_module(ref.data)
    if isinstance(value, (int, float)) and ref.data.dtype.kind == "f":
        return xp.asarray(value, dtype=ref.data.dtype)
    arr = xp.asarray(value)
    if arr.dtype.kind in "biu" and ref.data.dtype.kind == "f":
        arr = arr.astype(ref.data.dtype)
    return arr


def as_tensor(x: Any) -> Tensor:
    """Return ``x`` if it is a Tensor, else wrap it (no gradient)."""
    return x if isinstance(x, Tensor) else Tensor(x)
