"""Feature values of many windows at once, against direct pixel sums and OpenCV's
integrals, and the per-feature bins that the boosting rounds reuse."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vj.haar_enum import enumerate_haar_features
from vj.train_features import bin_feature_values, build_training_set, compute_feature_values, integrate_windows


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    rng = np.random.default_rng(5)
    w = rng.integers(0, 256, size=(40, 10, 12), dtype=np.uint8)
    w[3] = 99                       # a flat window
    w[4] = (w[4] // 64) * 64        # few grey levels: many equal sums
    w[5] = 100 + (w[5] % 8)         # low contrast (std below 10)
    return w


def test_integrals_match_opencv(windows):
    integrals = integrate_windows(windows, with_tilted=True)
    height, width = windows.shape[1:]
    for n in range(windows.shape[0]):
        upright, _, tilted = cv2.integral3(windows[n])
        assert np.array_equal(integrals.sums[:, n].reshape(height + 1, width + 1), upright)
        assert np.array_equal(integrals.tilted[:, n].reshape(height + 1, width + 1), tilted)


def test_normaliser_is_inner_std_times_area(windows):
    integrals = integrate_windows(windows)
    inner = windows[:, 1:-1, 1:-1].astype(np.float64)
    area = inner.shape[1] * inner.shape[2]
    std = inner.reshape(len(windows), -1).std(axis=1)
    flat = std == 0
    np.testing.assert_allclose(integrals.inv_norm[~flat], 1 / (area * std[~flat]), rtol=1e-6)
    assert np.all(integrals.inv_norm[flat] == 0)
    assert np.array_equal(integrals.opencv_accepts, std > 10)


def direct_upright_values(pool, windows, features) -> np.ndarray:
    """Weighted rectangle sums from the pixels, normalised as OpenCV's detector does."""
    raw = np.zeros((len(features), len(windows)), dtype=np.float64)
    for k, f in enumerate(features):
        for (x, y, w, h), weight in zip(pool.rects[f], pool.weights[f]):
            if weight != 0:
                raw[k] += weight * windows[:, y:y + h, x:x + w].astype(np.int64).sum(axis=(1, 2))
    inner = windows[:, 1:-1, 1:-1].astype(np.int64)
    area = inner.shape[1] * inner.shape[2]
    norm_sq = area * (inner ** 2).sum(axis=(1, 2)) - inner.sum(axis=(1, 2)) ** 2
    inv = np.where(norm_sq > 0, 1 / np.sqrt(np.maximum(norm_sq, 1)), 0).astype(np.float32)
    return raw, raw.astype(np.float32) * inv


@pytest.mark.parametrize("feature_set", ["BASIC", "CORE"])
def test_values_equal_direct_pixel_sums(windows, feature_set):
    pool = enumerate_haar_features((12, 10), feature_set)
    features = np.random.default_rng(0).choice(len(pool), size=300, replace=False)
    raw, expected = direct_upright_values(pool, windows, features)
    integrals = integrate_windows(windows)
    got = compute_feature_values(pool, integrals, features)
    assert got.dtype == np.float32 and got.shape == (300, len(windows))
    assert np.array_equal(got, expected)  # same float32 arithmetic as OpenCV's detector
    unit_norm = integrals._replace(inv_norm=np.ones(len(windows), np.float32))
    unnormalised = compute_feature_values(pool, unit_norm, features)
    assert np.array_equal(unnormalised, raw)


def test_tilted_values_follow_opencv_tilted_integral(windows):
    pool = enumerate_haar_features((12, 10), "ALL")
    features = np.flatnonzero(pool.tilted)[::29]
    integrals = integrate_windows(windows, with_tilted=True)
    got = compute_feature_values(pool, integrals._replace(inv_norm=np.ones(len(windows), np.float32)), features)
    for n in range(0, len(windows), 3):
        _, _, tilted = cv2.integral3(windows[n])
        for k, f in enumerate(features):
            total = 0
            for (x, y, w, h), weight in zip(pool.rects[f], pool.weights[f]):
                if weight != 0:  # OpenCV's CV_TILTED_OFFSETS corners, as (row, column)
                    total += weight * (int(tilted[y, x]) - int(tilted[y + h, x - h])
                                       - int(tilted[y + w, x + w]) + int(tilted[y + w + h, x + w - h]))
            assert got[k, n] == total


