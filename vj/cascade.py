"""The in-memory form of a Haar cascade, one-to-one with OpenCV's cascade XML.

A cascade is a list of *stages*; each stage is a boosted sum of *weak classifiers*
(decision stumps or small decision trees), each node of which thresholds the value
of one *Haar feature*. A feature is a weighted sum of rectangle sums over the
detection window. The detector (``vj.detect``) and the trainer both use these
classes; ``vj.opencv_xml`` reads and writes them.

Feature values follow OpenCV's semantics: a node compares the raw weighted
rectangle sum against ``threshold * variance_norm_factor``, where the normaliser is
the standard deviation of the pixels of the window's inner rectangle times its area
(see ``vj.detect``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

FEATURE_SETS = ("BASIC", "CORE", "ALL")


def rect_inside_window(x: int, y: int, w: int, h: int, window_size: tuple[int, int], tilted: bool) -> bool:
    """Whether a feature rectangle lies inside the window (so it never reads outside it).

    Upright: ``0 <= x``, ``0 <= y``, ``x + w <= W``, ``y + h <= H``. Tilted (top corner
    ``(x, y)``, ``w`` down-right, ``h`` down-left): ``x - h >= 0``, ``y >= 0``,
    ``x + w <= W``, ``y + w + h <= H``. Sizes must be non-negative.
    """
    width, height = window_size
    if w < 0 or h < 0:
        return False
    if tilted:
        return x - h >= 0 and y >= 0 and x + w <= width and y + w + h <= height
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height


@dataclass
class HaarFeature:
    """A Haar-like feature as OpenCV writes it: weighted rectangles in window coordinates.

    Attributes:
        rects: ``(R, 5)`` float64, columns ``x, y, w, h, weight`` (R is 2 or 3 in
            OpenCV cascades; any R >= 1 is accepted). Coordinates are integer pixels
            of the base window. For a tilted feature, ``(x, y)`` is the top corner of
            a rectangle rotated by 45 degrees, ``w`` runs down-right and ``h``
            down-left (OpenCV's convention).
        tilted: whether the rectangles are 45-degree rotated.
    """

    rects: np.ndarray
    tilted: bool = False

    def __post_init__(self) -> None:
        rects = np.asarray(self.rects, dtype=np.float64)
        if rects.ndim != 2 or rects.shape[1] != 5 or rects.shape[0] < 1:
            raise ValueError(f"HaarFeature.rects must have shape (R, 5) with R >= 1, got {rects.shape}")
        self.rects = rects
        self.tilted = bool(self.tilted)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HaarFeature):
            return NotImplemented
        return self.tilted == other.tilted and np.array_equal(self.rects, other.rects)


@dataclass
class WeakClassifier:
    """A small regression tree in OpenCV's ``internalNodes`` / ``leafValues`` layout.

    Attributes:
        nodes: ``(K, 4)`` float64 rows ``left, right, feature_index, threshold``.
            A child value ``> 0`` is the index of another node; a value ``<= 0`` is a
            leaf, index ``-value``. Evaluation starts at node 0 and goes left when
            ``feature_value < threshold * variance_norm_factor``.
        leaves: ``(K + 1,)`` float64 leaf values. A stump has one node and two leaves.
    """

    nodes: np.ndarray
    leaves: np.ndarray

    def __post_init__(self) -> None:
        nodes = np.asarray(self.nodes, dtype=np.float64).reshape(-1, 4)
        leaves = np.asarray(self.leaves, dtype=np.float64).reshape(-1)
        if nodes.shape[0] < 1:
            raise ValueError("WeakClassifier needs at least one node")
        if leaves.shape[0] != nodes.shape[0] + 1:
            raise ValueError(
                f"WeakClassifier with {nodes.shape[0]} nodes needs {nodes.shape[0] + 1} leaves, got {leaves.shape[0]}"
            )
        self.nodes = nodes
        self.leaves = leaves

    @classmethod
    def stump(cls, feature_index: int, threshold: float, left: float, right: float) -> "WeakClassifier":
        """A one-node tree: ``left`` leaf when ``value < threshold`` (normalised), else ``right``."""
        return cls(np.array([[0.0, -1.0, float(feature_index), float(threshold)]]), np.array([left, right]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeakClassifier):
            return NotImplemented
        return np.array_equal(self.nodes, other.nodes) and np.array_equal(self.leaves, other.leaves)


@dataclass
class Stage:
    """One boosted stage: a window passes when the sum of its leaf values >= threshold."""

    threshold: float
    weak_classifiers: list[WeakClassifier] = field(default_factory=list)


class PackedCascade(NamedTuple):
    """A cascade flattened into arrays for the Numba detector.

    Attributes:
        stage_thresholds: ``(S,)`` float64.
        stage_weak_start: ``(S + 1,)`` int64, weak classifiers of stage s are
            ``stage_weak_start[s]:stage_weak_start[s + 1]``.
        weak_node_start: ``(W + 1,)`` int64, nodes of weak classifier w.
        weak_leaf_start: ``(W + 1,)`` int64, leaves of weak classifier w.
        node_left, node_right: ``(N,)`` int64 child codes (``> 0`` node, ``<= 0`` leaf ``-code``).
        node_feature: ``(N,)`` int64 feature index.
        node_threshold: ``(N,)`` float64.
        leaf_values: ``(L,)`` float64.
        feature_rect_start: ``(F + 1,)`` int64, rectangles of feature f.
        rects: ``(Rtot, 5)`` float64 ``x, y, w, h, weight``.
        feature_tilted: ``(F,)`` bool.
    """

    stage_thresholds: np.ndarray
    stage_weak_start: np.ndarray
    weak_node_start: np.ndarray
    weak_leaf_start: np.ndarray
    node_left: np.ndarray
    node_right: np.ndarray
    node_feature: np.ndarray
    node_threshold: np.ndarray
    leaf_values: np.ndarray
    feature_rect_start: np.ndarray
    rects: np.ndarray
    feature_tilted: np.ndarray


class StagedCascade:
    """What Haar and LBP cascades share: a base window, boosted stages, and pickling.

    ``vj.prepared`` caches a packed form of a cascade on the object (``_vj_prepared``);
    it is rebuilt on demand, so pickles leave it out.
    """

    window_size: tuple[int, int]
    stages: list

    def _check_window_size(self) -> None:
        """Store ``window_size`` as two ints; raises ValueError unless both are positive."""
        w, h = (int(v) for v in self.window_size)
        if w <= 0 or h <= 0:
            raise ValueError(f"window_size must be positive (width, height), got {self.window_size}")
        self.window_size = (w, h)

    def __getstate__(self) -> dict:
        """Pickled state: the fields, without the packed form ``vj.prepared`` keeps on the object."""
        state = self.__dict__.copy()
        state.pop("_vj_prepared", None)
        return state

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return len(self.stages)

    @property
    def num_weak(self) -> int:
        """Total number of weak classifiers over all stages."""
        return sum(len(s.weak_classifiers) for s in self.stages)


@dataclass
class Cascade(StagedCascade):
    """A Haar cascade (OpenCV's ``stageType BOOST``, ``featureType HAAR``).

    Attributes:
        window_size: ``(width, height)`` of the base detection window in pixels.
        features: the Haar features that weak-classifier nodes refer to by index.
        stages: the boosted stages, evaluated in order.
        feature_set: OpenCV's ``featureParams/mode``: ``BASIC``, ``CORE`` or ``ALL``
            (``ALL`` includes tilted features).
    """

    window_size: tuple[int, int]
    features: list[HaarFeature]
    stages: list[Stage]
    feature_set: str = "BASIC"

    def __post_init__(self) -> None:
        self._check_window_size()

    @property
    def has_tilted(self) -> bool:
        """Whether any feature is a 45-degree tilted feature."""
        return any(f.tilted for f in self.features)

    def validate(self) -> None:
        """Check internal consistency; raises ValueError naming the first problem."""
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {self.feature_set!r}")
        n_features = len(self.features)
        for f, feature in enumerate(self.features):
            for x, y, w, h, _ in feature.rects:
                if not rect_inside_window(int(x), int(y), int(w), int(h), self.window_size, feature.tilted):
                    kind = "tilted rectangle" if feature.tilted else "rectangle"
                    raise ValueError(f"feature {f}: {kind} ({x:g}, {y:g}, {w:g}, {h:g}) reaches outside the "
                                     f"{self.window_size[0]}x{self.window_size[1]} window")
        for s, stage in enumerate(self.stages):
            if not stage.weak_classifiers:
                raise ValueError(f"stage {s} has no weak classifiers")
            for w, weak in enumerate(stage.weak_classifiers):
                k = weak.nodes.shape[0]
                for row in weak.nodes:
                    fi = int(row[2])
                    if not 0 <= fi < n_features:
                        raise ValueError(f"stage {s} weak {w}: feature index {fi} outside 0..{n_features - 1}")
                    for child in row[:2]:
                        c = int(child)
                        if (c > 0 and c >= k) or (c <= 0 and -c > k):
                            raise ValueError(f"stage {s} weak {w}: child {c} outside the tree of {k} nodes")

    def pack(self) -> PackedCascade:
        """Flatten into arrays (see ``PackedCascade``) for the compiled evaluators."""
        stage_thresholds = np.array([s.threshold for s in self.stages], dtype=np.float64)
        stage_weak_start = np.zeros(len(self.stages) + 1, dtype=np.int64)
        weaks = [w for s in self.stages for w in s.weak_classifiers]
        for i, s in enumerate(self.stages):
            stage_weak_start[i + 1] = stage_weak_start[i] + len(s.weak_classifiers)
        weak_node_start = np.zeros(len(weaks) + 1, dtype=np.int64)
        weak_leaf_start = np.zeros(len(weaks) + 1, dtype=np.int64)
        for i, w in enumerate(weaks):
            weak_node_start[i + 1] = weak_node_start[i] + w.nodes.shape[0]
            weak_leaf_start[i + 1] = weak_leaf_start[i] + w.leaves.shape[0]
        nodes = np.concatenate([w.nodes for w in weaks]) if weaks else np.zeros((0, 4))
        leaves = np.concatenate([w.leaves for w in weaks]) if weaks else np.zeros(0)
        feature_rect_start = np.zeros(len(self.features) + 1, dtype=np.int64)
        for i, f in enumerate(self.features):
            feature_rect_start[i + 1] = feature_rect_start[i] + f.rects.shape[0]
        rects = np.concatenate([f.rects for f in self.features]) if self.features else np.zeros((0, 5))
        return PackedCascade(
            stage_thresholds=stage_thresholds,
            stage_weak_start=stage_weak_start,
            weak_node_start=weak_node_start,
            weak_leaf_start=weak_leaf_start,
            node_left=nodes[:, 0].astype(np.int64),
            node_right=nodes[:, 1].astype(np.int64),
            node_feature=nodes[:, 2].astype(np.int64),
            node_threshold=np.ascontiguousarray(nodes[:, 3]),
            leaf_values=np.ascontiguousarray(leaves),
            feature_rect_start=feature_rect_start,
            rects=np.ascontiguousarray(rects, dtype=np.float64),
            feature_tilted=np.array([f.tilted for f in self.features], dtype=np.bool_),
        )
