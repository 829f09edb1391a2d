"""Haar feature values of many training windows at once, quantised once per stage.

Boosting a stump needs, for every feature, how the samples' values order. The values
never change while a stage is trained (only the sample weights do), so each feature's
values are quantised once per stage into at most 256 ordered bins
(``BinnedFeatureIndex``) and every round reuses them: a round is one weighted
histogram per feature (``vj.stump_search``), with no sort.

Values follow OpenCV's detector exactly (``cascadedetect.cpp``): the feature value of
a window is the weighted sum of its rectangle sums (exact in float32, since the sums
are small integers) times the window's ``variance_norm_factor``,

    value = float32(weighted_sum) * float32(1 / sqrt(area * sqsum - sum ** 2)),

``sum`` and ``sqsum`` taken over the inner rectangle (the window shrunk by one pixel on
each side) and ``area`` its pixel count; ``sqrt(area * sqsum - sum ** 2)`` is
``area * std``. A stump whose threshold lies strictly between two float32 values seen
in training therefore sends every training window the same way in the detector.

Layouts chosen so that a boosting round streams its data once, in order:

* integral images are stored position-major, ``(P, N)`` with ``P = (H+1)(W+1)``, so
  one feature over all N windows reads a few contiguous rows;
* the bins are one ``(F, N)`` uint8 array, feature-major: 162,336 features x 10,000
  samples take 1.6 GB and a round reads each byte once. Bins are quantiles of the
  sample values that never split equal values; a feature with at most 256 distinct
  values gets one bin per value (lossless). The values themselves are not kept; the
  few features a round refines exactly (``vj.stump_search``) are recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numba as nb
import numpy as np

from vj.haar_enum import HaarFeaturePool

#: OpenCV rejects windows whose ``area * variance_norm_factor`` (1 / std) is not below this.
OPENCV_MIN_INV_STD = 0.1


class WindowIntegrals(NamedTuple):
    """Integral images and normalisers of N training windows.

    Attributes:
        window_size: ``(width, height)``.
        sums: ``(P, N)`` int32 upright integral images, ``P = (H+1)(W+1)``, row-major
            positions: entry ``(Y * (W+1) + X, n)`` is the sum of window n's pixels
            with ``x < X`` and ``y < Y``.
        tilted: ``(P, N)`` int32 OpenCV tilted (45-degree) integrals, or ``(0, N)``
            when not computed.
        inv_norm: ``(N,)`` float32 OpenCV ``variance_norm_factor``
            ``1 / (area * std)`` of the inner rectangle; 0 for a flat window (its
            feature values are all 0, as in ``opencv_traincascade``).
        opencv_accepts: ``(N,)`` bool, whether OpenCV's detector evaluates the
            window at all (it skips flat windows and those with std <= 10).
    """

    window_size: tuple[int, int]
    sums: np.ndarray
    tilted: np.ndarray
    inv_norm: np.ndarray
    opencv_accepts: np.ndarray

    @property
    def num_samples(self) -> int:
        """Number of windows N."""
        return int(self.inv_norm.shape[0])


@nb.njit(cache=True)
def _tilted_integrals(windows: np.ndarray, out: np.ndarray) -> None:
    """OpenCV tilted integrals of ``windows (N, H, W)`` into ``out (N, H+1, W+1)``.

    ``T(X, Y)`` is the sum of pixels ``(x, y)`` with ``y < Y`` and
    ``|x - (X - 1)| <= Y - 1 - y``: a triangle with its apex at pixel ``(X-1, Y-1)``
    widening upwards. Recurrence (Lienhart and Maydt):
    ``T(X, Y) = T(X-1, Y-1) + T(X+1, Y-1) - T(X, Y-2) + I(X-1, Y-1) + I(X-1, Y-2)``,
    evaluated on columns padded by H + 1 on both sides so every triangle is complete.
    """
    n_windows, height, width = windows.shape
    pad = height + 1
    cols = width + 1 + 2 * pad
    for n in range(n_windows):
        table = np.zeros((height + 1, cols), dtype=np.int64)
        for big_y in range(1, height + 1):
            for c in range(1, cols - 1):
                px = c - pad - 1  # image column of the apex, X - 1
                value = table[big_y - 1, c - 1] + table[big_y - 1, c + 1]
                if big_y >= 2:
                    value -= table[big_y - 2, c]
                if 0 <= px < width:
                    value += windows[n, big_y - 1, px]
                    if big_y >= 2:
                        value += windows[n, big_y - 2, px]
                table[big_y, c] = value
        for big_y in range(height + 1):
            for big_x in range(width + 1):
                out[n, big_y, big_x] = table[big_y, big_x + pad]


def integrate_windows(windows: np.ndarray, with_tilted: bool = False) -> WindowIntegrals:
    """Integral images and OpenCV normalisers of training windows.

    Args:
        windows: ``(N, H, W)`` uint8 grey windows at the training window size.
        with_tilted: also compute the tilted integrals (needed by ``ALL`` features).

    Returns:
        ``WindowIntegrals`` with position-major tables (see its docstring).
    """
    windows = np.asarray(windows)
    if windows.ndim != 3 or windows.dtype != np.uint8:
        raise ValueError(f"windows must be (N, H, W) uint8, got shape {windows.shape} dtype {windows.dtype}")
    n_windows, height, width = windows.shape
    if height < 3 or width < 3:
        raise ValueError(f"windows must be at least 3 x 3 (an inner rectangle is needed), got {height} x {width}")
    integral = np.zeros((n_windows, height + 1, width + 1), dtype=np.int32)
    integral[:, 1:, 1:] = windows.astype(np.int32).cumsum(axis=1).cumsum(axis=2)
    sums = np.ascontiguousarray(integral.reshape(n_windows, -1).T)
    if with_tilted:
        tilted_nhw = np.empty((n_windows, height + 1, width + 1), dtype=np.int32)
        _tilted_integrals(np.ascontiguousarray(windows), tilted_nhw)
        tilted = np.ascontiguousarray(tilted_nhw.reshape(n_windows, -1).T)
    else:
        tilted = np.zeros((0, n_windows), dtype=np.int32)
    inner = windows[:, 1:-1, 1:-1].astype(np.int64)
    area = float((height - 2) * (width - 2))
    inner_sum = inner.sum(axis=(1, 2)).astype(np.float64)
    inner_sqsum = (inner * inner).sum(axis=(1, 2)).astype(np.float64)
    norm_sq = area * inner_sqsum - inner_sum * inner_sum  # (area * std)^2, exact in float64
    positive = norm_sq > 0
    inv_norm = np.zeros(n_windows, dtype=np.float32)
    inv_norm[positive] = (1.0 / np.sqrt(norm_sq[positive])).astype(np.float32)
    accepts = positive & (area * inv_norm.astype(np.float64) < OPENCV_MIN_INV_STD)
    return WindowIntegrals((width, height), sums, tilted, inv_norm, accepts)


def corner_offsets(pool: HaarFeaturePool, feature_ids: np.ndarray | None = None) -> np.ndarray:
    """Integral-table positions of every rectangle corner: ``(K, 3, 4)`` int32 for the
    features ``feature_ids`` (all F when None).

    A rectangle's sum is ``T[p0] - T[p1] - T[p2] + T[p3]`` (OpenCV's ``CV_SUM_OFFSETS``
    and ``CV_TILTED_OFFSETS``), positions counted in the ``(H+1) x (W+1)`` table.
    """
    ids = slice(None) if feature_ids is None else feature_ids
    rects, weights, tilted_kind = pool.rects[ids], pool.weights[ids], pool.tilted[ids]
    step = pool.window_size[0] + 1
    x, y, w, h = (rects[..., k].astype(np.int64) for k in range(4))
    upright = np.stack([x + step * y, x + w + step * y, x + step * (y + h), x + w + step * (y + h)], axis=-1)
    tilted = np.stack([
        x + step * y,
        x - h + step * (y + h),
        x + w + step * (y + w),
        x + w - h + step * (y + w + h),
    ], axis=-1)
    offsets = np.where(tilted_kind[:, None, None], tilted, upright)
    offsets[weights == 0] = 0
    return offsets.astype(np.int32)


@nb.njit(cache=True, inline="always")
def _feature_row(offsets: np.ndarray, weights: np.ndarray, is_tilted: bool, sums: np.ndarray,
                 tilted: np.ndarray, inv_norm: np.ndarray, f: int, out: np.ndarray) -> None:
    """Values of feature ``f`` for all N windows into ``out (N,)`` float32 (OpenCV arithmetic)."""
    n = out.shape[0]
    table = tilted if is_tilted else sums
    for i in range(n):
        out[i] = 0.0
    for r in range(3):
        weight = weights[f, r]
        if weight == 0.0:
            break
        p0, p1, p2, p3 = offsets[f, r, 0], offsets[f, r, 1], offsets[f, r, 2], offsets[f, r, 3]
        for i in range(n):
            rect_sum = table[p0, i] - table[p1, i] - table[p2, i] + table[p3, i]
            out[i] += weight * np.float32(rect_sum)
    for i in range(n):
        out[i] = out[i] * inv_norm[i]


@nb.njit(cache=True, parallel=True)
def _feature_values_kernel(offsets, weights, feature_tilted, sums, tilted, inv_norm, out):
    for k in nb.prange(offsets.shape[0]):
        _feature_row(offsets, weights, feature_tilted[k], sums, tilted, inv_norm, k, out[k])


def _check_compatible(pool: HaarFeaturePool, integrals: WindowIntegrals) -> None:
    if tuple(pool.window_size) != tuple(integrals.window_size):
        raise ValueError(f"feature pool is for windows {pool.window_size}, integrals are {integrals.window_size}")
    if pool.has_tilted and integrals.tilted.shape[0] == 0:
        raise ValueError("the pool has tilted features: call integrate_windows(..., with_tilted=True)")


def compute_feature_values(pool: HaarFeaturePool, integrals: WindowIntegrals,
                           feature_indices: np.ndarray | None = None) -> np.ndarray:
    """Normalised feature values, exactly as OpenCV's detector computes them.

    Args:
        pool: the candidate features.
        integrals: from ``integrate_windows`` at the pool's window size.
        feature_indices: ``(K,)`` pool indices to evaluate; all features when None.

    Returns:
        ``(K, N)`` float32 values (C-contiguous: one row per feature).
    """
    _check_compatible(pool, integrals)
    if feature_indices is None:
        feature_ids = np.arange(len(pool), dtype=np.int64)
    else:
        feature_ids = np.asarray(feature_indices, dtype=np.int64).reshape(-1)
        if feature_ids.size and (feature_ids.min() < 0 or feature_ids.max() >= len(pool)):
            raise IndexError(f"feature indices must lie in 0..{len(pool) - 1}")
    out = np.empty((feature_ids.shape[0], integrals.num_samples), dtype=np.float32)
    _feature_values_kernel(corner_offsets(pool, feature_ids), np.ascontiguousarray(pool.weights[feature_ids]),
                           np.ascontiguousarray(pool.tilted[feature_ids]), integrals.sums, integrals.tilted,
                           integrals.inv_norm, out)
    return out


@nb.njit(cache=True)
def _radix_argsort_f32(values: np.ndarray, keys: np.ndarray, keys_spare: np.ndarray,
                       order: np.ndarray, order_spare: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Stable argsort of float32 ``values`` (LSD radix sort, three 11-bit digits).

    Floats are mapped to unsigned keys with the same order (flip all bits of negative
    numbers, set the sign bit of the others). All buffers are the caller's (``(N,)``
    keys uint32, orders int64, ``counts (2048,)``), so nothing is allocated; the
    returned array is whichever of ``order`` / ``order_spare`` holds the result.
    """
    n = values.shape[0]
    bits = values.view(np.uint32)
    for i in range(n):
        b = np.int64(bits[i])
        keys[i] = (0xFFFFFFFF ^ b) if b >= 0x80000000 else (b | 0x80000000)
        order[i] = i
    for shift in (0, 11, 22):
        counts[:] = 0
        for i in range(n):
            counts[(keys[i] >> shift) & 0x7FF] += 1
        total = 0
        for d in range(2048):
            c = counts[d]
            counts[d] = total
            total += c
        for i in range(n):
            d = (keys[i] >> shift) & 0x7FF
            dest = counts[d]
            counts[d] = dest + 1
            keys_spare[dest] = keys[i]
            order_spare[dest] = order[i]
        keys, keys_spare = keys_spare, keys
        order, order_spare = order_spare, order
    return order


