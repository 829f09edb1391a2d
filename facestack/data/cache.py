"""The preprocessed-image cache: uint8 arrays on disk, built once, memory-mapped after.

Layout (one folder per source + settings)::

    CACHE_DIR/<source>-<key16>/
        images.npy    uint8 (N, C, H, W): the layout minicnn's conv consumes
        labels.npz    age, gender, race, identity, paths, source_row (row in the FaceDataset)
        report.json   the reader's report, the bad files and why, build time
        meta.json     key, settings, source, counts
        split-*.npz   saved train/validation/test splits (see split.py)

The key hashes the source's identity (root, file list with sizes and mtimes,
labels) and every preprocessing setting, so a changed setting or a changed
folder gives another folder. A build writes into ``.partial-<...>-<pid>`` and
renames it into place only when complete: an interrupted build never leaves a
folder that looks complete. Files that cannot be decoded (empty, truncated,
not an image) are skipped, counted and listed; the build never stops for one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minicnn.progress import ProgressArg, make_progress
from .dataset import FaceDataset
from .labels import AgeBinsArg, age_bins, count_by_bin_and_gender
from .preprocess import PreprocessSettings, load_face_image
from .validate import check_number, read_json_object
from minicnn.serialization import load_arrays

CACHE_FORMAT_VERSION = 1
CHUNK_ROWS = 128
ENV_CACHE_DIR = "FACESTACK_CACHE"


def default_cache_dir() -> Path:
    """``$FACESTACK_CACHE``, else ``~/.cache/facestack``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env) if env else Path.home() / ".cache" / "facestack"


def cache_key(dataset: FaceDataset, settings: PreprocessSettings) -> str:
    """SHA-256 hex of the source identity, the settings and the cache format version."""
    payload = json.dumps(
        {"format": CACHE_FORMAT_VERSION, "source": dataset.fingerprint(), "settings": settings.to_dict()},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class FaceCache:
    """A built cache: memory-mapped images and their labels.

    Attributes:
        directory: the cache folder.
        images: uint8 (N, C, H, W), memory-mapped read-only (or in memory).
        age, gender, race, identity: (N,) canonical labels (see labels.py).
        paths: (N,) image paths relative to the source root.
        source_row: (N,) row of each image in the FaceDataset it was built from.
        meta: key, settings, source and counts (meta.json).
        report: the reader's report and the bad files (report.json).
    """

    directory: Path
    images: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    race: np.ndarray
    identity: np.ndarray
    paths: np.ndarray
    source_row: np.ndarray
    meta: dict[str, Any]
    report: dict[str, Any]

    def __len__(self) -> int:
        return len(self.age)

    def age_bin(self, bins: AgeBinsArg = "paper") -> np.ndarray:
        """(N,) int64 bin of each image, -1 outside every bin."""
        return age_bins(bins).assign(self.age)

    def counts(self, bins: AgeBinsArg = "paper") -> np.ndarray:
        """(K + 1, 2) counts per age bin (last row: outside) and gender (male, female)."""
        return count_by_bin_and_gender(self.age, self.gender, bins)

    def labels(self, bins: AgeBinsArg = "paper") -> dict[str, np.ndarray]:
        """The label arrays by name, with ``age_bin`` for ``bins``; ready for the loader."""
        return {
            "age": self.age,
            "age_bin": self.age_bin(bins),
            "gender": self.gender,
            "race": self.race,
            "identity": self.identity,
        }


def open_cache(directory: str | os.PathLike, in_memory: bool = False) -> FaceCache:
    """Open a complete cache folder.

    Args:
        directory: a folder written by :func:`build_cache`.
        in_memory: read the images into RAM instead of memory-mapping them.
    Raises:
        FileNotFoundError: the folder is missing or incomplete (no meta.json).
        CacheError: a file of the folder is damaged or disagrees with meta.json (its count
            and shape are checked before the images are mapped).
    """
    directory = Path(directory)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"no complete cache at {directory} (meta.json missing)")
    try:
        meta = read_json_object(meta_path)
        count = check_number(meta.get("count"), "count", integer=True, minimum=0, source=str(meta_path))
        shape = meta.get("shape")
        if (not isinstance(shape, list) or len(shape) != 4 or shape[0] != count
                or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 4096 for n in shape[1:])):
            raise ValueError(f"{meta_path}: shape must be [count, C, H, W] with C, H, W in 1..4096, got {shape!r}")
        report = read_json_object(directory / "report.json")
        images = np.load(directory / "images.npy", mmap_mode=None if in_memory else "r", allow_pickle=False)
        if images.dtype != np.uint8 or list(images.shape) != shape:
            raise ValueError(f"{directory / 'images.npy'} holds {images.dtype} {images.shape}, meta.json says "
                             f"uint8 {tuple(shape)}")
        labels = load_arrays(directory / "labels.npz")
        missing = {"age", "gender", "race", "identity", "paths", "source_row"} - set(labels)
        if missing or any(len(v) != count for v in labels.values()):
            raise ValueError(f"{directory / 'labels.npz'}: expected {count} rows of age, gender, race, identity, "
                             f"paths and source_row{'; missing ' + ', '.join(sorted(missing)) if missing else ''}")
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError) and error.filename is None:
            raise
        raise CacheError(f"the cache at {directory} is damaged: {error}; delete the folder (or build with "
                         "--rebuild) to build it again") from None
    return FaceCache(directory, images, meta=meta, report=report, **labels)


