"""The histogram stump search against brute force over every threshold, the Numba
kernel against the NumPy reference, and the exact refinement of binned features."""
from __future__ import annotations

import numpy as np
import pytest

import vj.stump_search as stump_search
from vj.boost import stump_threshold
from vj.haar_enum import enumerate_haar_features
from vj.stump_search import (
    best_split,
    exact_split,
    feature_errors,
    feature_errors_reference,
    screened_features,
)
from vj.train_features import (
    bin_feature_values,
    build_training_set,
    compute_feature_values,
    integrate_windows,
    screening_order,
)


@pytest.fixture(scope="module")
def tied_set():
    """60 windows of few grey levels (many equal feature values), random labels."""
    rng = np.random.default_rng(11)
    windows = (rng.integers(0, 4, size=(60, 8, 8)) * 60).astype(np.uint8)
    windows[10:14] = windows[20]  # exact duplicates: ties in every feature
    labels = (rng.random(60) < 0.4).astype(np.uint8)
    pool = enumerate_haar_features((8, 8))
    data = build_training_set(windows, labels, pool)
    weights = rng.random(60)
    weights[rng.random(60) < 0.25] = 0.0  # as weight trimming leaves them
    return data, weights


@pytest.fixture(scope="module")
def coarse_set():
    """300 random windows binned into only 16 bins per feature: most features lossy."""
    rng = np.random.default_rng(12)
    windows = rng.integers(0, 256, size=(300, 8, 8), dtype=np.uint8)
    labels = (rng.random(300) < 0.3).astype(np.uint8)
    data = build_training_set(windows, labels, enumerate_haar_features((8, 8)))
    data.index = bin_feature_values(data.pool, data.integrals, max_bins=16)
    weights = rng.exponential(size=300)
    weights[rng.random(300) < 0.4] = 0.0
    return data, weights


def brute_force_error(values: np.ndarray, labels: np.ndarray, weights: np.ndarray, boost_type: str) -> float:
    """Lowest weighted error over every threshold between distinct values (and, for
    discrete, both polarities), straight from the definitions."""
    distinct = np.unique(values.astype(np.float64))
    thresholds = (distinct[:-1] + distinct[1:]) / 2
    left = values[None, :] < thresholds[:, None]  # (T, N)
    face = labels > 0
    if boost_type == "discrete":
        faces_left = (weights * (left != face)).sum(axis=1)
        faces_right = (weights * (left == face)).sum(axis=1)
        return float(min(faces_left.min(), faces_right.min()))
    y = np.where(face, 1.0, -1.0)
    best = np.inf
    for side in left:
        w_left, w_right = weights[side].sum(), weights[~side].sum()
        if w_left == 0 or w_right == 0:
            continue
        prediction = np.where(side, (weights * y)[side].sum() / w_left, (weights * y)[~side].sum() / w_right)
        best = min(best, float((weights * (y - prediction) ** 2).sum()))
    return best


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_search_finds_the_brute_force_optimum(tied_set, boost_type):
    """Every feature has at most 60 distinct values, so its bins are lossless and the
    histogram error is the exact optimum over every threshold."""
    data, weights = tied_set
    assert data.index.lossless.all()
    errors = feature_errors(data.index, weights, data.labels, boost_type)
    features = np.random.default_rng(0).choice(len(data.pool), size=150, replace=False)
    values = data.feature_values(features)
    for k, f in enumerate(features):
        expected = brute_force_error(values[k], data.labels, weights, boost_type)
        assert errors[f] == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_chosen_split_is_a_real_midpoint_and_reproduces_its_error(tied_set, boost_type):
    data, weights = tied_set
    choice = best_split(data, weights, boost_type)
    values = data.feature_values([choice.feature_index])[0]
    left = values < np.float32(choice.threshold)
    lower, upper = values[left].max(), values[~left].min()  # the two values it lies between
    assert lower < upper and choice.threshold == stump_threshold(lower, upper)
    assert left.sum() == choice.rank + 1
    assert brute_force_error(values, data.labels, weights, boost_type) == pytest.approx(choice.error, rel=1e-9)
    errors = feature_errors(data.index, weights, data.labels, boost_type)
    assert choice.error == pytest.approx(errors.min(), rel=1e-9)  # lossless: the exact optimum over all
    if boost_type == "discrete":
        says_face = left if choice.polarity > 0 else ~left
        assert weights[says_face != (data.labels > 0)].sum() == pytest.approx(choice.error, rel=1e-9)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("n_features", [5, 6, 7, 8, 2001])