#: Most bins per feature: a bin number fits in a uint8.
MAX_BINS = 256


@nb.njit(cache=True)
def _bin_sorted(values: np.ndarray, ranked: np.ndarray, max_bins: int, column_of: np.ndarray,
                row: np.ndarray) -> tuple[int, bool]:
    """Bin numbers of one feature's samples into ``row (N,)`` uint8 (sample i at column
    ``column_of[i]``), from their sort order.

    Equal values always share a bin. With at most ``max_bins`` distinct values each
    gets its own bin (lossless); otherwise a new bin starts at the first change of
    value at or after each ``N / max_bins`` quantile. Returns ``(bins used, lossless)``.
    """
    n = values.shape[0]
    distinct = 1
    for j in range(1, n):
        if values[ranked[j]] > values[ranked[j - 1]]:
            distinct += 1
    current = 0
    row[column_of[ranked[0]]] = 0
    for j in range(1, n):
        if values[ranked[j]] > values[ranked[j - 1]]:
            if distinct <= max_bins or j * max_bins >= (current + 1) * n:
                current += 1
        row[column_of[ranked[j]]] = current
    return current + 1, distinct <= max_bins


@nb.njit(cache=True, parallel=True)
def _binned_kernel(offsets, weights, feature_tilted, first, stop, sums, tilted, inv_norm, max_bins, column_of,
                   bins, num_bins, lossless, block):
    n = inv_norm.shape[0]
    n_blocks = (stop - first + block - 1) // block
    for b in nb.prange(n_blocks):
        values = np.empty(n, dtype=np.float32)
        keys = np.empty(n, dtype=np.uint32)
        keys_spare = np.empty(n, dtype=np.uint32)
        order = np.empty(n, dtype=np.int64)
        order_spare = np.empty(n, dtype=np.int64)
        counts = np.empty(2048, dtype=np.int64)
        for f in range(first + b * block, min(first + (b + 1) * block, stop)):
            _feature_row(offsets, weights, feature_tilted[f], sums, tilted, inv_norm, f, values)
            ranked = _radix_argsort_f32(values, keys, keys_spare, order, order_spare, counts)
            num_bins[f], lossless[f] = _bin_sorted(values, ranked, max_bins, column_of, bins[f])


