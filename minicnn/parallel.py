"""Data parallelism on the CPU: each thread trains on its slice of the batch with its own model replica.

Why: in a training step most of minicnn's time is matrix products, and OpenBLAS
spreads each one over the cores, but the products of one image at a time are small
enough that a second core adds little; the Numba kernels (im2col, pooling) and
NumPy's element-wise operations use one core. Measured on 2 cores, a plain step keeps
about 1.2 of them busy. Splitting the batch instead (thread ``k`` runs forward and
backward on its slice, every product on one core) keeps them all busy: NumPy,
OpenBLAS and the Numba kernels (compiled ``nogil``) release Python's lock while they
compute, and the graph bookkeeping in Python is small next to a 128x128 convolution.

Each thread has its own *replica* of the modules: the same Python structure and the
same weight arrays (no copy), but its own Parameter objects, so the gradients of the
slices never race; :meth:`DataParallel.run` adds them into the original parameters
afterwards. Weighting each slice's mean loss by its share of the batch makes the sum
equal to the gradient of the whole batch's mean loss (up to float rounding).

Evaluation uses the same replicas (:meth:`DataParallel.map`): each thread runs the
forward pass on its slice, and nothing is summed.

Batch normalisation: each slice is normalised with its own statistics (as PyTorch's
``DataParallel`` does; not a synchronised batch norm), but the running statistics
follow the *whole* batch: during a pass every replica's batch-norm layers hand their
slice's mean, variance and count to a list instead of updating anything, and
afterwards the originals pool them (weighted by the slices' sizes) and move their
running statistics once, as one forward pass over the whole batch would.

Dropout: each replica draws from its own generator, seeded from the original
module's generator at every call, so a run stays reproducible for a given number of
threads (a different thread count gives different masks).
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from .nn.batchnorm import _BatchNorm
from .nn.module import Module
from .tensor import is_grad_enabled, set_grad_enabled

T = TypeVar("T")

_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas() -> tuple[Any, Any] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy loaded, or None (another BLAS)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:  # not Linux
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _BLAS_SETTERS if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _BLAS_GETTERS if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            return setter, getter
    return None


_BLAS: tuple[Any, Any] | None | bool = False  # False: not looked up yet


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[bool]:
    """Limit OpenBLAS (NumPy's matrix products) to ``count`` threads inside the block.

    Yields whether the limit could be set: False where NumPy uses another BLAS, which
    then keeps its own threads (correct, only slower when threads oversubscribe).
    """
    global _BLAS
    if _BLAS is False:
        _BLAS = _openblas()
    if _BLAS is None:
        yield False
        return
    setter, getter = _BLAS
    before = getter()
    setter(int(count))
    try:
        yield True
    finally:
        setter(before)


def batch_slices(n: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering ``range(n)``, sizes differing by at most one (empty ones dropped)."""
    if n < 1 or parts < 1:
        raise ValueError(f"batch_slices needs n >= 1 and parts >= 1, got n={n}, parts={parts}")
    bounds = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _unshared_gradients(params: Sequence[Any]) -> set[int]:
    """Ids of the parameters whose gradient array shares memory with no other parameter's gradient.

    Backward may hand one array to two leaves (``a + b`` passes the same gradient to
    both), so a gradient is only added to in place when it is provably its own.
    """
    grads = [(id(p), p.grad) for p in params if isinstance(p.grad, np.ndarray)]
    private = set()
    for i, (key, grad) in enumerate(grads):
        if not any(np.may_share_memory(grad, other) for j, (_, other) in enumerate(grads) if j != i):
            private.add(key)
    return private


class DataParallel:
    """Run a forward + backward on slices of a batch in ``threads`` threads, one replica of ``modules`` each.

    Args:
        modules: the modules whose parameters get gradients (e.g. the network and a
            task weighting with trainable weights), all on the CPU.
        threads: number of slices and threads (>= 1); 1 runs in the caller's thread.

    Use :meth:`run` with a function ``work(replicas, part, share)`` that runs the
    forward pass of ``replicas`` (the modules, in the order given) on the rows
    ``part`` of the batch, calls ``backward`` on its loss times ``share`` (the
    slice's fraction of the batch), and returns whatever the caller needs.
    """

    def __init__(self, modules: Sequence[Module], threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.modules = list(modules)
        for module in self.modules:
            if module.device != "cpu":
                raise ValueError("DataParallel runs on the CPU; on the GPU one process already uses the whole device")
        self.threads = threads
        self.replicas = [self.modules] + [self._replicate() for _ in range(threads - 1)]
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="minicnn-dp") if threads > 1 else None

    def _replicate(self) -> list[Module]:
        """Deep copies of the modules whose parameters share the originals' arrays."""
        memo: dict[int, Any] = {}
        for module in self.modules:
            for p in module.parameters():
                memo[id(p.data)] = p.data
        return copy.deepcopy(self.modules, memo)

    def _sync(self, reseed_dropout: bool = True) -> None:
        """Point every replica at the originals' current weight and buffer arrays and mode (and reseed its dropout).

        Sharing the buffers (batch norm's running statistics) is safe: during a pass the
        replicas' batch norms only read them (:meth:`_pooled_batch_stats`).
        """
        for k, replica in enumerate(self.replicas[1:], start=1):
            for original, copy_ in zip(self.modules, replica):
                for p, q in zip(original.parameters(), copy_.parameters()):
                    q.data, q.grad = p.data, None
                for b, c in zip(original.buffers(), copy_.buffers()):
                    if b is not None and c is not None:
                        c.data = b.data
                for m, r in zip(original.modules(), copy_.modules()):
                    r.training = m.training
                    rng = getattr(m, "rng", None)
                    if reseed_dropout and isinstance(rng, np.random.Generator):
                        r.rng = np.random.default_rng(rng.integers(2**63))

    def _in_threads(self, call: Callable[[list[Module], slice, float], T], slices: list[slice], n: int) -> list[T]:
        """``call(replicas[k], slices[k], share)`` for every slice, the first in this thread, in slice order.

        Each pool thread takes the caller's grad mode (it is per thread), one BLAS
        thread and the serial Numba kernels: the slices already share the cores.
        """
        from .functions import _kernels_cpu

        grad_mode = is_grad_enabled()

        def in_caller_mode(replicas: list[Module], part: slice, share: float) -> T:
            with set_grad_enabled(grad_mode):
                return call(replicas, part, share)

        if self._pool is None:
            raise RuntimeError("this DataParallel was closed")
        with blas_threads(1), _kernels_cpu.serial_only():
            futures = [self._pool.submit(in_caller_mode, self.replicas[k], s, (s.stop - s.start) / n)
                       for k, s in enumerate(slices[1:], start=1)]
            first = call(self.replicas[0], slices[0], (slices[0].stop - slices[0].start) / n)
            return [first] + [f.result() for f in futures]

    @contextlib.contextmanager
    def _pooled_batch_stats(self, count: int) -> Iterator[None]:
        """Inside the block the first ``count`` replicas' batch norms collect their slices' statistics.

        On a normal exit the originals' running statistics move once towards the pooled
        statistics of all slices (:meth:`minicnn.nn.batchnorm._BatchNorm.track_batch_stats`).
        """
        layers = [[m for module in replica for m in module.modules() if isinstance(m, _BatchNorm)]
                  for replica in self.replicas[:count]]
        if not layers[0]:
            yield
            return
        sinks: list[list[list[Any]]] = [[[] for _ in layers[0]] for _ in layers]
        for replica_layers, replica_sinks in zip(layers, sinks):
            for layer, sink in zip(replica_layers, replica_sinks):
                layer.batch_stats_sink = sink
        try:
            yield
        finally:
            for replica_layers in layers:
                for layer in replica_layers:
                    layer.batch_stats_sink = None
        for j, original in enumerate(layers[0]):
            original.track_batch_stats([part for replica_sinks in sinks for part in replica_sinks[j]])

    def run(self, work: Callable[[list[Module], slice, float], T], n: int) -> list[T]:
        """Call ``work`` on each slice of ``range(n)`` in its own thread; gradients end summed on the originals.

        Returns the results of ``work``, in slice order. Exceptions in a thread are
        raised here (the originals' gradients are then left as they were).
        """
        slices = batch_slices(n, self.threads)
        self._sync()
        if self._pool is None or len(slices) == 1:  # one slice: the whole batch, in this thread
            return [work(self.replicas[0], slices[0], 1.0)]
        with self._pooled_batch_stats(len(slices)):
            results = self._in_threads(work, slices, n)
        originals = [p for module in self.modules for p in module.parameters()]
        private = _unshared_gradients(originals)
        for replica in self.replicas[1:len(slices)]:
            copies = [q for module in replica for q in module.parameters()]
            for p, q in zip(originals, copies):
                if q.grad is None:
                    continue
                if p.grad is None:
                    p.grad = q.grad
                elif id(p) in private:
                    np.add(p.grad, q.grad, out=p.grad)  # in place: no third gradient-sized array
                else:
                    p.grad = p.grad + q.grad
                q.grad = None
        return results

    def map(self, work: Callable[[list[Module], slice], T], n: int) -> list[T]:
        """Call ``work(replicas, part)`` on each slice of ``range(n)`` in its own thread, for forward-only work.

        For evaluation: the replicas take the originals' weights, buffers (batch norm's
        running statistics) and mode, but no gradient is gathered and no dropout
        generator is drawn from (so evaluating leaves the training's random streams as
        they were). In training mode the running statistics move once, towards the whole
        batch's. Returns the results in slice order.
        """
        slices = batch_slices(n, self.threads)
        self._sync(reseed_dropout=False)
        if self._pool is None or len(slices) == 1:
            return [work(self.replicas[0], slices[0])]
        with self._pooled_batch_stats(len(slices)):  # a training-mode forward still counts the whole batch once
            return self._in_threads(lambda replicas, part, _share: work(replicas, part), slices, n)

    def close(self) -> None:
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

