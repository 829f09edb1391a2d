"""LBP cascades: OpenCV's multi-block local binary pattern features and categorical splits.

An LBP cascade (``featureType LBP`` in OpenCV's XML) has the same stage structure as a
Haar cascade, but its features and splits differ:

- a *feature* is a rectangle ``(x, y, w, h)`` of the window: the top-left cell of a
  3 x 3 grid of ``w x h`` cells (the block spans ``3w x 3h`` pixels). Its value is an
  8-bit code, one bit per outer cell, set when that cell's pixel sum is ``>=`` the
  centre cell's sum. Clockwise from the top-left cell the bits are 128, 64, 32 (top
  row), 16 (middle right), 8, 4, 2 (bottom row, right to left) and 1 (middle left).
  Sums are read from the upright integral image of the pyramid level; unlike Haar
  features there is no variance normalisation;
- a *node* sends the window left when bit ``code`` of its 256-bit category subset is
  set: ``subset[code >> 5] & (1 << (code & 31))``, the subset being eight 32-bit words
  (OpenCV writes them as signed integers).

Stage sums, thresholds (``float32(threshold) - 1e-5f``), window stepping, pyramid and
grouping are those of Haar cascades (``vj.detect``). ``vj.evaluate_lbp`` holds the
compiled scan, ``vj.lbp_xml`` the XML reading and writing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cascade import StagedCascade

SUBSET_WORDS = 8  # 256 categories / 32 bits
STAGE_THRESHOLD_EPS = np.float32(1e-5)
EARLY_DECISION_MARGIN = 1e-6  # far above the rounding of a double sum of a few hundred float32 leaves


@dataclass
class LbpWeakClassifier:
    """A small categorical tree in OpenCV's layout.

    Attributes:
        nodes: ``(K, 3)`` int64 rows ``left, right, feature_index``; a child ``> 0`` is a
            node index, ``<= 0`` the leaf ``-child``.
        subsets: ``(K, 8)`` int32 category subsets: the window goes left when bit
            ``code & 31`` of word ``code >> 5`` is set.
        leaves: ``(K + 1,)`` float64 leaf values. A stump (K = 1) takes leaf 0 when
            its bit is set, leaf 1 otherwise.
    """

    nodes: np.ndarray
    subsets: np.ndarray
    leaves: np.ndarray

    def __post_init__(self) -> None:
        nodes = np.asarray(self.nodes, dtype=np.int64).reshape(-1, 3)
        subsets = np.asarray(self.subsets)
        if subsets.dtype.kind not in "iu":
            raise ValueError(f"LbpWeakClassifier.subsets must be integers, got {subsets.dtype}")
        subsets = subsets.astype(np.int64).reshape(-1, SUBSET_WORDS)
        if subsets.size and (subsets.min() < -(2**31) or subsets.max() >= 2**32):
            raise ValueError("LbpWeakClassifier.subsets must be 32-bit words")
        leaves = np.asarray(self.leaves, dtype=np.float64).reshape(-1)
        if nodes.shape[0] < 1:
            raise ValueError("LbpWeakClassifier needs at least one node")
        if subsets.shape[0] != nodes.shape[0]:
            raise ValueError(f"{nodes.shape[0]} nodes need {nodes.shape[0]} subsets of 8 words, got {subsets.shape[0]}")
        if leaves.shape[0] != nodes.shape[0] + 1:
            raise ValueError(f"{nodes.shape[0]} nodes need {nodes.shape[0] + 1} leaves, got {leaves.shape[0]}")
        self.nodes = nodes
        self.subsets = subsets.astype(np.uint32).view(np.int32) if subsets.size else subsets.astype(np.int32)
        self.leaves = leaves

    @classmethod
    def stump(cls, feature_index: int, codes_left: "np.ndarray | list[int]", left: float,
              right: float) -> "LbpWeakClassifier":
        """A one-node tree sending the codes in ``codes_left`` (values 0..255) to ``left``."""
        bits = np.zeros(256, dtype=np.uint64)
        bits[np.asarray(codes_left, dtype=np.int64)] = 1
        words = (bits.reshape(SUBSET_WORDS, 32) << np.arange(32, dtype=np.uint64)).sum(axis=1)
        return cls(np.array([[0, -1, feature_index]]), words.astype(np.uint32).view(np.int32)[None, :],
                   np.array([left, right]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LbpWeakClassifier):
            return NotImplemented
        return (np.array_equal(self.nodes, other.nodes) and np.array_equal(self.subsets, other.subsets)
                and np.array_equal(self.leaves, other.leaves))


@dataclass
class LbpStage:
    """One boosted stage: a window passes when the sum of its leaf values >= threshold."""

    threshold: float
    weak_classifiers: list[LbpWeakClassifier] = field(default_factory=list)


@dataclass
class LbpCascade(StagedCascade):
    """An LBP cascade (OpenCV's ``stageType BOOST``, ``featureType LBP``).

    Attributes:
        window_size: ``(width, height)`` of the base window in pixels.
        features: ``(F, 4)`` int64 ``x, y, w, h``: top-left cell and cell size of each
            3 x 3 block (the block must lie inside the window).
        stages: the boosted stages, evaluated in order.
    """

    window_size: tuple[int, int]
    features: np.ndarray
    stages: list[LbpStage]

    def __post_init__(self) -> None:
        self._check_window_size()
        self.features = np.asarray(self.features, dtype=np.int64).reshape(-1, 4)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LbpCascade):
            return NotImplemented
        return (self.window_size == other.window_size and np.array_equal(self.features, other.features)
                and self.stages == other.stages)

    def validate(self) -> None:
        """Check internal consistency; raises ValueError naming the first problem."""
        width, height = self.window_size
        for f, (x, y, w, h) in enumerate(self.features.tolist()):
            if w < 1 or h < 1 or x < 0 or y < 0 or x + 3 * w > width or y + 3 * h > height:
                raise ValueError(f"feature {f}: block ({x}, {y}) of 3x3 cells {w}x{h} reaches outside the "
                                 f"{width}x{height} window")
        n_features = self.features.shape[0]
        for s, stage in enumerate(self.stages):
            if not stage.weak_classifiers:
                raise ValueError(f"stage {s} has no weak classifiers")
            for w, weak in enumerate(stage.weak_classifiers):
                k = weak.nodes.shape[0]
                for left, right, fi in weak.nodes.tolist():
                    if not 0 <= fi < n_features:
                        raise ValueError(f"stage {s} weak {w}: feature index {fi} outside 0..{n_features - 1}")
                    for c in (left, right):
                        if (c > 0 and c >= k) or (c <= 0 and -c > k):
                            raise ValueError(f"stage {s} weak {w}: child {c} outside the tree of {k} nodes")


@dataclass(frozen=True)
class PreparedLbpCascade:
    """An LBP cascade packed once into the flat arrays ``vj.evaluate_lbp`` reads.

    ``vj.detect.prepare_cascade`` builds it; ``detect_multi_scale`` accepts it in place
    of the ``LbpCascade``. A snapshot: later changes to the cascade are not seen.
    """

    cascade: LbpCascade
    is_stumps: bool  # every weak classifier is one node: node w is weak classifier w, leaves 2w and 2w + 1
    stage_first: np.ndarray  # (S + 1,) int64 first weak classifier of each stage
    stage_thr: np.ndarray  # (S,) float64 holding float32(threshold) - 1e-5f
    weak_node: np.ndarray  # (W,) int64 first node of each weak classifier
    weak_leaf: np.ndarray  # (W,) int64 first leaf of each weak classifier
    node_cells: np.ndarray  # (N, 4) int64 x, y, w, h of each node's feature
    node_child: np.ndarray  # (2 N,) int64 left, right child codes (stumps: 0, -1)
    node_subset: np.ndarray  # (8 N,) uint32 category subset words
    leaves: np.ndarray  # (L,) float64 holding float32 leaf values
    stump_bounds: np.ndarray  # (2 N,) float64 stumps only: early fail / pass bounds after each node

    @property
    def window_size(self) -> tuple[int, int]:
        """``(width, height)`` of the base window."""
        return self.cascade.window_size


def prepare_lbp_cascade(cascade: LbpCascade) -> PreparedLbpCascade:
    """Pack an ``LbpCascade`` (validated first) for the compiled scan."""
    cascade.validate()
    if not cascade.stages:
        raise ValueError("the cascade has no stages")
    weaks = [w for s in cascade.stages for w in s.weak_classifiers]
    stage_first = np.concatenate([[0], np.cumsum([len(s.weak_classifiers) for s in cascade.stages])])
    nodes_per_weak = np.array([w.nodes.shape[0] for w in weaks], dtype=np.int64)
    weak_node = np.concatenate([[0], np.cumsum(nodes_per_weak)[:-1]])
    weak_leaf = np.concatenate([[0], np.cumsum(nodes_per_weak + 1)[:-1]])
    nodes = np.concatenate([w.nodes for w in weaks])
    children = nodes[:, :2].copy()
    is_stumps = bool(np.all(nodes_per_weak == 1))
    if is_stumps:
        children[:] = (0, -1)  # OpenCV's stumps take leaf 0 / leaf 1 whatever the child codes say
    f32 = np.float32
    stage_thr = np.array([s.threshold for s in cascade.stages], dtype=f32) - STAGE_THRESHOLD_EPS
    leaves = np.concatenate([w.leaves for w in weaks]).astype(f32).astype(np.float64)
    return PreparedLbpCascade(
        cascade=cascade,
        is_stumps=is_stumps,
        stage_first=stage_first.astype(np.int64),
        stage_thr=stage_thr.astype(np.float64),
        weak_node=weak_node.astype(np.int64),
        weak_leaf=weak_leaf.astype(np.int64),
        node_cells=np.ascontiguousarray(cascade.features[nodes[:, 2]]),
        node_child=np.ascontiguousarray(children.reshape(-1), dtype=np.int64),
        node_subset=np.ascontiguousarray(np.concatenate([w.subsets for w in weaks]).reshape(-1)).view(np.uint32),
        leaves=leaves,
        stump_bounds=_stump_bounds(stage_first, stage_thr.astype(np.float64), leaves) if is_stumps else np.zeros(0),
    )


def _stump_bounds(stage_first: np.ndarray, stage_thr: np.ndarray, leaves: np.ndarray) -> np.ndarray:
    """``(2 N,)`` early-decision bounds of a stump cascade (see ``vj.evaluate_lbp._run_lbp_stumps``).

    After node ``n`` of stage ``s``, with ``hi`` / ``lo`` the largest / smallest sum the
    stage's remaining stumps can still add: the stage fails for a sum below
    ``thr - hi - margin`` and passes for one at or above ``thr - lo + margin``. The last
    node of a stage leaves the decision to the exact test (infinite bounds), and the
    last stage never passes early (its exact sum is the window's score).
    """
    pairs = leaves.reshape(-1, 2)
    bounds = np.empty((pairs.shape[0], 2))
    n_stages = stage_thr.shape[0]
    for s in range(n_stages):
        first, stop = int(stage_first[s]), int(stage_first[s + 1])
        hi = np.concatenate([np.cumsum(pairs[first:stop, :].max(axis=1)[::-1])[::-1][1:], [0.0]])
        lo = np.concatenate([np.cumsum(pairs[first:stop, :].min(axis=1)[::-1])[::-1][1:], [0.0]])
        bounds[first:stop, 0] = stage_thr[s] - hi - EARLY_DECISION_MARGIN
        bounds[first:stop, 1] = stage_thr[s] - lo + EARLY_DECISION_MARGIN
        bounds[stop - 1] = (-np.inf, np.inf)
        if s == n_stages - 1:
            bounds[first:stop, 1] = np.inf
    return bounds.reshape(-1)


def lbp_code(integral: np.ndarray, x: int, y: int, w: int, h: int) -> int:
    """Readable reference of one feature's 8-bit code at window offset ``(x, y)``.

    Args:
        integral: ``(H + 1, W + 1)`` upright integral image (``vj.integral.integral_image``).
        x, y, w, h: the feature's top-left cell (already shifted by the window position)
            and cell size.
    """
    def cell(i: int, j: int) -> int:
        x0, y0 = x + j * w, y + i * h
        return int(integral[y0, x0] - integral[y0, x0 + w] - integral[y0 + h, x0] + integral[y0 + h, x0 + w])

    centre = cell(1, 1)
    order = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]  # bits 128 down to 1
    return sum(1 << (7 - k) for k, (i, j) in enumerate(order) if cell(i, j) >= centre)