@dataclass
class BinnedFeatureIndex:
    """Every feature's values quantised once per stage into ordered bins.

    Attributes:
        bins: ``(F, N)`` uint8, feature-major; column k holds sample ``order[k]``:
            ``bins[f, k]`` is the bin of that sample's value of feature f. Bins are
            ordered (a larger bin holds only larger values) and never split equal
            values, so a threshold between two bins is a threshold between two real values.
        num_bins: ``(F,)`` int32 bins used by each feature (1: all values equal).
        lossless: ``(F,)`` bool, True where every distinct value has its own bin (at
            most ``MAX_BINS`` distinct values): the bins then allow every split the
            real values allow.
        order: ``(N,)`` int64, the sample in each column (``screening_order``).
        screen_count: the first ``screen_count`` columns are the screening subset
            (0: none), so a pass over it reads one contiguous part of every row.
    """

    bins: np.ndarray
    num_bins: np.ndarray
    lossless: np.ndarray
    order: np.ndarray
    screen_count: int = 0

    @property
    def splittable(self) -> np.ndarray:
        """``(F,)`` bool, False for a feature whose values are all equal."""
        return self.num_bins > 1

    @property
    def num_features(self) -> int:
        return int(self.bins.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.bins.shape[1])

    def subset(self, features: slice) -> "BinnedFeatureIndex":
        """The index restricted to a slice of the features (a view, no copy)."""
        return BinnedFeatureIndex(self.bins[features], self.num_bins[features], self.lossless[features],
                                  self.order, self.screen_count)


