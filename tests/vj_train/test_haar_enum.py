"""Feature enumeration: the BASIC set is Viola-Jones' (and scikit-image's) five kinds,
written as OpenCV's weighted rectangles; CORE and ALL add OpenCV's extra kinds."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import haar_like_feature_coord

from vj.haar_enum import FEATURE_KINDS, enumerate_haar_features
from vj.train_features import corner_offsets, compute_feature_values, integrate_windows

SKIMAGE_TYPES = ["type-2-x", "type-2-y", "type-3-x", "type-3-y", "type-4"]


def weight_maps(pool) -> np.ndarray:
    """(F, H, W) int8 pixel weight of every upright feature, from its weighted rectangles."""
    width, height = pool.window_size
    ys = np.arange(height)[None, :, None]
    xs = np.arange(width)[None, None, :]
    maps = np.zeros((len(pool), height, width), dtype=np.int8)
    for r in range(3):
        x, y, w, h = (pool.rects[:, r, k][:, None, None] for k in range(4))
        inside = (xs >= x) & (xs < x + w) & (ys >= y) & (ys < y + h)
        maps += (pool.weights[:, r][:, None, None].astype(np.int8) * inside).astype(np.int8)
    return maps


def _line_mask(lines: np.ndarray) -> np.ndarray:
    """(F, L) bool interior lines -> (F,) int64 bit mask (bit c set: a line at c)."""
    return (lines.astype(np.int64) << np.arange(lines.shape[1], dtype=np.int64)).sum(axis=1)


def cell_keys_from_maps(maps: np.ndarray) -> np.ndarray:
    """(F, 6) int64: each feature as its bounding box (y0, x0, y1, x1, inclusive) and
    bit masks of the lines inside it where the pixel weight changes (vertical, horizontal)."""
    nonzero = maps != 0
    cols, rows = nonzero.any(axis=1), nonzero.any(axis=2)
    x0, x1 = cols.argmax(axis=1), cols.shape[1] - 1 - cols[:, ::-1].argmax(axis=1)
    y0, y1 = rows.argmax(axis=1), rows.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    # a change between columns c-1 and c is a vertical line at c; keep those inside the box
    changes_x = np.zeros(cols.shape, dtype=bool)
    changes_x[:, 1:] = (np.diff(maps, axis=2) != 0).any(axis=1)
    changes_y = np.zeros(rows.shape, dtype=bool)
    changes_y[:, 1:] = (np.diff(maps, axis=1) != 0).any(axis=2)
    c = np.arange(cols.shape[1])[None, :]
    r = np.arange(rows.shape[1])[None, :]
    vertical = changes_x & (c > x0[:, None]) & (c <= x1[:, None])
    horizontal = changes_y & (r > y0[:, None]) & (r <= y1[:, None])
    return np.stack([y0, x0, y1, x1, _line_mask(vertical), _line_mask(horizontal)], axis=1)


def cell_keys_from_skimage(coords, types, width: int, height: int) -> np.ndarray:
    """The same keys from scikit-image's inclusive ((r0, c0), (r1, c1)) rectangle lists."""
    keys = []
    for kind in np.unique(types):
        rects = np.array(list(coords[types == kind]))  # (n, k, 2, 2)
        r0, c0 = rects[:, :, 0, 0], rects[:, :, 0, 1]
        y0, x0 = r0.min(axis=1), c0.min(axis=1)
        y1, x1 = rects[:, :, 1, 0].max(axis=1), rects[:, :, 1, 1].max(axis=1)
        vertical = np.zeros((rects.shape[0], width), dtype=bool)
        horizontal = np.zeros((rects.shape[0], height), dtype=bool)
        rows = np.arange(rects.shape[0])[:, None]
        vertical[rows, c0] = True
        horizontal[rows, r0] = True
        vertical[rows[:, 0], x0] = False
        horizontal[rows[:, 0], y0] = False
        keys.append(np.stack([y0, x0, y1, x1, _line_mask(vertical), _line_mask(horizontal)], axis=1))
    return np.concatenate(keys)


