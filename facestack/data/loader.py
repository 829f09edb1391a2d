"""A batch loader: per-epoch shuffling, scaling, augmentation, background prefetch, device move.

``BatchLoader(images, labels, indices)`` yields :class:`Batch` objects whose
``x`` is float32 (B, C, H, W), the layout minicnn's conv consumes, scaled to
[0, 1] as in the paper (or standardised with a mean and std), and whose
``labels`` are int64 arrays. A background thread assembles the next
``prefetch`` batches while the training step runs. With ``device="gpu"`` each
batch is moved with :func:`minicnn.backend.to_device` in the consuming thread
(where CuPy's current device and stream are the caller's).

Randomness is reproducible: epoch ``e`` draws its order and its augmentation
from generators seeded by ``(seed, e)``.
"""
from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from minicnn import backend
from .augment import Augment, augment_uint8, random_brightness

SCALES = ("unit", "standardize", "none")
#: Seconds an iterator left early waits for its prefetch thread (which checks for the stop every 0.1 s).
JOIN_SECONDS = 5.0


@dataclass
class Batch:
    """One batch.

    Attributes:
        x: float32 (B, C, H, W) on the loader's device.
        labels: name -> int64 (B,) on the loader's device.
        rows: (B,) int64 rows of the source arrays (NumPy, on the CPU).
    """

    x: Any
    labels: dict[str, Any]
    rows: np.ndarray


def channel_mean_std(
    images: np.ndarray, rows: np.ndarray | None = None, max_images: int = 4096, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std on the [0, 1] scale, from up to ``max_images`` rows.

    Args:
        images: uint8 (N, C, H, W).
        rows: rows to draw from (default all), e.g. the training part of a split.
    Returns:
        ``(mean, std)``, each float32 (C,).
    """
    rows = np.arange(len(images)) if rows is None else np.asarray(rows)
    if len(rows) > max_images:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_images, replace=False))
    sample = np.asarray(images[rows], dtype=np.float64) / 255.0
    mean = sample.mean(axis=(0, 2, 3))
    std = sample.std(axis=(0, 2, 3))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


class BatchLoader:
    """Iterate over mini-batches of uint8 images as float32 arrays.

    Args:
        images: uint8 (N, C, H, W), e.g. a memory-mapped cache.
        labels: name -> (N,) integer array (age, age_bin, gender, ...).
        indices: rows to draw from (e.g. ``split.train``); default all.
        batch_size: images per batch.
        shuffle: a new order every epoch (else the order of ``indices``).
        drop_last: leave out a last, smaller batch.
        augment: an :class:`Augment`, or None.
        scale: ``"unit"`` (x / 255, the paper's), ``"standardize"``
            ((x / 255 - mean) / std per channel) or ``"none"`` (0..255 as float).
        mean, std: (C,) for "standardize"; computed from ``indices`` when omitted.
        seed: seeds the order and the augmentation.
        prefetch: batches assembled ahead in a background thread (0 = none, no thread).
        device: ``"cpu"`` or ``"gpu"``: where the batches' ``x`` and labels are put.

    Raises:
        RuntimeError: ``device="gpu"`` without CuPy or a CUDA device (the message names
            ``pip install .[gpu]``), at construction rather than at the first batch.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 64,
        shuffle: bool = True,
        drop_last: bool = False,
        augment: Augment | None = None,
        scale: str = "unit",
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        seed: int = 0,
        prefetch: int = 2,
        device: str = "cpu",
    ) -> None:
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or not 0 <= prefetch <= 64:
            raise ValueError(f"prefetch must be an integer in 0..64, got {prefetch!r}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.images = images
        self.labels = {k: np.asarray(v) for k, v in (labels or {}).items()}
        for name, values in self.labels.items():
            if len(values) != len(images):
                raise ValueError(f"label {name!r} has {len(values)} rows, images have {len(images)}")
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.scale = scale
        if scale == "standardize" and (mean is None or std is None):
            mean, std = channel_mean_std(images, self.indices, seed=seed)
        channels = images.shape[1]
        self.mean = None if mean is None else np.asarray(mean, np.float32).reshape(1, channels, 1, 1)
        self.std = None if std is None else np.asarray(std, np.float32).reshape(1, channels, 1, 1)
        self.seed = seed
        self.prefetch = prefetch
        self.device = backend.normalize_device(device)
        if self.device == "gpu":
            backend._require_cupy()
        self.epoch = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.indices), self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration uses (its order and augmentation)."""
        self.epoch = epoch

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The rows of each batch of ``epoch`` (each sorted, for memory-map locality)."""
        order = self.indices
        if self.shuffle:
            order = order[np.random.default_rng([self.seed, epoch, 0]).permutation(len(order))]
        stops = range(0, len(order), self.batch_size)
        batches = [np.sort(order[s : s + self.batch_size]) for s in stops]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def make_batch(
        self, rows: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Gather, augment and scale the images of ``rows`` (on the CPU).

        Returns:
            ``(x, labels)``: float32 (B, C, H, W) and name -> int64 (B,).
        """
        pixels = np.asarray(self.images[rows])
        if self.augment is not None:
            rng = rng if rng is not None else np.random.default_rng()
            pixels = augment_uint8(pixels, self.augment, rng)
        x = pixels.astype(np.float32)
        if self.scale != "none":
            x *= np.float32(1.0 / 255.0)
        if self.augment is not None and self.augment.brightness > 0:
            top = 255.0 if self.scale == "none" else 1.0
            random_brightness(x, self.augment.brightness * top, rng, upper=top)
        if self.scale == "standardize":
            x -= self.mean
            x /= self.std
        labels = {name: values[rows].astype(np.int64) for name, values in self.labels.items()}
        return x, labels

    def _produce(self, epoch: int) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, dict[str, np.ndarray]]]]:
        rng = np.random.default_rng([self.seed, epoch, 1])
        for rows in self.epoch_batches(epoch):
            yield rows, self.make_batch(rows, rng)

    def _to_batch(self, rows: np.ndarray, x: np.ndarray, labels: dict[str, np.ndarray]) -> Batch:
        if self.device == "cpu":
            return Batch(x, labels, rows)
        return Batch(
            backend.to_device(x, self.device),
            {k: backend.to_device(v, self.device) for k, v in labels.items()},
            rows,
        )

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch
        self.epoch += 1
        if self.prefetch <= 0:
            for rows, (x, labels) in self._produce(epoch):
                yield self._to_batch(rows, x, labels)
            return
        yield from self._iterate_prefetched(epoch)

    def _iterate_prefetched(self, epoch: int) -> Iterator[Batch]:
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for item in self._produce(epoch):
                    if not put(item):
                        return
                put(done)
            except BaseException as error:  # handed to the consumer, re-raised there
                put(error)

        thread = threading.Thread(target=work, name="BatchLoader-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                rows, (x, labels) = item
                yield self._to_batch(rows, x, labels)
        finally:
            # Leaving early (a break, an error, Ctrl-C): tell the producer to stop, empty the queue so
            # a producer waiting to put is released at once, and wait for it only a bounded time: it is
            # a daemon thread that writes nothing, so an interrupted run never hangs here.
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    ready.get_nowait()
            thread.join(timeout=JOIN_SECONDS)
