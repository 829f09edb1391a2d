"""AdaBoost rounds: the paper's discrete AdaBoost and OpenCV's Gentle AdaBoost learn a
set that stumps can separate, the Numba and NumPy rounds agree, and a trained stage
goes into a Cascade that decides as training did."""
from __future__ import annotations

import numpy as np
import pytest

from vj.boost import (
    BoostState,
    add_stage,
    boost_round,
    evaluate_stumps,
    initial_weights,
    train_boosted,
    trimmed_mask,
)
from vj.cascade import Cascade
from vj.haar_enum import enumerate_haar_features
from vj.train_features import build_training_set, compute_feature_values, integrate_windows


@pytest.fixture(scope="module")
def separable():
    """Random 10 x 10 windows labelled by a rule over three features' values
    ((a and b) or c): no single stump separates them, a few boosted ones do."""
    rng = np.random.default_rng(7)
    windows = rng.integers(0, 256, (150, 10, 10), dtype=np.uint8)
    pool = enumerate_haar_features((10, 10))
    a, b, c = compute_feature_values(pool, integrate_windows(windows), [100, 2000, 3000])
    labels = ((a > np.median(a)) & (b > np.quantile(b, 0.3))) | (c > np.quantile(c, 0.9))
    return build_training_set(windows, labels.astype(np.uint8), pool)


def weighted_error(state: BoostState, start_weights: np.ndarray) -> float:
    return float(start_weights[state.predictions() != (state.labels > 0)].sum())


def test_discrete_adaboost_reaches_zero_training_error(separable):
    """The paper's algorithm: each round's eps < 1/2, so the training-error bound
    prod 2 sqrt(eps (1 - eps)) falls every round; the error (weighted by the starting
    weights) stays under it and reaches 0. The error itself need not fall every
    round (AdaBoost guarantees the bound, not the error)."""
    state = BoostState.start(separable.labels, "discrete")
    start = state.weights.copy()
    n_faces = int(separable.labels.sum())
    assert np.allclose(start[separable.labels > 0], 1 / (2 * n_faces))
    bound, errors = 1.0, []
    for _ in range(40):
        stump = boost_round(state, separable)
        assert 0 <= stump.error < 0.5
        new_bound = bound * 2 * np.sqrt(stump.error * (1 - stump.error))
        assert new_bound <= bound
        bound = new_bound
        errors.append(weighted_error(state, start))
        assert errors[-1] <= bound + 1e-12
        assert {stump.left_value, stump.right_value} == {0.0, state.alphas[-1]}
        if errors[-1] == 0:
            break
    assert errors[-1] == 0 and len(errors) > 2 and errors[0] > 0
    assert state.training_error() == 0
    assert state.stage_threshold == pytest.approx(0.5 * sum(state.alphas))


