"""Integral images against naive loops, NumPy against Numba, and exactness on large inputs."""
from __future__ import annotations

import numpy as np
import pytest

from vj.integral import (integral_image, integral_images_fast, rect_sum, squared_integral_image,
                         tilted_integral_image, tilted_rect_sum)


def naive_integrals(image: np.ndarray):
    """Double loops straight from the definitions (Python ints / floats)."""
    height, width = image.shape
    values = image.tolist()
    total = [[0] * (width + 1) for _ in range(height + 1)]
    squares = [[0] * (width + 1) for _ in range(height + 1)]
    tilted = [[0] * (width + 1) for _ in range(height + 1)]
    for big_y in range(height + 1):
        for big_x in range(width + 1):
            for y in range(big_y):
                for x in range(width):
                    v = values[y][x]
                    if x < big_x:
                        total[big_y][big_x] += v
                        squares[big_y][big_x] += v * v
                    if abs(x - (big_x - 1)) <= big_y - 1 - y:
                        tilted[big_y][big_x] += v
    return np.array(total), np.array(squares), np.array(tilted)


SHAPES = [(1, 1), (1, 7), (6, 1), (5, 8), (9, 4)]
DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64]


def random_image(rng, shape, dtype):
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(-3, 300, size=shape).astype(dtype)
    high = min(np.iinfo(dtype).max, 70000) + 1
    return rng.integers(0, high, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_integrals_equal_naive_loops(shape, dtype):
    rng = np.random.default_rng(hash((shape, np.dtype(dtype).name)) % 2**32)
    image = random_image(rng, shape, dtype)
    ref_sum, ref_sq, ref_tilted = naive_integrals(image.astype(np.float64) if image.dtype.kind == "f" else image)
    fast_sum, fast_sq, fast_tilted = integral_images_fast(image, tilted=True)
    for ours in (integral_image(image), fast_sum):
        np.testing.assert_allclose(ours, ref_sum, rtol=1e-12)
    for ours in (squared_integral_image(image), fast_sq):
        np.testing.assert_allclose(ours, ref_sq, rtol=1e-12)
    for ours in (tilted_integral_image(image), fast_tilted):
        np.testing.assert_allclose(ours, ref_tilted, rtol=1e-12)
    if image.dtype.kind in "iu":  # integer images: exact and int64
        assert fast_sum.dtype == np.int64 and integral_image(image).dtype == np.int64
        assert np.array_equal(fast_sum, ref_sum) and np.array_equal(fast_sq, ref_sq)
        assert np.array_equal(fast_tilted, ref_tilted)


def test_integrals_match_opencv():
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(3).integers(0, 256, size=(37, 52), dtype=np.uint8)
    ref_sum, ref_sq, ref_tilted = cv2.integral3(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    assert np.array_equal(integral_image(image), ref_sum)
    assert np.array_equal(squared_integral_image(image), ref_sq)
    assert np.array_equal(tilted_integral_image(image), ref_tilted)


def test_uint8_saturation_does_not_wrap():
    """All-255 images: squares exceed uint8/uint16 and sums exceed int32 on large images."""
    image = np.full((300, 500), 255, dtype=np.uint8)
    rows, cols = np.mgrid[0:301, 0:501]
    expected = 255 * rows * cols
    assert np.array_equal(integral_image(image), expected)
    assert np.array_equal(squared_integral_image(image), 255 * expected)
    fast_sum, fast_sq, _ = integral_images_fast(image)
    assert np.array_equal(fast_sum, expected) and np.array_equal(fast_sq, 255 * expected)


def test_4000_by_4000_is_exact():
    image = np.random.default_rng(4).integers(0, 256, size=(4000, 4000), dtype=np.uint8)
    image[:100, :] = 255
    fast_sum, fast_sq, fast_tilted = integral_images_fast(image, tilted=True)
    total = int(image.sum(dtype=np.int64))
    squares = int((image.astype(np.int64) ** 2).sum())
    assert squares > 2**32  # the case int32 accumulators would get wrong
    assert int(fast_sum[-1, -1]) == total and int(fast_sq[-1, -1]) == squares
    assert np.array_equal(fast_sum, integral_image(image))
    assert np.array_equal(fast_sq, squared_integral_image(image))
    assert np.array_equal(fast_tilted, tilted_integral_image(image))
    wide = image.astype(np.int64)
    for big_y, big_x in [(4000, 2000), (4000, 0), (2500, 4000), (3999, 17)]:
        # definition: rows y < Y, columns |x - (X - 1)| <= Y - 1 - y (clipped to the image)
        expected = sum(int(wide[y, max(0, big_x - big_y + y) : min(4000, big_x + big_y - 1 - y)].sum())
                       for y in range(big_y))
        assert int(fast_tilted[big_y, big_x]) == expected


def test_rect_sums_equal_pixel_sums():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(21, 23)).astype(np.int64)
    sums, tilted = integral_image(image), tilted_integral_image(image)
    py, px = np.mgrid[0:21, 0:23]
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 7, size=2))
        x, y = int(rng.integers(0, 23 - w + 1)), int(rng.integers(0, 21 - h + 1))
        assert rect_sum(sums, x, y, w, h) == image[y : y + h, x : x + w].sum()
        if 21 - w - h >= 0 and 23 - w >= h:
            x, y = int(rng.integers(h, 23 - w + 1)), int(rng.integers(0, 21 - w - h + 1))
            # pixel (px, py) belongs to the 45-degree rectangle when its top-right corner
            # (px + 1, py) = (x, y) + s (1, 1) + t (-1, 1) with 0 <= s < w, 0 <= t < h
            s = (px + 1 - x + py - y) / 2
            t = (py - y - (px + 1 - x)) / 2
            inside = (s >= 0) & (s < w) & (t >= 0) & (t < h)
            assert inside.sum() == 2 * w * h
            assert tilted_rect_sum(tilted, x, y, w, h) == image[inside].sum()


def test_rejects_non_2d_and_bad_dtypes():
    with pytest.raises(ValueError, match="2-D"):
        integral_image(np.zeros((2, 2, 3)))
    with pytest.raises(TypeError, match="dtype"):
        integral_images_fast(np.zeros((2, 2), dtype=complex))