class CacheError(ValueError):
    """A cache folder exists but cannot be used as it is (damaged, or its files disagree)."""


def _decode_rows(
    images_path: str, jobs: list[tuple[int, str, Any]], settings: PreprocessSettings
) -> list[tuple[int, str]]:
    """Decode ``jobs`` = [(row, path, box)] into rows of the .npy at ``images_path``.

    Runs in a worker. Returns ``(row, reason)`` for each file that failed.
    """
    images = np.load(images_path, mmap_mode="r+")
    failures = []
    for row, path, box in jobs:
        try:
            if os.path.getsize(path) == 0:
                raise ValueError("empty file (0 bytes)")
            images[row] = load_face_image(path, settings, None if box is None else np.asarray(box))
        except Exception as error:  # one bad file must never stop the build
            failures.append((row, f"{type(error).__name__}: {error}"))
    images.flush()
    del images
    return failures


def _make_executor(kind: str, workers: int) -> Executor | None:
    if kind == "serial" or workers <= 1:
        return None
    if kind == "process":
        return ProcessPoolExecutor(workers)
    if kind == "thread":
        return ThreadPoolExecutor(workers)
    raise ValueError(f"executor must be 'process', 'thread' or 'serial', got {kind!r}")


def _compact(images_path: Path, good_rows: np.ndarray) -> None:
    """Rewrite ``images_path`` keeping only ``good_rows`` (the bad rows are holes)."""
    source = np.load(images_path, mmap_mode="r")
    compact_path = images_path.with_name("images.compact.npy")
    shape = (len(good_rows), *source.shape[1:])
    target = np.lib.format.open_memmap(compact_path, mode="w+", dtype=np.uint8, shape=shape)
    for start in range(0, len(good_rows), 4096):
        target[start : start + 4096] = source[good_rows[start : start + 4096]]
    target.flush()
    del target, source
    os.replace(compact_path, images_path)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True))


