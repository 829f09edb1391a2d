"""Model files: ``.npz`` archives of named arrays, written atomically, read without pickle.

Atomic: the archive is written to a temporary file in the same folder, flushed to
disk, then renamed over the target, so a crash never leaves a half-written model
under the final name. Read with ``allow_pickle=False``, so loading a file from
elsewhere cannot run code.

Reading checks before allocating: each array's header (dtype, shape) is read first and
the array refused unless its bytes fit in the archive member that holds it and the whole
file stays under a budget (:data:`MAX_LOAD_BYTES`), so a damaged or hostile file whose
header declares a huge shape fails with a ValueError naming the file instead of
allocating gigabytes. Every way a file can be unreadable (not a zip, truncated, a
corrupt member, an object array) is one :class:`ModelFileError`, a ValueError.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import backend


def save_arrays(arrays: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write named arrays (NumPy or CuPy; always stored as host arrays) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = {name: backend.to_numpy(value) for name, value in arrays.items()}
    for name, value in host.items():
        if value.dtype == object:
            raise TypeError(f"save: {name!r} is an object array; only numeric arrays can be saved without pickle")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **host)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


#: The most bytes of arrays :func:`load_arrays` reads from one file unless told otherwise (4 GiB).
MAX_LOAD_BYTES = 4 << 30
#: The most arrays one file may hold (a model has a few hundred).
MAX_ARRAYS = 100_000


class ModelFileError(ValueError):
    """An ``.npz`` file cannot be read as named arrays (damaged, truncated, hostile or not an archive)."""


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an ``.npy`` member declares, read from its header alone."""
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    return np.dtype(dtype), tuple(int(n) for n in shape)


def load_arrays(path: str | os.PathLike, max_bytes: int = MAX_LOAD_BYTES) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file (no pickle), checking each header before allocating.

    Raises:
        FileNotFoundError: no file at ``path``.
        ModelFileError: the file is not a readable archive of numeric arrays, or its arrays
            would take more than ``max_bytes`` (the message names the file and the array).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        on_disk = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARRAYS:
                raise ModelFileError(f"{path}: {len(members):,} arrays, more than the {MAX_ARRAYS:,} allowed")
            total = 0
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise ModelFileError(f"{path}: member {info.filename!r} is not an array (.npy)")
                stored = info.compress_type == zipfile.ZIP_STORED
                if info.compress_size > on_disk or info.file_size > (info.compress_size if stored
                                                                     else 1100 * info.compress_size):
                    raise ModelFileError(f"{path}: member {info.filename!r} declares {info.file_size:,} bytes, "
                                         f"more than the file can hold (the archive is damaged)")
                dtype, shape = _member_header(archive, info)
                if dtype.hasobject:
                    raise ModelFileError(f"{path}: {info.filename[:-4]!r} is an object array, which only pickle "
                                         "reads (refused: allow_pickle=False)")
                count = int(np.prod(shape, dtype=object)) if shape else 1
                size = count * dtype.itemsize
                if size > info.file_size:
                    raise ModelFileError(f"{path}: {info.filename[:-4]!r} declares {shape} {dtype} ({size:,} bytes) "
                                         f"but its member holds {info.file_size:,} bytes")
                total += size
                if total > max_bytes:
                    raise ModelFileError(f"{path}: its arrays take more than {max_bytes:,} bytes")
        with np.load(path, allow_pickle=False) as loaded:
            return {name: loaded[name] for name in loaded.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, KeyError, TypeError,
            OverflowError, NotImplementedError, UnicodeDecodeError, SyntaxError) as error:
        raise ModelFileError(f"{path} is not a readable .npz archive of arrays: "
                             f"{' '.join((str(error) or type(error).__name__).split())[:300]}") from None
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ModelFileError(f"{path} cannot be read: {error.strerror or error}") from None


def save(module: Any, path: str | os.PathLike) -> Path:
    """Save a Module's ``state_dict()`` (parameters and buffers) or a mapping of arrays to ``path`` as ``.npz``."""
    state = module.state_dict() if hasattr(module, "state_dict") else module
    return save_arrays(state, path)


def load(path: str | os.PathLike, model: Any = None, strict: bool = True) -> Any:
    """Read a state saved by :func:`save`; with ``model``, load it into the model and return the model.

    Without ``model`` the state comes back as a dict of NumPy arrays by name (for
    ``model.load_state_dict(state)`` later, or to inspect). With it, the model's
    ``load_state_dict`` copies every array to its parameter's or buffer's device and
    dtype, so ``model = minicnn.load("m.npz", Net())`` reads like PyTorch's
    ``net.load_state_dict(torch.load("m.pt"))``. Never unpickles (``allow_pickle=False``).

    Args:
        path: the ``.npz`` file.
        model: a Module (anything with ``load_state_dict``), or None.
        strict: names must match exactly (shapes always must).

    Raises:
        FileNotFoundError: no file at ``path``.
        KeyError: ``strict`` and the file's names differ from the model's (both lists named).
        ValueError: an array's shape differs from the model's, or the file holds pickled objects.
    """
    state = load_arrays(path)
    if model is None:
        return state
    try:
        model.load_state_dict(state, strict=strict)
    except KeyError as error:
        raise KeyError(f"{path}: {error.args[0] if error.args else error}") from error
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return model