def test_tilted_features_need_tilted_integrals(windows):
    pool = enumerate_haar_features((12, 10), "ALL")
    with pytest.raises(ValueError, match="with_tilted"):
        compute_feature_values(pool, integrate_windows(windows), [0])


@pytest.mark.parametrize("max_bins", [256, 12])
def test_bins_are_ordered_and_never_split_equal_values(windows, max_bins):
    """Bins follow the values' order, equal values share a bin, and a feature with at
    most ``max_bins`` distinct values gets one bin per value (its distinct rank)."""
    pool = enumerate_haar_features((12, 10), "BASIC")
    integrals = integrate_windows(windows)
    index = bin_feature_values(pool, integrals, chunk_features=500, max_bins=max_bins)
    assert index.bins.dtype == np.uint8 and index.bins.shape == (len(pool), len(windows))
    values = compute_feature_values(pool, integrals)
    saw_lossy = False
    for f in np.random.default_rng(1).choice(len(pool), size=300, replace=False):
        distinct, rank = np.unique(values[f], return_inverse=True)
        bins = index.bins[f].astype(np.int64)
        order = np.argsort(values[f], kind="stable")
        assert np.all(np.diff(bins[order]) >= 0)  # ordered
        for value in distinct:  # equal values share one bin
            assert len(set(bins[values[f] == value])) == 1
        assert index.num_bins[f] == bins.max() + 1 <= max_bins
        assert index.lossless[f] == (len(distinct) <= max_bins)
        if index.lossless[f]:
            assert np.array_equal(bins, rank)
        else:
            saw_lossy = True
            assert index.num_bins[f] >= max_bins // 2  # quantile bins, not one big bin
    assert saw_lossy == (max_bins < len(windows))
    assert np.array_equal(index.splittable, values.min(axis=1) < values.max(axis=1))


def test_identical_windows_cannot_split():
    same = np.repeat(np.random.default_rng(2).integers(0, 256, (1, 6, 6), dtype=np.uint8), 5, axis=0)
    pool = enumerate_haar_features((6, 6))
    data = build_training_set(same, np.array([1, 0, 1, 0, 0]), pool)
    assert not data.index.splittable.any()
    assert not data.index.bins.any() and np.all(data.index.num_bins == 1)


def test_progress_and_bin_count_checks():
    seen = []
    windows = np.random.default_rng(3).integers(0, 256, (4, 6, 6), dtype=np.uint8)
    pool = enumerate_haar_features((6, 6))
    integrals = integrate_windows(windows)
    bin_feature_values(pool, integrals, progress=lambda done, total: seen.append((done, total)), chunk_features=100)
    assert seen[-1] == (len(pool), len(pool)) and len(seen) == -(-len(pool) // 100)
    for bad in (1, 257):
        with pytest.raises(ValueError, match="max_bins"):
            bin_feature_values(pool, integrals, max_bins=bad)


def test_rejects_bad_windows_and_labels():
    with pytest.raises(ValueError, match="uint8"):
        integrate_windows(np.zeros((2, 8, 8), dtype=np.float32))
    pool = enumerate_haar_features((6, 6))
    with pytest.raises(ValueError, match="labels"):
        build_training_set(np.zeros((3, 6, 6), np.uint8), np.array([0, 1, 2]), pool)
    with pytest.raises(ValueError, match="window"):
        compute_feature_values(pool, integrate_windows(np.zeros((3, 7, 6), np.uint8)), [0])