def _remove_stale_partials(cache_dir: Path, stem: str) -> None:
    """Delete ``.partial-<stem>-<pid>`` folders whose building process is gone."""
    for partial in cache_dir.glob(f".partial-{stem}-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


def build_cache(
    dataset: FaceDataset,
    settings: PreprocessSettings = PreprocessSettings(),
    cache_dir: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    executor: str = "process",
    rebuild: bool = False,
    in_memory: bool = False,
    progress: ProgressArg = False,
) -> FaceCache:
    """Preprocess every image of ``dataset`` once into a cache, or open the existing one.

    Args:
        dataset: paths and labels (from a reader).
        settings: size, colour, crop, resampling; part of the key.
        cache_dir: where caches live (default :func:`default_cache_dir`).
        workers: parallel decoders (default: the number of CPUs).
        executor: ``"process"``, ``"thread"`` or ``"serial"``. Processes are the default:
            Pillow holds the GIL for part of each decode, and on a 2-core machine the
            UTKFace build took about half as long with 2 processes as with 2 threads.
        rebuild: build again even when a complete cache with this key exists.
        in_memory: return images read into RAM instead of memory-mapped.
        progress: True for a bar on stderr, or a ``(done, total)`` callback.
    Returns:
        The :class:`FaceCache`; ``cache.report["bad_files"]`` lists skipped files.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(dataset, settings)
    stem = f"{dataset.source}-{key[:16]}"
    final = cache_dir / stem
    if (final / "meta.json").is_file() and not rebuild:
        try:
            return open_cache(final, in_memory)
        except CacheError:
            pass  # damaged (a disk error, an edit): the cache is ours to rebuild, replaced atomically below
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(cache_dir, stem)
    partial = cache_dir / f".partial-{stem}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        _build_into(partial, dataset, settings, key, workers, executor, progress)
        if final.exists():  # rebuild, or another process finished first
            stale = cache_dir / f".partial-{stem}-stale-{os.getpid()}"
            os.replace(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # only left when the build failed
    return open_cache(final, in_memory)


def _build_into(
    folder: Path,
    dataset: FaceDataset,
    settings: PreprocessSettings,
    key: str,
    workers: int | None,
    executor: str,
    progress: ProgressArg,
) -> dict[str, Any]:
    """Decode every image into ``folder`` (images, labels, report, then meta last); return the report."""
    started = time.perf_counter()
    n = len(dataset)
    images_path = folder / "images.npy"
    images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=(n, *settings.shape))
    del images  # workers open it themselves
    boxes = dataset.boxes
    jobs = [
        (i, str(dataset.full_path(i)), None if boxes is None else tuple(boxes[i]))
        for i in range(n)
    ]
    chunks = [jobs[s : s + CHUNK_ROWS] for s in range(0, n, CHUNK_ROWS)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    failures: list[tuple[int, str]] = []
    bar = make_progress(progress, n, desc=f"cache {dataset.source}", unit="img")
    pool = _make_executor(executor, min(workers, max(len(chunks), 1)))
    try:
        if pool is None:
            for chunk in chunks:
                failures += _decode_rows(str(images_path), chunk, settings)
                bar.update(len(chunk))
        else:
            with pool:
                futures = {pool.submit(_decode_rows, str(images_path), c, settings): len(c) for c in chunks}
                for future in as_completed(futures):
                    failures += future.result()
                    bar.update(futures[future])
    finally:
        bar.close()
    failures.sort()
    bad_rows = np.asarray([row for row, _ in failures], dtype=np.int64)
    good = np.setdiff1d(np.arange(n), bad_rows)
    if len(bad_rows):
        _compact(images_path, good)
    np.savez(
        folder / "labels.npz",
        age=dataset.age[good],
        gender=dataset.gender[good],
        race=dataset.race[good],
        identity=dataset.identity[good],
        paths=dataset.paths[good],
        source_row=good,
    )
    report = {
        "reader": dataset.report.to_dict(),
        "images_total": n,
        "images_ok": int(len(good)),
        "images_bad": len(failures),
        "bad_files": [{"path": str(dataset.paths[row]), "reason": reason} for row, reason in failures],
        "build_seconds": round(time.perf_counter() - started, 3),
        "workers": workers,
        "executor": executor if pool is not None else "serial",
    }
    _write_json(folder / "report.json", report)
    meta = {
        "format": CACHE_FORMAT_VERSION,
        "key": key,
        "source": dataset.source,
        "root": str(dataset.root),
        "settings": settings.to_dict(),
        "count": int(len(good)),
        "shape": [int(len(good)), *settings.shape],
    }
    _write_json(folder / "meta.json", meta)  # written last: the folder is complete
    return report
