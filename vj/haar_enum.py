"""Every Haar-like feature of a training window, written as OpenCV writes them.

OpenCV's ``opencv_traincascade`` (``apps/traincascade/haarfeatures.cpp``) expresses
each feature as two or three weighted rectangles: a big rectangle with weight -1
covering the whole feature, plus the "other colour" part with a positive weight
that makes the total a difference of sums. For example the horizontal two-rectangle
feature of cell size ``dx x dy`` at ``(x, y)`` is

    -1 * sum(x, y, 2dx, dy)  +  2 * sum(x + dx, y, dx, dy)  =  right half - left half.

The five BASIC kinds are Viola and Jones' (two-rectangle horizontal / vertical,
three-rectangle horizontal / vertical, four-rectangle "checkerboard"); CORE adds the
four-cell lines (``x4``, ``y4``: two outer cells against the two-cell centre) and the
3x3 centre-surround (``point``); ALL adds Lienhart's 45-degree tilted versions of the
two, three and four-cell lines. Features are enumerated in the same order as
OpenCV's ``generateFeatures`` (loops over x, y, dx, dy; kinds in a fixed order inside),
so a feature's index here is its index in ``opencv_traincascade``.

At 24 x 24 the BASIC set has 162,336 features (the count scikit-image's
``haar_like_feature_coord`` gives for its five types; ``tests/vj_train`` checks both).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vj.cascade import FEATURE_SETS, HaarFeature

#: Kind names in the order OpenCV tries them for one (x, y, dx, dy).
FEATURE_KINDS = (
    "haar_x2", "haar_y2", "haar_x3", "haar_y3", "haar_x4", "haar_y4", "x2_y2", "point",
    "tilted_x2", "tilted_y2", "tilted_x3", "tilted_y3", "tilted_x4", "tilted_y4",
)
_KINDS_OF_SET = {
    "BASIC": ("haar_x2", "haar_y2", "haar_x3", "haar_y3", "x2_y2"),
    "CORE": ("haar_x2", "haar_y2", "haar_x3", "haar_y3", "haar_x4", "haar_y4", "x2_y2", "point"),
    "ALL": FEATURE_KINDS,
}


@dataclass(frozen=True)
class HaarFeaturePool:
    """All candidate features of one window size, as flat arrays (one row per feature).

    Attributes:
        window_size: ``(width, height)`` of the training window in pixels.
        feature_set: ``"BASIC"``, ``"CORE"`` or ``"ALL"``.
        rects: ``(F, 3, 4)`` int32, rectangle ``x, y, w, h`` in window pixels (OpenCV's
            tilted convention for tilted features); unused third rectangles are zeros.
        weights: ``(F, 3)`` float32 rectangle weights; 0 marks an unused rectangle.
        tilted: ``(F,)`` bool, whether the feature's rectangles are rotated 45 degrees.
        kinds: ``(F,)`` uint8, index into ``FEATURE_KINDS``.
    """

    window_size: tuple[int, int]
    feature_set: str
    rects: np.ndarray
    weights: np.ndarray
    tilted: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return int(self.rects.shape[0])

    @property
    def has_tilted(self) -> bool:
        """Whether any feature of the pool is tilted (its values need a tilted integral)."""
        return bool(self.tilted.any())

    def kind_name(self, index: int) -> str:
        """The OpenCV kind name (``haar_x2``, ...) of feature ``index``."""
        return FEATURE_KINDS[int(self.kinds[index])]

    def haar_feature(self, index: int) -> HaarFeature:
        """Feature ``index`` as the cascade data model's ``HaarFeature`` (OpenCV XML form)."""
        if not 0 <= index < len(self):
            raise IndexError(f"feature index {index} outside 0..{len(self) - 1}")
        used = self.weights[index] != 0
        rows = np.concatenate(
            [self.rects[index][used].astype(np.float64), self.weights[index][used, None].astype(np.float64)], axis=1
        )
        return HaarFeature(rects=rows, tilted=bool(self.tilted[index]))