#: The screening subset holds about this many samples (``screening_order``).
SCREEN_SAMPLES = 2048


def screening_order(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """The column order of the bins and the size of the screening subset.

    With ``k = N // SCREEN_SAMPLES >= 2``, the subset is every k-th face and every
    k-th non-face (by sample index); the columns hold the subset's faces, its
    non-faces, then the other faces and the other non-faces, each in increasing
    sample order (four runs of one label). With fewer samples there is no subset
    and the columns hold the faces, then the non-faces.

    Returns:
        ``(order (N,) int64, screen_count)``.
    """
    faces = np.asarray(labels) > 0
    stride = faces.shape[0] // SCREEN_SAMPLES
    face_ids, nonface_ids = np.flatnonzero(faces), np.flatnonzero(~faces)
    if stride < 2:
        return np.concatenate([face_ids, nonface_ids]).astype(np.int64), 0
    parts = [face_ids[::stride], nonface_ids[::stride]]
    in_subset = np.zeros(faces.shape[0], bool)
    in_subset[np.concatenate(parts)] = True
    parts += [face_ids[~in_subset[face_ids]], nonface_ids[~in_subset[nonface_ids]]]
    return np.concatenate(parts).astype(np.int64), int(len(parts[0]) + len(parts[1]))


def bin_feature_values(pool: HaarFeaturePool, integrals: WindowIntegrals,
                       progress: Callable[[int, int], None] | None = None, chunk_features: int = 8192,
                       max_bins: int = MAX_BINS, labels: np.ndarray | None = None) -> BinnedFeatureIndex:
    """Quantise every feature's values over all windows into ordered bins (see
    ``BinnedFeatureIndex``).

    Values are computed, radix-sorted and binned feature by feature in parallel and
    never stored as a whole, so peak memory is the ``(F, N)`` uint8 bins (1.6 GB for
    162,336 features x 10,000 windows) plus small per-thread buffers.

    Args:
        pool: candidate features (F of them).
        integrals: the N training windows.
        progress: optional ``progress(done_features, total_features)`` after each chunk.
        chunk_features: features per progress step.
        max_bins: most bins per feature, 2..256.
        labels: ``(N,)`` 1 for a face: the columns then follow ``screening_order``;
            when None, they follow the samples.
    """
    _check_compatible(pool, integrals)
    n = integrals.num_samples
    if n < 2:
        raise ValueError(f"need at least 2 samples to bin, got {n}")
    if not 2 <= max_bins <= MAX_BINS:
        raise ValueError(f"max_bins must be in 2..{MAX_BINS}, got {max_bins}")
    bins = np.empty((len(pool), n), dtype=np.uint8)
    num_bins = np.empty(len(pool), dtype=np.int32)
    lossless = np.empty(len(pool), dtype=np.bool_)
    order, screen_count = (np.arange(n, dtype=np.int64), 0) if labels is None else screening_order(labels)
    column_of = np.empty(n, dtype=np.int64)
    column_of[order] = np.arange(n)
    offsets = corner_offsets(pool)
    total = len(pool)
    for first in range(0, total, chunk_features):
        stop = min(first + chunk_features, total)
        _binned_kernel(offsets, pool.weights, pool.tilted, first, stop, integrals.sums, integrals.tilted,
                       integrals.inv_norm, max_bins, column_of, bins, num_bins, lossless, 64)
        if progress is not None:
            progress(stop, total)
    return BinnedFeatureIndex(bins, num_bins, lossless, order, int(screen_count))


@dataclass
class TrainingSet:
    """Everything a boosting round reads: the windows' integrals, the features, their
    binned values and the labels.

    Attributes:
        pool: the candidate features (F).
        integrals: the N windows.
        index: ``(F, N)`` binned values (``bin_feature_values``).
        labels: ``(N,)`` uint8, 1 for a face, 0 otherwise.
    """

    pool: HaarFeaturePool
    integrals: WindowIntegrals
    index: BinnedFeatureIndex
    labels: np.ndarray

    @property
    def num_samples(self) -> int:
        return self.integrals.num_samples

    def feature_values(self, feature_indices: np.ndarray | list[int]) -> np.ndarray:
        """``(K, N)`` float32 normalised values of the given pool features."""
        return compute_feature_values(self.pool, self.integrals, np.asarray(feature_indices))


def build_training_set(windows: np.ndarray, labels: np.ndarray, pool: HaarFeaturePool,
                       progress: Callable[[int, int], None] | None = None) -> TrainingSet:
    """Integrate the windows and bin every feature's values (the once-per-stage work).

    Args:
        windows: ``(N, H, W)`` uint8 training windows at the pool's window size.
        labels: ``(N,)`` 1 for a face, 0 otherwise.
        pool: candidate features.
        progress: optional ``progress(done_features, total_features)`` while binning.
    """
    labels = np.asarray(labels)
    if labels.shape != (np.shape(windows)[0],):
        raise ValueError(f"labels must have shape ({np.shape(windows)[0]},), got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (non-face) or 1 (face)")
    integrals = integrate_windows(windows, with_tilted=pool.has_tilted)
    index = bin_feature_values(pool, integrals, progress=progress, labels=labels)
    return TrainingSet(pool, integrals, index, labels.astype(np.uint8))
