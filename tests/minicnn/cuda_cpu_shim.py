"""Run minicnn's CUDA kernels on the CPU: compile their sources as C++ with g++ and call them through ctypes.

Why: the CUDA sources (:mod:`minicnn.functions._kernels_gpu_src`) only run where there is
a GPU, and NVRTC only checks that they compile. Their *arithmetic* (the index
unravelling, the window bounds, the gathers) can be checked anywhere: with a small
header (``cuda_cpu_shim.h``: ``__global__`` as nothing, ``blockIdx``/``threadIdx`` as
globals, a launch loop) each kernel is plain C++, and a host loop runs every thread of
the grid in turn.

How a launch is checked, beyond the results:

* the arguments must match the kernel's parameters one for one, with the *exact*
  scalar types (``np.int32`` for ``int``, ``np.int64`` for ``long long``, the element
  type for ``T``): a GPU reads a mistyped scalar as garbage, and the CPU would not notice;
* arrays must be C-contiguous and of the pointee's dtype (the kernels index flat memory);
* every array is copied into a buffer with guard bytes on both sides, checked after the
  launch, so a thread that writes out of bounds (a missing ``index >= total`` test) fails.

:func:`kernels_on_cpu` puts these kernels behind the real launchers of
:mod:`minicnn.functions._kernels_gpu` (and CuPy's few calls there behind NumPy), so a
test calls ``_kernels_gpu.im2col(x, win)`` with NumPy arrays and runs the CUDA code of
im2col, launched with the launcher's own grid and arguments.

Limits (raised, never ignored): kernels using ``__shared__`` or ``__syncthreads`` (threads
run one after another here, so a barrier cannot be honoured); none of minicnn's do.
"""
from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import subprocess
import types
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from minicnn import backend
from minicnn.functions import _kernels_gpu
from minicnn.functions import _kernels_gpu_src as src

HEADER = Path(__file__).with_name("cuda_cpu_shim.h")
GUARD_BYTES = 64
GUARD_BYTE = 0xA5
DTYPES = ("float32", "float64")

# C type of a parameter (without const and *) -> its NumPy dtype; "T" is the library's element type.
_C_DTYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64, "bool": np.bool_}
_C_SCALARS = {"float": ctypes.c_float, "double": ctypes.c_double, "int": ctypes.c_int, "long long": ctypes.c_longlong,
              "bool": ctypes.c_bool}