def _kind_rects(kind: str, x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                width: int, height: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Validity mask and rectangles of one kind over candidate (x, y, dx, dy) arrays.

    Returns ``(valid, rects, weights)``: ``valid`` is ``(M,)`` bool, ``rects`` is
    ``(M, 3, 4)`` int32 (x, y, w, h per rectangle), ``weights`` the three weights.
    The geometry and validity conditions are those of OpenCV's ``generateFeatures``.
    """
    zero = np.zeros_like(x)
    if kind == "haar_x2":
        valid = (x + 2 * dx <= width) & (y + dy <= height)
        parts = [(x, y, 2 * dx, dy), (x + dx, y, dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "haar_y2":
        valid = (x + dx <= width) & (y + 2 * dy <= height)
        parts = [(x, y, dx, 2 * dy), (x, y + dy, dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "haar_x3":
        valid = (x + 3 * dx <= width) & (y + dy <= height)
        parts = [(x, y, 3 * dx, dy), (x + dx, y, dx, dy)]
        weights = (-1.0, 3.0, 0.0)
    elif kind == "haar_y3":
        valid = (x + dx <= width) & (y + 3 * dy <= height)
        parts = [(x, y, dx, 3 * dy), (x, y + dy, dx, dy)]
        weights = (-1.0, 3.0, 0.0)
    elif kind == "haar_x4":
        valid = (x + 4 * dx <= width) & (y + dy <= height)
        parts = [(x, y, 4 * dx, dy), (x + dx, y, 2 * dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "haar_y4":
        valid = (x + dx <= width) & (y + 4 * dy <= height)
        parts = [(x, y, dx, 4 * dy), (x, y + dy, dx, 2 * dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "x2_y2":
        valid = (x + 2 * dx <= width) & (y + 2 * dy <= height)
        parts = [(x, y, 2 * dx, 2 * dy), (x, y, dx, dy), (x + dx, y + dy, dx, dy)]
        weights = (-1.0, 2.0, 2.0)
    elif kind == "point":
        valid = (x + 3 * dx <= width) & (y + 3 * dy <= height)
        parts = [(x, y, 3 * dx, 3 * dy), (x + dx, y + dy, dx, dy)]
        weights = (-1.0, 9.0, 0.0)
    elif kind == "tilted_x2":
        valid = (x + 2 * dx <= width) & (y + 2 * dx + dy <= height) & (x - dy >= 0)
        parts = [(x, y, 2 * dx, dy), (x, y, dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "tilted_y2":
        valid = (x + dx <= width) & (y + dx + 2 * dy <= height) & (x - 2 * dy >= 0)
        parts = [(x, y, dx, 2 * dy), (x, y, dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "tilted_x3":
        valid = (x + 3 * dx <= width) & (y + 3 * dx + dy <= height) & (x - dy >= 0)
        parts = [(x, y, 3 * dx, dy), (x + dx, y + dx, dx, dy)]
        weights = (-1.0, 3.0, 0.0)
    elif kind == "tilted_y3":
        valid = (x + dx <= width) & (y + dx + 3 * dy <= height) & (x - 3 * dy >= 0)
        parts = [(x, y, dx, 3 * dy), (x - dy, y + dy, dx, dy)]
        weights = (-1.0, 3.0, 0.0)
    elif kind == "tilted_x4":
        valid = (x + 4 * dx <= width) & (y + 4 * dx + dy <= height) & (x - dy >= 0)
        parts = [(x, y, 4 * dx, dy), (x + dx, y + dx, 2 * dx, dy)]
        weights = (-1.0, 2.0, 0.0)
    elif kind == "tilted_y4":
        valid = (x + dx <= width) & (y + dx + 4 * dy <= height) & (x - 4 * dy >= 0)
        parts = [(x, y, dx, 4 * dy), (x - dy, y + dy, dx, 2 * dy)]
        weights = (-1.0, 2.0, 0.0)
    else:
        raise ValueError(f"unknown feature kind {kind!r}; expected one of {FEATURE_KINDS}")
    while len(parts) < 3:
        parts.append((zero, zero, zero, zero))
    rects = np.stack([np.stack(p, axis=-1) for p in parts], axis=1).astype(np.int32)
    return valid, rects, weights


def enumerate_haar_features(window_size: tuple[int, int] = (24, 24), feature_set: str = "BASIC") -> HaarFeaturePool:
    """Every feature of ``feature_set`` at every position and size inside the window.

    Args:
        window_size: ``(width, height)`` of the training window, both >= 2.
        feature_set: ``"BASIC"`` (Viola-Jones' five kinds), ``"CORE"`` (all upright
            kinds) or ``"ALL"`` (upright and 45-degree tilted), as OpenCV's ``-mode``.

    Returns:
        A ``HaarFeaturePool`` in OpenCV ``generateFeatures`` order.
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
    width, height = (int(v) for v in window_size)
    if width < 2 or height < 2:
        raise ValueError(f"window_size must be at least (2, 2) as (width, height), got {window_size}")
    # All (x, y, dx, dy) in OpenCV's loop order: x outermost, then y, dx, dy.
    x, y, dx, dy = (a.ravel() for a in np.meshgrid(
        np.arange(width), np.arange(height), np.arange(1, width + 1), np.arange(1, height + 1), indexing="ij"))
    loop_index, kind_codes, all_rects, all_weights = [], [], [], []
    for kind in _KINDS_OF_SET[feature_set]:
        valid, rects, weights = _kind_rects(kind, x, y, dx, dy, width, height)
        count = int(valid.sum())
        loop_index.append(np.flatnonzero(valid))
        kind_codes.append(np.full(count, FEATURE_KINDS.index(kind), dtype=np.uint8))
        all_rects.append(rects[valid])
        all_weights.append(np.tile(np.array(weights, dtype=np.float32), (count, 1)))
    loop_index_arr = np.concatenate(loop_index)
    kinds = np.concatenate(kind_codes)
    # OpenCV emits, for each (x, y, dx, dy) in loop order, the valid kinds in FEATURE_KINDS order.
    order = np.lexsort((kinds, loop_index_arr))
    kinds = kinds[order]
    return HaarFeaturePool(
        window_size=(width, height),
        feature_set=feature_set,
        rects=np.ascontiguousarray(np.concatenate(all_rects)[order]),
        weights=np.ascontiguousarray(np.concatenate(all_weights)[order]),
        tilted=kinds >= FEATURE_KINDS.index("tilted_x2"),
        kinds=kinds,
    )