def same_key_sets(ours: np.ndarray, theirs: np.ndarray) -> bool:
    ours_unique = np.unique(ours, axis=0)
    return ours_unique.shape[0] == ours.shape[0] and np.array_equal(ours_unique, np.unique(theirs, axis=0))


def test_basic_24x24_count_and_skimage_match():
    pool = enumerate_haar_features((24, 24), "BASIC")
    coords, types = haar_like_feature_coord(24, 24, SKIMAGE_TYPES)
    assert len(pool) == len(coords) == 162_336
    theirs = cell_keys_from_skimage(coords, types, 24, 24)
    assert same_key_sets(cell_keys_from_maps(weight_maps(pool)), theirs)


@pytest.mark.parametrize("size", [(7, 5), (10, 13)])
def test_basic_matches_skimage_on_non_square_windows(size):
    width, height = size
    pool = enumerate_haar_features((width, height), "BASIC")
    coords, types = haar_like_feature_coord(width, height, SKIMAGE_TYPES)
    assert same_key_sets(cell_keys_from_maps(weight_maps(pool)), cell_keys_from_skimage(coords, types, width, height))


def test_opencv_weighted_rectangle_form():
    pool = enumerate_haar_features((24, 24), "CORE")
    feature = pool.haar_feature(0)  # x = y = 0, dx = dy = 1: horizontal two-rectangle
    assert pool.kind_name(0) == "haar_x2"
    assert np.array_equal(feature.rects, [[0, 0, 2, 1, -1], [1, 0, 1, 1, 2]])
    assert not feature.tilted
    # the first rectangle always covers the whole feature with weight -1
    assert np.all(pool.weights[:, 0] == -1)
    for kind, weights in {"haar_x3": (3, 0), "x2_y2": (2, 2), "point": (9, 0), "haar_y4": (2, 0)}.items():
        rows = pool.kinds == FEATURE_KINDS.index(kind)
        assert rows.any()
        assert np.all(pool.weights[rows, 1:] == weights)


def test_sets_nest_and_have_their_kinds():
    pools = {s: enumerate_haar_features((12, 12), s) for s in ("BASIC", "CORE", "ALL")}
    kinds = {s: {p.kind_name(i) for i in np.unique(p.kinds, return_index=True)[1]} for s, p in pools.items()}
    assert kinds["BASIC"] == {"haar_x2", "haar_y2", "haar_x3", "haar_y3", "x2_y2"}
    assert kinds["CORE"] == kinds["BASIC"] | {"haar_x4", "haar_y4", "point"}
    assert kinds["ALL"] == set(FEATURE_KINDS)
    assert not pools["CORE"].has_tilted and pools["ALL"].has_tilted
    def as_set(p):
        return {(bool(t), r.tobytes()) for t, r in zip(p.tilted, p.rects)}
    assert as_set(pools["BASIC"]) < as_set(pools["CORE"]) < as_set(pools["ALL"])


@pytest.mark.parametrize("feature_set", ["CORE", "ALL"])
def test_every_feature_fits_and_cancels_on_a_flat_image(feature_set):
    """Corners index inside the integral table, and the weights balance the areas:
    every feature's raw sum is 0 on a constant image (so features see contrast only)."""
    pool = enumerate_haar_features((11, 9), feature_set)
    offsets = corner_offsets(pool)
    assert offsets.min() >= 0 and offsets.max() < 12 * 10
    flat = np.full((1, 9, 11), 7, dtype=np.uint8)
    integrals = integrate_windows(flat, with_tilted=True)
    raw = compute_feature_values(pool, integrals._replace(inv_norm=np.ones(1, np.float32)))
    assert np.all(raw == 0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="feature_set"):
        enumerate_haar_features((24, 24), "EXTENDED")
    with pytest.raises(ValueError, match="window_size"):
        enumerate_haar_features((1, 24))
    with pytest.raises(IndexError):
        enumerate_haar_features((4, 4)).haar_feature(10_000)
