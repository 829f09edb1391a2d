"""Haar feature evaluation and drawing."""
from __future__ import annotations

import numpy as np
import pytest

from vj.cascade import HaarFeature
from vj.features import draw_feature, feature_value, rect_corners, scaled_rects
from vj.integral import integral_image, tilted_integral_image

EDGE = HaarFeature(np.array([[2, 3, 6, 8, -1.0], [2, 3, 6, 4, 2.0]]))  # top half minus bottom half
LINE = HaarFeature(np.array([[1, 1, 9, 4, -1.0], [4, 1, 3, 4, 3.0]]))  # centre stripe minus sides
TILTED = HaarFeature(np.array([[6, 1, 4, 3, -1.0], [6, 1, 2, 3, 2.0]]), tilted=True)


def pixels_sum(image, x, y, w, h):
    return float(image[y : y + h, x : x + w].sum())


def test_upright_features_equal_direct_pixel_sums():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(30, 40)).astype(np.int64)
    sums = integral_image(image)
    for x, y in [(0, 0), (7, 5), (25, 14)]:
        top = pixels_sum(image, x + 2, y + 3, 6, 4)
        bottom = pixels_sum(image, x + 2, y + 7, 6, 4)
        assert feature_value(EDGE, sums, None, x, y) == pytest.approx(top - bottom)
        sides = pixels_sum(image, x + 1, y + 1, 3, 4) + pixels_sum(image, x + 7, y + 1, 3, 4)
        centre = pixels_sum(image, x + 4, y + 1, 3, 4)
        assert feature_value(LINE, sums, None, x, y) == pytest.approx(2 * centre - sides)


def test_tilted_feature_equals_pixel_set_sum():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(20, 20)).astype(np.int64)
    sums, tilted = integral_image(image), tilted_integral_image(image)
    py, px = np.mgrid[0:20, 0:20]

    def tilted_set(x, y, w, h):  # see tests/vj/test_integral.py for this description
        s, t = (px + 1 - x + py - y) / 2, (py - y - (px + 1 - x)) / 2
        return (s >= 0) & (s < w) & (t >= 0) & (t < h)

    x0, y0 = 3, 2
    expected = -image[tilted_set(x0 + 6, y0 + 1, 4, 3)].sum() + 2 * image[tilted_set(x0 + 6, y0 + 1, 2, 3)].sum()
    assert feature_value(TILTED, sums, tilted, x0, y0) == pytest.approx(expected)
    with pytest.raises(ValueError, match="tilted integral"):
        feature_value(TILTED, sums, None, 0, 0)


def test_scaled_feature_on_enlarged_image_keeps_its_value():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(16, 16)).astype(np.int64)
    big = np.kron(image, np.ones((3, 3), dtype=np.int64))  # nearest-neighbour x3
    small_value = feature_value(LINE, integral_image(image), None, 2, 1)
    assert feature_value(LINE, integral_image(big), None, 6, 3, scale=3.0) == pytest.approx(small_value)
    assert np.array_equal(scaled_rects(LINE, 2.0)[:, :4], LINE.rects[:, :4] * 2)


def test_draw_feature_draws_every_rectangle():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for feature in (EDGE, TILTED):
        ax = draw_feature(feature, (12, 12), title="feature")
        assert len(ax.patches) == 1 + feature.rects.shape[0]  # window background + rectangles
        assert [t.get_text() for t in ax.texts] == [f"{w:+g}" for w in feature.rects[:, 4]]
        plt.close(ax.figure)
    corners = rect_corners(6, 1, 4, 3, True)
    assert corners.tolist() == [[6, 1], [10, 5], [7, 8], [3, 4]]
