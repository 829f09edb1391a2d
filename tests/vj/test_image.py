"""Grey conversion and the bit-exact bilinear resize against OpenCV."""
from __future__ import annotations

import numpy as np
import pytest

from vj.image import linear_coefficients, resize_bilinear, resize_bilinear_reference, to_gray_uint8

cv2 = pytest.importorskip("cv2")


def test_resize_equals_opencv_linear_exact():
    rng = np.random.default_rng(0)
    for trial in range(150):
        height, width = (int(v) for v in rng.integers(1, 90, size=2))
        image = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
        if trial % 3 == 0:  # smooth ramps exercise the rounding of nearly equal neighbours
            image = (np.add.outer(np.arange(height), np.arange(width)) * 7 % 256).astype(np.uint8)
        factor = np.float32(rng.uniform(1.0, 5.0))
        dst_w = int(np.rint(np.float32(width) / factor))
        dst_h = int(np.rint(np.float32(height) / factor))
        if dst_w < 1 or dst_h < 1:
            continue
        ref = cv2.resize(image, (dst_w, dst_h), fx=1 / float(factor), fy=1 / float(factor),
                         interpolation=cv2.INTER_LINEAR_EXACT)
        assert np.array_equal(resize_bilinear(image, dst_w, dst_h), ref), (height, width, dst_h, dst_w)
        assert np.array_equal(resize_bilinear_reference(image, dst_w, dst_h), ref), (height, width, dst_h, dst_w)


def test_resize_to_same_size_and_exact_halving():
    image = np.random.default_rng(1).integers(0, 256, size=(40, 60), dtype=np.uint8)
    assert np.array_equal(resize_bilinear(image, 60, 40), image)
    half = resize_bilinear(image, 30, 20)
    blocks = image.reshape(20, 2, 30, 2).astype(int).sum(axis=(1, 3))
    assert np.array_equal(half, (blocks + 2) >> 2)  # the 2x2 mean, rounded half up


def test_linear_coefficients_sum_to_one():
    offsets, weights, first, stop = linear_coefficients(100, 37)
    assert np.all(weights.sum(axis=1) == 256) and 0 <= first <= stop <= 37
    assert np.all(np.diff(offsets[first:stop]) >= 0) and offsets.max() <= 99


def test_gray_conversion_equals_opencv():
    rgb = np.random.default_rng(2).integers(0, 256, size=(33, 47, 3), dtype=np.uint8)
    assert np.array_equal(to_gray_uint8(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    assert np.array_equal(to_gray_uint8(rgba), cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY))


def test_gray_conversion_of_other_dtypes():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(to_gray_uint8(levels.astype(np.float64) / 255), levels)
    assert np.array_equal(to_gray_uint8(levels.astype(np.uint16) * 257), levels)
    assert np.array_equal(to_gray_uint8(np.array([[-0.5, 1.5]])), np.array([[0, 255]], dtype=np.uint8))
    assert to_gray_uint8(np.zeros((0, 5))).shape == (0, 5)
    with pytest.raises(ValueError, match="NaN"):
        to_gray_uint8(np.array([[0.1, np.inf]]))
