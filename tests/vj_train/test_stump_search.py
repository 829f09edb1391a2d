"""The one-pass stump search against brute force over every threshold, and the Numba
kernels against the NumPy reference."""
from __future__ import annotations

import numpy as np
import pytest

from vj.boost import stump_threshold
from vj.haar_enum import enumerate_haar_features
from vj.stump_search import best_split, feature_errors, feature_errors_reference, locate_split
from vj.train_features import SortedFeatureIndex, build_training_set


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
    data, weights = tied_set
    errors = feature_errors(data.index, weights, data.labels, boost_type)
    features = np.random.default_rng(0).choice(len(data.pool), size=150, replace=False)
    values = data.feature_values(features)
    for k, f in enumerate(features):
        expected = brute_force_error(values[k], data.labels, weights, boost_type)
        assert errors[f] == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_located_split_reproduces_its_error_without_splitting_ties(tied_set, boost_type):
    data, weights = tied_set
    choice = best_split(data.index, weights, data.labels, boost_type)
    values = data.feature_values([choice.feature_index])[0]
    samples, _ = data.index.order_of(choice.feature_index)
    lower, upper = values[samples[choice.rank]], values[samples[choice.rank + 1]]
    assert lower < upper  # never between equal values
    left = values < np.float32(stump_threshold(lower, upper))
    assert left.sum() == choice.rank + 1
    assert brute_force_error(values, data.labels, weights, boost_type) == pytest.approx(choice.error, rel=1e-9)
    if boost_type == "discrete":
        says_face = left if choice.polarity > 0 else ~left
        assert weights[says_face != (data.labels > 0)].sum() == pytest.approx(choice.error, rel=1e-9)


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
@pytest.mark.parametrize("n_features", [5, 6, 7, 8, 2001])
def test_numba_equals_numpy_reference(tied_set, boost_type, n_features):
    data, weights = tied_set
    index = SortedFeatureIndex(data.index.codes[:n_features], data.index.splittable[:n_features])
    fast = feature_errors(index, weights, data.labels, boost_type)
    reference, ranks = feature_errors_reference(index, weights, data.labels, boost_type, chunk_features=64)
    assert np.array_equal(fast, reference)  # same sums in the same order: bit for bit
    chosen = int(np.argmin(fast))
    assert chosen == int(np.argmin(reference))
    assert locate_split(index, chosen, weights, data.labels, boost_type).rank == ranks[chosen]
    assert best_split(index, weights, data.labels, boost_type) == best_split(
        index, weights, data.labels, boost_type, use_reference=True)


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