def test_numba_equals_numpy_reference(tied_set, coarse_set, boost_type, dense, n_features, monkeypatch):
    """Same sums in the same order: bit for bit, whether the kernel walks every sample
    or only those of positive weight."""
    monkeypatch.setattr(stump_search, "DENSE_MIN_ACTIVE", 0.0 if dense else 1.01)
    for data, weights in (tied_set, coarse_set):
        index = data.index.subset(slice(0, n_features))
        fast = feature_errors(index, weights, data.labels, boost_type)
        reference = feature_errors_reference(index, weights, data.labels, boost_type, chunk_features=64)
        assert np.array_equal(fast, reference)
    data, weights = coarse_set
    assert best_split(data, weights, boost_type) == best_split(data, weights, boost_type, use_reference=True)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_refinement_of_lossy_bins_is_exact(coarse_set, boost_type):
    """Coarse bins score only some splits, so a histogram error is never below the
    feature's exact optimum; refining every feature recovers the exact optimum over
    all features, and refining a few is never worse than the best histogram error."""
    data, weights = coarse_set
    assert not data.index.lossless.all()
    errors = feature_errors(data.index, weights, data.labels, boost_type)
    features = np.arange(0, len(data.pool), 7)
    values = data.feature_values(features)
    exact = np.array([exact_split(values[k], weights, data.labels, boost_type).error for k in range(len(features))])
    brute = np.array([brute_force_error(values[k], data.labels, weights, boost_type) for k in range(len(features))])
    np.testing.assert_allclose(exact, brute, rtol=1e-9, atol=1e-12)
    assert np.all(errors[features] >= exact - 1e-9 * np.abs(exact))
    assert np.any(errors[features] > exact + 1e-6)  # the bins do lose some splits
    few = best_split(data, weights, boost_type, candidates=4)
    assert few.error <= errors.min() + 1e-12
    every = best_split(data, weights, boost_type, candidates=len(data.pool))
    all_values = data.feature_values(np.arange(len(data.pool)))
    optimum = min(exact_split(v, weights, data.labels, boost_type).error for v in all_values)
    assert every.error == optimum and every.error <= few.error


@pytest.fixture(scope="module")
def many_samples():
    """5000 random 8 x 8 windows labelled by a rule over two features: enough samples
    for the screening pass."""
    rng = np.random.default_rng(13)
    windows = rng.integers(0, 256, (5000, 8, 8), dtype=np.uint8)
    pool = enumerate_haar_features((8, 8))
    a, b = compute_feature_values(pool, integrate_windows(windows), [40, 700])
    labels = ((a > np.median(a)) | (b > np.quantile(b, 0.8))).astype(np.uint8)
    return build_training_set(windows, labels, pool), rng.exponential(size=5000)


def test_screening_order_puts_a_stratified_subset_first():
    labels = (np.arange(10_000) % 4 == 1).astype(np.uint8)  # 2,500 faces
    order, count = screening_order(labels)
    assert np.array_equal(np.sort(order), np.arange(10_000))
    subset = order[:count]
    assert count == 625 + 1875 and np.array_equal(subset[:625], np.flatnonzero(labels)[::4])
    assert np.array_equal(subset[625:], np.flatnonzero(labels == 0)[::4])
    runs = np.flatnonzero(np.diff(labels[order].astype(int))) + 1  # four runs of one label
    assert len(runs) == 3
    order, count = screening_order(labels[:4095])  # fewer than 2 x 2048: no subset, faces first
    assert count == 0 and np.all(np.diff(labels[:4095][order].astype(int)) <= 0)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_screened_search_keeps_the_best_features(many_samples, boost_type):
    data, weights = many_samples
    ids = screened_features(data, weights, boost_type)
    assert len(ids) == max(256, len(data.pool) // 64) < len(data.pool)
    assert np.all(np.diff(ids) > 0)
    full = feature_errors(data.index, weights, data.labels, boost_type)
    assert np.array_equal(feature_errors(data.index, weights, data.labels, boost_type, features=ids), full[ids])
    assert np.array_equal(feature_errors_reference(data.index, weights, data.labels, boost_type, features=ids),
                          full[ids])
    assert np.argmin(full) in ids  # the first pass, over about half the samples, kept the full pass's best
    first = feature_errors(data.index, weights, data.labels, boost_type, screen_only=True)
    assert np.array_equal(first, feature_errors_reference(data.index, weights, data.labels, boost_type,
                                                          screen_only=True))
    in_subset = np.zeros(len(weights), bool)
    in_subset[data.index.order[:data.index.screen_count]] = True  # as if only the subset weighed anything
    assert np.allclose(first, feature_errors(data.index, np.where(in_subset, weights, 0.0), data.labels, boost_type),
                       rtol=1e-12, atol=1e-12)
    screened = best_split(data, weights, boost_type, screen=True)
    assert screened == best_split(data, weights, boost_type)  # unscreened by default; here the same stump
    assert screened == best_split(data, weights, boost_type, use_reference=True, screen=True)


def test_threshold_sits_strictly_between_float32_neighbours():
    assert stump_threshold(1.0, 2.0) == 1.5
    lower = np.float32(0.3)
    upper = np.nextafter(lower, np.float32(1))
    t = stump_threshold(lower, upper)
    assert lower < np.float32(t) <= upper and np.float32(t) == t
    rng = np.random.default_rng(4)
    pairs = np.sort(rng.standard_normal((500, 2)).astype(np.float32), axis=1)
    for a, b in pairs[pairs[:, 0] < pairs[:, 1]]:
        t = np.float32(stump_threshold(a, b))
        assert a < t <= b
    with pytest.raises(ValueError):
        stump_threshold(2.0, 2.0)


def test_rejects_bad_weights(tied_set):
    data, weights = tied_set
    with pytest.raises(ValueError, match="shape"):
        feature_errors(data.index, weights[:-1], data.labels, "gentle")
    with pytest.raises(ValueError, match="non-negative"):
        feature_errors(data.index, -weights, data.labels, "gentle")
    with pytest.raises(ValueError, match="boost_type"):
        feature_errors(data.index, weights, data.labels, "real")
