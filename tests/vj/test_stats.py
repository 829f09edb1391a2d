"""vj.stats: per-stage window counts, checked against the detector itself.

The independent check: the windows that reach stage k are exactly the raw detections
of the cascade cut after its first k stages (OpenCV's skip rule depends on stage 0
only, so it is the same for every cut).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vj
from vj.cascade import Cascade
from vj.stats import LOW_CONTRAST, SKIPPED, stage_depths, stage_pass_counts

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

CASCADES = ("haarcascade_frontalface_default.xml",  # stumps
            "haarcascade_eye_tree_eyeglasses.xml")  # trees with tilted features


def _cascade(name: str) -> Cascade:
    return vj.load_cascade(Path(cv2.data.haarcascades) / name)


def _photo() -> np.ndarray:
    """The astronaut photo shrunk to 200 x 200 grey (fast, still has a face)."""
    gray = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (200, 200), interpolation=cv2.INTER_AREA)


def _first_stages(cascade: Cascade, k: int) -> Cascade:
    return Cascade(cascade.window_size, cascade.features, cascade.stages[:k], cascade.feature_set)


@pytest.mark.parametrize("name", CASCADES)
def test_reached_counts_match_detect_raw_of_truncated_cascades(name):
    cascade, image = _cascade(name), _photo()
    counts = stage_pass_counts(image, cascade, scale_factor=1.2)
    n_stages = cascade.num_stages
    assert counts.reached.shape == (n_stages + 1,)
    for k in sorted({1, 2, 3, n_stages // 2, n_stages}):
        boxes, _ = vj.detect_raw(image, _first_stages(cascade, k), scale_factor=1.2)
        assert counts.reached[k] == len(boxes), f"stage {k}"
    assert counts.accepted == len(vj.detect_raw(image, cascade, scale_factor=1.2)[0])


@pytest.mark.parametrize("name", CASCADES)
def test_counts_add_up_and_skips_follow_stage0_failures(name):
    cascade, image = _cascade(name), _photo()
    levels = stage_depths(image, cascade, scale_factor=1.2)
    counts = stage_pass_counts(image, cascade, scale_factor=1.2)
    assert counts.windows == sum(level.depth.size for level in levels)
    assert counts.reached[0] + counts.skipped + counts.low_contrast == counts.windows
    assert np.all(np.diff(counts.reached) <= 0)
    assert counts.rejected.sum() + counts.accepted == counts.reached[0]
    assert counts.weak_evaluations == sum(int(r) * len(s.weak_classifiers)
                                          for r, s in zip(counts.reached, cascade.stages))
    assert 0 < counts.mean_weak_per_window < cascade.num_weak
    for level in levels:
        d = level.depth
        assert d.min() >= SKIPPED and d.max() <= cascade.num_stages
        rows, cols = np.nonzero(d == SKIPPED)
        assert np.all(cols > 0) and np.all(d[rows, cols - 1] == 0)


def test_flat_image_is_all_low_contrast():
    cascade = _cascade(CASCADES[0])
    counts = stage_pass_counts(np.full((60, 80), 128, np.uint8), cascade, scale_factor=1.25)
    assert counts.windows > 0
    assert counts.low_contrast == counts.windows
    assert counts.skipped == 0 and not counts.reached.any()
    assert all(np.all(level.depth == LOW_CONTRAST) for level in stage_depths(np.zeros((30, 30)), cascade))


def test_no_window_fits_and_bad_scale_factor():
    cascade = _cascade(CASCADES[0])
    assert stage_depths(np.zeros((10, 10), np.uint8), cascade) == []
    counts = stage_pass_counts(np.zeros((10, 10), np.uint8), cascade)
    assert counts.windows == 0 and counts.mean_weak_per_window == 0
    with pytest.raises(ValueError, match="scale_factor"):
        stage_pass_counts(np.zeros((40, 40), np.uint8), cascade, scale_factor=1.0)
