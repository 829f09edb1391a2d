"""A stump finds the known best threshold; the stage threshold keeps the hit rate."""
from __future__ import annotations

import numpy as np
import pytest

from vj.boost import BoostState, boost_round
from vj.cascade_train import stage_passes, threshold_for_hit_rate
from vj.haar_enum import HaarFeaturePool, enumerate_haar_features
from vj.train_features import build_training_set, compute_feature_values, integrate_windows


def _single_feature_pool() -> HaarFeaturePool:
    """Only the horizontal two-rectangle feature covering the whole 8 x 8 window."""
    pool = enumerate_haar_features((8, 8), "BASIC")
    full = [i for i in range(len(pool)) if pool.kind_name(i) == "haar_x2"
            and tuple(pool.rects[i, 0]) == (0, 0, 8, 8)]
    keep = np.array(full)
    return HaarFeaturePool(pool.window_size, pool.feature_set, pool.rects[keep], pool.weights[keep],
                           pool.tilted[keep], pool.kinds[keep])


@pytest.mark.parametrize("boost_type", ["discrete", "gentle"])
def test_stump_threshold_lies_in_the_gap_between_the_classes(boost_type):
    """Windows whose right half is brighter than the left by a random amount; faces are
    those with a difference above a known cut, with a gap around it. The only feature
    is right minus left, so the best stump must put its threshold inside that gap."""
    rng = np.random.default_rng(3)
    n = 200
    windows = rng.integers(60, 70, (n, 8, 8)).astype(np.int64)
    shift = rng.uniform(-40, 40, n)
    windows[:, :, 4:] += np.round(shift)[:, None, None].astype(np.int64) + 50
    windows = np.clip(windows, 0, 255).astype(np.uint8)
    pool = _single_feature_pool()
    values = compute_feature_values(pool, integrate_windows(windows))[0]
    cut = np.median(values)
    labels = (values > cut).astype(np.uint8)
    below, above = values[labels == 0].max(), values[labels == 1].min()
    assert below < above
    data = build_training_set(windows, labels, pool)
    state = BoostState.start(labels, boost_type)
    stump = boost_round(state, data)
    assert below < stump.threshold <= above
    assert state.training_error() == 0.0


def test_threshold_for_hit_rate_keeps_the_required_positives():
    rng = np.random.default_rng(0)
    for n, rate in [(1000, 0.995), (37, 0.9), (5, 1.0), (2000, 0.999)]:
        scores = np.round(rng.normal(0, 1, n), 2)  # ties on purpose
        threshold = threshold_for_hit_rate(scores, rate)
        kept = stage_passes(scores, threshold).mean()
        assert kept >= rate - 1e-12
        # as high as it may be: moving it up to the next higher score loses too many
        higher = scores[scores > threshold + 1e-4].min()
        assert stage_passes(scores, float(higher)).mean() < rate