def test_gentle_adaboost_reaches_zero_training_error(separable):
    """Each Gentle round can only lower the exponential loss sum w0 exp(-y F), which
    bounds the (start-weighted) training error; the error reaches 0."""
    state = BoostState.start(separable.labels, "gentle")
    start = state.weights.copy()
    assert np.allclose(start, 1 / len(start))
    signs = np.where(separable.labels > 0, 1.0, -1.0)
    loss, errors = 1.0, []
    for _ in range(40):
        stump = boost_round(state, separable)
        assert -1 <= stump.left_value <= 1 and -1 <= stump.right_value <= 1
        new_loss = float((start * np.exp(-signs * state.scores)).sum())
        assert new_loss <= loss + 1e-12
        loss = new_loss
        expected_weights = start * np.exp(-signs * state.scores)
        np.testing.assert_allclose(state.weights, expected_weights / expected_weights.sum(), rtol=1e-9)
        errors.append(weighted_error(state, start))
        assert errors[-1] <= loss
        if errors[-1] == 0:
            break
    assert errors[-1] == 0 and len(errors) > 2 and errors[0] > 0


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
@pytest.mark.parametrize("trim", [0.0, 0.95])
def test_numba_round_equals_numpy_round(separable, boost_type, trim):
    fast = BoostState.start(separable.labels, boost_type, weight_trim_rate=trim)
    reference = BoostState.start(separable.labels, boost_type, weight_trim_rate=trim)
    for _ in range(4):
        a = boost_round(fast, separable)
        b = boost_round(reference, separable, use_reference=True)
        assert (a.feature_index, a.threshold, a.left_value, a.right_value) == (
            b.feature_index, b.threshold, b.left_value, b.right_value)
        assert a.error == pytest.approx(b.error, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(fast.weights, reference.weights, rtol=1e-12)


def opencv_stage_sum(cascade: Cascade, stage_index: int, windows: np.ndarray) -> np.ndarray:
    """A stage's leaf sum per window by OpenCV's rule, from pixels: a node goes left when
    float32(weighted rect sum) * float32(1 / (area * std of the inner rect)) < threshold."""
    inner = windows[:, 1:-1, 1:-1].astype(np.int64)
    area = inner.shape[1] * inner.shape[2]
    norm = np.sqrt((area * (inner ** 2).sum(axis=(1, 2)) - inner.sum(axis=(1, 2)) ** 2).astype(np.float64))
    factor = np.where(norm > 0, 1 / np.maximum(norm, 1e-300), 0).astype(np.float32)
    total = np.zeros(len(windows))
    for weak in cascade.stages[stage_index].weak_classifiers:
        _, _, feature_index, threshold = weak.nodes[0]
        raw = np.zeros(len(windows), dtype=np.float32)
        for x, y, w, h, weight in cascade.features[int(feature_index)].rects.astype(int):
            rect_sums = windows[:, y:y + h, x:x + w].astype(np.int64).sum(axis=(1, 2))
            raw += np.float32(weight) * rect_sums.astype(np.float32)
        total += np.where(raw * factor < np.float32(threshold), weak.leaves[0], weak.leaves[1])
    return total


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_trained_stage_in_a_cascade_decides_as_in_training(separable, boost_type):
    state = train_boosted(separable, rounds=6, boost_type=boost_type, weight_trim_rate=0.95)
    cascade = Cascade(separable.pool.window_size, [], [])
    stage = add_stage(cascade, separable.pool, state.stumps, state.stage_threshold)
    cascade.validate()
    assert stage is cascade.stages[0] and len(stage.weak_classifiers) == 6
    for stump in state.stumps:  # float32 numbers, as OpenCV keeps them: no rounding on export
        assert all(np.float32(v) == v for v in (stump.threshold, stump.left_value, stump.right_value))
    assert len(cascade.features) == len({s.feature_index for s in state.stumps})
    # on the training windows: the stage sums boosting accumulated
    np.testing.assert_array_equal(evaluate_stumps(state.stumps, separable.pool, separable.integrals), state.scores)
    np.testing.assert_array_equal(opencv_stage_sum(cascade, 0, _training_windows(separable)), state.scores)
    # on new windows: the same decisions from the cascade form and from the stumps
    unseen = np.random.default_rng(1).integers(0, 256, (40, 10, 10), dtype=np.uint8)
    np.testing.assert_array_equal(opencv_stage_sum(cascade, 0, unseen),
                                  evaluate_stumps(state.stumps, separable.pool, integrate_windows(unseen)))


def _training_windows(data) -> np.ndarray:
    """The training windows back from their integral images."""
    width, height = data.pool.window_size
    table = data.integrals.sums.T.reshape(-1, height + 1, width + 1).astype(np.int64)
    return np.diff(np.diff(table, axis=1), axis=2).astype(np.uint8)


def opencv_trim_loop(weights: np.ndarray, rate: float) -> np.ndarray:
    """OpenCV's CvBoost::trim_weights, transcribed loop for loop."""
    ascending = np.sort(weights)
    remaining = 1.0 - rate
    i = 0
    while i < len(ascending):
        if remaining <= 0:
            break
        remaining -= ascending[i]
        i += 1
    threshold = ascending[i] if i < len(ascending) else np.inf
    return weights >= threshold


def test_weight_trimming_matches_opencv():
    rng = np.random.default_rng(3)
    for _ in range(20):
        weights = rng.exponential(size=200) ** 3
        weights /= weights.sum()
        for rate in (0.5, 0.9, 0.95, 0.99):
            assert np.array_equal(trimmed_mask(weights, rate), opencv_trim_loop(weights, rate))
    assert trimmed_mask(weights, 0.0).all() and trimmed_mask(weights, 1.0).all()


def test_initial_weights_and_progress(separable):
    labels = separable.labels
    balanced = initial_weights(labels, "balanced")
    assert balanced[labels > 0].sum() == pytest.approx(0.5) and balanced[labels == 0].sum() == pytest.approx(0.5)
    assert np.allclose(initial_weights(labels, "uniform"), 1 / len(labels))
    with pytest.raises(ValueError, match="faces"):
        initial_weights(np.ones(5), "balanced")
    with pytest.raises(ValueError, match="initial"):
        initial_weights(labels, "random")
    calls = []
    state = train_boosted(separable, rounds=3, boost_type="discrete",
                          progress=lambda t, stump, st: calls.append((t, stump.feature_index, len(st.stumps))))
    assert [c[0] for c in calls] == [1, 2, 3] and [c[2] for c in calls] == [1, 2, 3]
    assert [s.feature_index for s in state.stumps] == [c[1] for c in calls]