_ELEMENTWISE_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "bool": np.bool_}
_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\((.*?)\)\s*\{', re.S)


class ShimError(RuntimeError):
    """A kernel cannot run on the CPU shim, or a launch broke one of its rules."""


def gxx_path() -> str | None:
    """The g++ executable, or None where it is absent (the tests then skip)."""
    return shutil.which("g++")


class Param:
    """One kernel parameter: ``ctype`` without const/pointer ("T", "int", "long long", ...), and whether a pointer."""

    def __init__(self, text: str) -> None:
        words = text.replace("*", " * ").split()
        self.name, self.is_pointer, self.is_const = words[-1], "*" in words, "const" in words
        self.ctype = " ".join(w for w in words[:-1] if w not in ("const", "*"))

    def dtype(self, element: np.dtype) -> np.dtype:
        """The NumPy dtype of this parameter's values, with ``T`` as ``element``."""
        return np.dtype(element if self.ctype == "T" else _C_DTYPES[self.ctype])


def parse_kernels(source: str) -> dict[str, list[Param]]:
    """``{kernel name: parameters}`` of every ``extern "C" __global__`` function in ``source``.

    Raises:
        ShimError: the source uses ``__shared__`` or ``__syncthreads`` (see the module docstring).
    """
    for feature in ("__shared__", "__syncthreads"):
        if feature in source:
            raise ShimError(f"the CPU shim runs a block's threads one after another, so it cannot honour {feature}")
    return {name: [Param(p) for p in params.split(",") if p.strip()] for name, params in _SIGNATURE.findall(source)}


def launcher_source(name: str, params: list[Param]) -> str:
    """C++ of ``shim_<name>(grid xyz, block xyz, params...)``: runs kernel ``name`` over the grid."""
    declared = ", ".join(f"{'const ' if p.is_const else ''}{p.ctype}{'*' if p.is_pointer else ''} {p.name}"
                         for p in params)
    names = ", ".join(p.name for p in params)
    return (f'extern "C" void shim_{name}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, '
            f'unsigned bz, {declared})\n{{\n'
            f'    shim_launch(dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, [&] {{ {name}({names}); }});\n}}\n')


def _guarded_copy(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A byte buffer holding ``array``'s bytes between two guard zones, and the view of the array inside it."""
    buffer = np.full(array.nbytes + 2 * GUARD_BYTES, GUARD_BYTE, dtype=np.uint8)
    inner = buffer[GUARD_BYTES:GUARD_BYTES + array.nbytes].view(array.dtype).reshape(array.shape)
    inner[...] = array
    return buffer, inner


class CpuKernel:
    """One compiled kernel, called like a ``cupy.RawKernel``: ``kernel(grid, block, args)``."""

    def __init__(self, function: Any, name: str, params: list[Param], element: np.dtype) -> None:
        self.name, self.params, self.element = name, params, np.dtype(element)
        ctypes_scalars = dict(_C_SCALARS, T=_C_SCALARS["float" if self.element == np.float32 else "double"])
        function.argtypes = [ctypes.c_uint] * 6 + [ctypes.c_void_p if p.is_pointer else ctypes_scalars[p.ctype]
                                                   for p in params]
        function.restype = None
        self.function = function

    def _scalar(self, param: Param, value: Any) -> Any:
        """``value`` checked to have exactly the parameter's type (Python numbers as CuPy passes them)."""
        if isinstance(value, bool):
            value = np.bool_(value)
        elif isinstance(value, int):
            value = np.int64(value)  # CuPy passes a Python int as a 64-bit integer
        elif isinstance(value, float):
            value = np.float64(value)
        expected = param.dtype(self.element)
        if not isinstance(value, np.generic) or value.dtype != expected:
            got = value.dtype if isinstance(value, np.generic) else type(value).__name__
            raise ShimError(f"{self.name}: parameter {param.name} is {param.ctype} ({expected}) but got {got}")
        return value.item()

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple) -> None:
        if len(args) != len(self.params):
            raise ShimError(f"{self.name} takes {len(self.params)} arguments, the launch passed {len(args)}")
        values, copies = [], []
        for param, arg in zip(self.params, args):
            if not param.is_pointer:
                values.append(self._scalar(param, arg))
                continue
            expected = param.dtype(self.element)
            if not isinstance(arg, np.ndarray) or arg.dtype != expected or not arg.flags.c_contiguous:
                described = (f"{arg.dtype} contiguous={arg.flags.c_contiguous}" if isinstance(arg, np.ndarray)
                             else type(arg).__name__)
                raise ShimError(f"{self.name}: {param.name} must be a C-contiguous {expected} array, got {described}")
            buffer, inner = _guarded_copy(arg)
            copies.append((param, arg, buffer, inner))
            values.append(inner.ctypes.data)
        grid3, block3 = (tuple(grid) + (1, 1))[:3], (tuple(block) + (1, 1))[:3]
        self.function(*grid3, *block3, *values)
        for param, arg, buffer, inner in copies:
            head, tail = buffer[:GUARD_BYTES], buffer[GUARD_BYTES + arg.nbytes:]
            if np.any(head != GUARD_BYTE) or np.any(tail != GUARD_BYTE):
                raise ShimError(f"{self.name} wrote outside {param.name} (shape {arg.shape}): out-of-bounds threads")
            if not param.is_const:
                arg[...] = inner


class CpuKernelLibrary:
    """The kernels of one compiled shared library, all for one element type ``T``."""

    def __init__(self, path: Path, kernels: dict[str, list[Param]], element: np.dtype) -> None:
        self.path, self.element = path, np.dtype(element)
        self._library = ctypes.CDLL(str(path))
        self.kernels = {name: CpuKernel(getattr(self._library, f"shim_{name}"), name, params, element)
                        for name, params in kernels.items()}
        self.launched: set[str] = set()  # names of the kernels looked up so far, for tests that a path ran

    def kernel(self, name: str) -> CpuKernel:
        """The kernel ``name`` (KeyError naming the ones there are); its name joins ``launched``."""
        if name not in self.kernels:
            raise KeyError(f"no kernel {name!r} in {self.path.name}; it has {sorted(self.kernels)}")
        self.launched.add(name)
        return self.kernels[name]


def translation_unit(sources: list[str]) -> tuple[str, dict[str, list[Param]]]:
    """One C++ file holding the shim header, ``sources`` (each with its ``typedef ... T``) and a launcher per kernel."""
    kernels: dict[str, list[Param]] = {}
    parts = ['#include "cuda_cpu_shim.h"\n']
    for source in sources:
        found = parse_kernels(source)
        parts.append(source)
        parts.extend(launcher_source(name, params) for name, params in found.items())
        kernels.update(found)
    return "\n".join(parts), kernels


def start_build(sources: list[str], directory: Path, stem: str) -> tuple[subprocess.Popen, Path, dict]:
    """Start g++ on ``sources`` (returns at once, so two builds share the cores): (process, library path, kernels)."""
    code, kernels = translation_unit(sources)
    directory.mkdir(parents=True, exist_ok=True)
    cpp, library = directory / f"{stem}.cpp", directory / f"{stem}.so"
    cpp.write_text(code)
    command = [gxx_path() or "g++", "-std=c++17", "-O1", "-fno-fast-math", "-shared", "-fPIC", "-Wall",
               f"-I{HEADER.parent}", str(cpp), "-o", str(library)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), library, kernels


def finish_build(build: tuple[subprocess.Popen, Path, dict], element: Any) -> CpuKernelLibrary:
    """Wait for :func:`start_build`'s g++ and load the library; ShimError with the compiler's log on failure."""
    process, library, kernels = build
    log, _ = process.communicate()
    if process.returncode != 0:
        raise ShimError(f"g++ failed to compile {library.with_suffix('.cpp')}:\n{log}")
    return CpuKernelLibrary(library, kernels, element)


def minicnn_sources(dtype_name: str) -> list[str]:
    """Every raw kernel of minicnn, and every element-wise operation as the raw kernel of its compile check."""
    return ([src.kernel_source(name, dtype_name) for name in sorted(src.KERNEL_SOURCES)]
            + [src.elementwise_check_source(name, dtype_name) for name in sorted(src.ELEMENTWISE_SOURCES)])


def build_minicnn_kernels(directory: Path) -> dict[str, CpuKernelLibrary]:
    """Compile all of minicnn's kernels for float32 and float64 (two g++ runs side by side): ``{dtype: library}``."""
    builds = {name: start_build(minicnn_sources(name), directory, f"minicnn_kernels_{name}") for name in DTYPES}
    return {name: finish_build(build, name) for name, build in builds.items()}


class CpuElementwise:
    """A ``cupy.ElementwiseKernel`` stand-in: broadcasts its arguments and runs the operation's compile-check kernel.

    Called as CuPy's: the inputs, then optionally the outputs (written in place);
    returns the output, or a tuple of them. ``T`` is the dtype of the first array given for a ``T`` input.
    """

    def __init__(self, name: str, libraries: dict[str, CpuKernelLibrary]) -> None:
        self.name, self.libraries = name, libraries
        in_params, out_params, _ = src.ELEMENTWISE_SOURCES[name]
        self.inputs = [p.split() for p in in_params.split(",")]
        self.outputs = [p.split() for p in out_params.split(",")]

    def __call__(self, *args: Any) -> Any:
        n_in = len(self.inputs)
        if len(args) not in (n_in, n_in + len(self.outputs)):
            raise ShimError(f"{self.name} takes {n_in} inputs (and optionally {len(self.outputs)} outputs), "
                            f"got {len(args)}")
        typed = [a for (kind, _), a in zip(self.inputs, args) if kind == "T" and isinstance(a, np.ndarray)]
        if not typed:
            raise ShimError(f"{self.name}: no array argument fixes the element type T")
        element = typed[0].dtype
        shape = np.broadcast_shapes(*(np.shape(a) for a in args if isinstance(a, np.ndarray)))

        def dtype_of(kind: str) -> np.dtype:
            return element if kind == "T" else np.dtype(_ELEMENTWISE_DTYPES[kind])

        arrays = [np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype_of(kind)), shape))
                  for (kind, _), a in zip(self.inputs, args)]
        given = args[n_in:]
        outputs = []
        for i, (kind, var) in enumerate(self.outputs):
            if given:
                out = given[i]
                if out.shape != shape or out.dtype != dtype_of(kind):
                    raise ShimError(f"{self.name}: output {var} must be {dtype_of(kind)} of shape {shape}")
            else:
                out = np.empty(shape, dtype=dtype_of(kind))
            outputs.append(out)
        total = int(np.prod(shape))
        blocks = max((total + _kernels_gpu.THREADS_PER_BLOCK - 1) // _kernels_gpu.THREADS_PER_BLOCK, 1)
        kernel = self.libraries[element.name].kernel(self.name)
        kernel((blocks,), (_kernels_gpu.THREADS_PER_BLOCK,), (*arrays, *outputs, np.int64(total)))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def numpy_as_cupy(seed: int) -> types.SimpleNamespace:
    """What the launchers use of CuPy, from NumPy; ``random.random(shape, dtype)`` draws from ``default_rng(seed)``."""
    generator = np.random.default_rng(seed)
    names = ("ascontiguousarray", "empty", "empty_like", "broadcast_to", "int32", "int64", "float32", "float64")
    fake = types.SimpleNamespace(**{name: getattr(np, name) for name in names})
    fake.random = types.SimpleNamespace(random=lambda shape, dtype=np.float64: generator.random(shape, dtype=dtype))
    return fake


def _numpy_on_gpu(*arrays: Any) -> bool:
    """:func:`minicnn.backend.on_gpu` that also claims NumPy float32 and float64 arrays for the GPU side."""
    return any(isinstance(a, np.ndarray) and a.dtype.name in DTYPES for a in arrays)


@contextlib.contextmanager
def kernels_on_cpu(libraries: dict[str, CpuKernelLibrary], seed: int = 0,
                   claim_numpy_arrays: bool = False) -> Iterator[None]:
    """Inside the block, :mod:`minicnn.functions._kernels_gpu`'s launchers run the CPU-compiled kernels on NumPy arrays.

    Args:
        libraries: from :func:`build_minicnn_kernels`.
        seed: of the uniform draws that replace ``cupy.random.random`` (dropout).
        claim_numpy_arrays: also make :func:`minicnn.backend.on_gpu` (the one place ops choose
            their side) claim NumPy float arrays, so every op runs its ``forward_gpu`` /
            ``backward_gpu`` (and SGD its GPU update) on the CPU: the CUDA kernels behind the
            ops' own GPU code.
    """
    fake_cupy = numpy_as_cupy(seed)  # one generator for the whole block: successive draws differ
    replaced = {
        "_cupy": lambda: fake_cupy,
        "_raw_kernel": lambda name, dtype_name: libraries[dtype_name].kernel(name),
        "_elementwise": lambda name: CpuElementwise(name, libraries),
    }
    saved = {name: getattr(_kernels_gpu, name) for name in replaced}
    saved_on_gpu = backend.on_gpu
    try:
        for name, value in replaced.items():
            setattr(_kernels_gpu, name, value)
        if claim_numpy_arrays:
            backend.on_gpu = _numpy_on_gpu
        yield
    finally:
        backend.on_gpu = saved_on_gpu
        for name, value in saved.items():
            setattr(_kernels_gpu, name, value)
