"""Boosted decision trees over Haar features, as opencv_traincascade grows them
(``-maxDepth``, ``-bt RAB`` / ``-bt LB``): the weak classifier of a round when it is
deeper than a stump, or when the boosting is Real AdaBoost or LogitBoost.

Growth (OpenCV's ``CvDTree::try_split_node`` with traincascade's parameters). The
tree is trained on the samples weight trimming keeps (``vj.boost.trimmed_mask``) and
of positive weight. A node is a leaf when its depth (the root's is 0) has reached
``max_depth``, when it holds at most ``MIN_SAMPLE_COUNT`` samples, when it is pure
(classification trees: one class only; regression trees: ``sqrt(risk) / n <
REGRESSION_ACCURACY``, OpenCV's renormalised risk, which is ``sqrt(sum w t^2 - (sum w
t)^2 / W) / W``), or when no feature separates its samples; otherwise it splits on
the best split over its own samples. The tree grows one level at a time, so that
``vj.tree_search.best_level_splits`` builds the histograms of all the level's nodes in
one pass over the bins (the same splits as a search per node). ``max_depth = 1`` gives
a stump.

Leaf values, over the leaf's training samples of weights ``w`` (OpenCV's
``CvBoostTree::calc_node_value``), rounded to float32 as OpenCV writes them:

* ``gentle`` / ``logit`` (regression trees): the weighted mean of the targets
  (``+-1``; LogitBoost's working response ``z``);
* ``real``: ``0.5 * log_ratio(p)``, ``p`` the face share of the weight and
  ``log_ratio(p) = log(p / (1 - p))`` with ``p`` clamped to ``[1e-5, 1 - 1e-5]``;
* ``discrete``: the majority class (1 face, 0 non-face), which ``vj.boost`` then
  scales by the round's ``alpha`` (Viola and Jones' leaves 0 / alpha).

Weight updates of the round (``CvCascadeBoost::update_weights``), on every sample,
then normalised to sum 1: ``real`` and ``gentle`` ``w *= exp(-y f)`` (``y = +-1``, ``f``
the sample's leaf value, ``exp_loss_weights``); ``logit`` (``logit_weights``) replaces
the weights and targets from the stage sum so far. As for stumps (``vj.boost``), the
updates use the float32 leaf values OpenCV writes (OpenCV itself uses their double
values), so that the stage sums of training are the detector's.

The tree is written in OpenCV's layout (``TrainedTree``): internal nodes numbered in
breadth-first order from the root, leaves numbered as a breadth-first walk meets them
(left child before right), exactly as ``CvCascadeBoostTree::write`` numbers them.

Where vj differs from OpenCV, on purpose: a split may fall between any two distinct
float32 values (OpenCV's search skips values closer than ``2 FLT_EPSILON``); training
sends a value left when ``value < threshold``, the detector's rule (OpenCV's trainer
uses ``<=``; the threshold is a midpoint, so only a value equal to it differs); and
``discrete`` leaves are Viola and Jones' 0 / alpha rather than OpenCV's -alpha / +alpha
(the same decisions once the stage threshold is set from the hit rate).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from vj.cascade import WeakClassifier
from vj.train_features import TrainingSet
from vj.tree_search import best_level_splits

#: OpenCV's ``CvDTreeParams`` defaults that traincascade keeps: a node of at most this
#: many samples is not split; a regression node this pure is not split.
MIN_SAMPLE_COUNT = 10
REGRESSION_ACCURACY = float(np.float32(0.01))
#: ``log_ratio``'s clamp of a probability (OpenCV's ``logRatio``).
LOG_RATIO_EPS = 1e-5
#: LogitBoost: smallest weight and largest ``|z|`` (OpenCV's ``lbWeightThresh``, ``lbZMax``).
LOGIT_MIN_WEIGHT = float(np.finfo(np.float32).eps)
LOGIT_MAX_Z = 10.0
#: LogitBoost's first targets: ``+-2``, the working response at ``F = 0``.
LOGIT_START_Z = 2.0
TREE_BOOST_TYPES = ("discrete", "gentle", "real", "logit")


class UnsplittableRootError(ValueError):
    """No split of the tree's root is allowed: too few samples, one class only, or no
    feature separates them."""


@dataclass(frozen=True)
class TrainedTree:
    """One boosting round's weak classifier as a tree, in OpenCV's layout.

    Attributes:
        features: ``(K,)`` pool feature index of each internal node (node 0 the root).
        thresholds: ``(K,)`` float32 thresholds; ``value < threshold`` goes left.
        children: ``(K,)`` ``(left, right)`` codes: ``> 0`` an internal node, ``<= 0``
            the leaf ``-code``.
        leaves: ``(K + 1,)`` leaf values added to the stage sum (float32 values).
        error: the round's weighted error (``discrete``: ``eps``; otherwise the
            weighted squared error of each leaf's weighted mean target, ``+-1`` or
            LogitBoost's ``z``, over the samples the tree was trained on).
    """

    features: tuple[int, ...]
    thresholds: tuple[float, ...]
    children: tuple[tuple[int, int], ...]
    leaves: tuple[float, ...]
    error: float

    @property
    def feature_index(self) -> int:
        """The root's pool feature index (what a stump's ``feature_index`` is)."""
        return self.features[0]

    def leaf_index(self, values: np.ndarray) -> np.ndarray:
        """``(N,)`` int64 leaf of each sample, given ``(K, N)`` float32 values of the
        node features (row k: feature ``features[k]``)."""
        values = np.asarray(values, dtype=np.float32).reshape(len(self.features), -1)
        node = np.zeros(values.shape[1], dtype=np.int64)
        leaf = np.full(values.shape[1], -1, dtype=np.int64)
        thresholds = np.array(self.thresholds, dtype=np.float32)
        codes = np.array(self.children, dtype=np.int64).reshape(-1, 2)
        pending = np.arange(values.shape[1])
        while pending.size:
            at = node[pending]
            goes_left = values[at, pending] < thresholds[at]
            code = np.where(goes_left, codes[at, 0], codes[at, 1])
            done = code <= 0
            leaf[pending[done]] = -code[done]
            node[pending[~done]] = code[~done]
            pending = pending[~done]
        return leaf

    def leaf_values(self, values: np.ndarray) -> np.ndarray:
        """``(N,)`` float64 leaf value of each sample, given ``(K, N)`` node feature values."""
        return np.asarray(self.leaves, dtype=np.float64)[self.leaf_index(values)]

    def with_leaves(self, leaves: Sequence[float]) -> "TrainedTree":
        """This tree with other leaf values (e.g. discrete classes scaled by alpha)."""
        return replace(self, leaves=tuple(float(np.float32(v)) for v in leaves))

    def weak_classifier(self, cascade_feature_indices: Sequence[int]) -> WeakClassifier:
        """This tree in the cascade data model, node k's feature at ``cascade_feature_indices[k]``."""
        nodes = [[left, right, int(f), t] for (left, right), f, t in
                 zip(self.children, cascade_feature_indices, self.thresholds, strict=True)]
        return WeakClassifier(np.array(nodes, dtype=np.float64), np.array(self.leaves, dtype=np.float64))


def log_ratio(p: np.ndarray | float) -> np.ndarray:
    """OpenCV's ``logRatio``: ``log(p / (1 - p))`` with ``p`` clamped to ``[1e-5, 1 - 1e-5]``."""
    p = np.clip(np.asarray(p, dtype=np.float64), LOG_RATIO_EPS, 1.0 - LOG_RATIO_EPS)
    return np.log(p / (1.0 - p))


def real_leaf_value(face_weight: float, nonface_weight: float) -> float:
    """Real AdaBoost's leaf: ``0.5 * log_ratio(P / (P + Q))`` of its face / non-face weight."""
    return float(0.5 * log_ratio(face_weight / (face_weight + nonface_weight)))


def exp_loss_weights(weights: np.ndarray, is_face: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Gentle and Real AdaBoost's update: ``(N,)`` ``w * exp(-y f)`` normalised to sum 1.

    Args:
        weights: ``(N,)`` weights before the round.
        is_face: ``(N,)`` bool, ``y = +1`` where True, else -1.
        f: ``(N,)`` the round's leaf value of each sample.
    """
    new = np.asarray(weights, np.float64) * np.exp(-np.where(is_face, 1.0, -1.0) * np.asarray(f, np.float64))
    return new / new.sum()


def logit_weights(scores: np.ndarray, is_face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LogitBoost's weights and working responses from the stage sums (OpenCV's update).

    OpenCV accumulates ``F += 0.5 f`` over the trees' leaf values ``f``; the stage sum
    the detector adds is ``sum f``, so ``F = scores / 2``. With
    ``p = 1 / (1 + exp(-2 F))``: ``w = max(p (1 - p), FLT_EPSILON)``, normalised to sum
    1, and ``z = min(1 / p, 10)`` for a face, ``-min(1 / (1 - p), 10)`` for a non-face
    (the response ``((y + 1) / 2 - p) / (p (1 - p))``, clamped), kept in float32.

    Args:
        scores: ``(N,)`` float64 stage sums after the round.
        is_face: ``(N,)`` bool.

    Returns:
        ``(weights (N,) float64, z (N,) float32)``.
    """
    half = 0.5 * np.asarray(scores, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore"):
        p = 1.0 / (1.0 + np.exp(-2.0 * half))
        weights = np.maximum(p * (1.0 - p), LOGIT_MIN_WEIGHT)
        z = np.where(is_face, np.minimum(1.0 / p, LOGIT_MAX_Z), -np.minimum(1.0 / (1.0 - p), LOGIT_MAX_Z))
    return weights / weights.sum(), z.astype(np.float32)


class _Node:
    """A node while the tree grows: its samples and, once decided, its split or leaf value."""

    def __init__(self, samples: np.ndarray, depth: int) -> None:
        self.samples, self.depth = samples, depth
        self.split: tuple[int, float] | None = None
        self.children: tuple[_Node, _Node] | None = None
        self.value = 0.0


def _leaf_value(boost_type: str, w: np.ndarray, t: np.ndarray, faces: np.ndarray) -> float:
    if boost_type == "real":
        return real_leaf_value(float(w[faces].sum()), float(w[~faces].sum()))
    if boost_type == "discrete":
        return 1.0 if w[faces].sum() > w[~faces].sum() else 0.0
    return float(np.sum(w * t) / np.sum(w))


def _can_split(node: _Node, boost_type: str, w: np.ndarray, t: np.ndarray, faces: np.ndarray,
               max_depth: int) -> bool:
    """OpenCV's ``try_split_node`` tests, before the split search."""
    n = node.samples.shape[0]
    if n <= MIN_SAMPLE_COUNT or node.depth >= max_depth:
        return False
    if boost_type in ("discrete", "real"):
        return bool(faces.any() and not faces.all())
    total, weighted = float(w.sum()), float(np.sum(w * t))
    sum2 = float(np.sum(w * t * t))
    return not np.sqrt(max(sum2 - weighted / total * weighted, 0.0)) / total < REGRESSION_ACCURACY


def _serialise(root: _Node) -> tuple[list[tuple[int, float]], list[tuple[int, int]], list[_Node]]:
    """OpenCV's breadth-first numbering: the internal nodes' splits and child codes, and the leaves."""
    splits, children, leaves = [], [], []
    queue, next_internal = deque([root]), 1
    while queue:
        node = queue.popleft()
        codes = []
        for child in node.children:
            if child.children is None:
                codes.append(-len(leaves))
                leaves.append(child)
            else:
                codes.append(next_internal)
                next_internal += 1
                queue.append(child)
        splits.append(node.split)
        children.append((codes[0], codes[1]))
    return splits, children, leaves


def grow_tree(data: TrainingSet, weights: np.ndarray, active: np.ndarray, targets: np.ndarray,
              boost_type: str, max_depth: int, use_reference: bool = False) -> tuple[TrainedTree, np.ndarray]:
    """Grow one round's tree (module doc) and route every sample through it.

    Args:
        data: the training set (N samples).
        weights: ``(N,)`` normalised sample weights.
        active: ``(N,)`` bool, the samples the tree is trained on (weight trimming);
            samples of weight 0 are left out too.
        targets: ``(N,)`` the regression targets (``+-1``; LogitBoost's ``z``);
            classification trees (``discrete``, ``real``) score splits on ``+-1``.
        boost_type: ``discrete``, ``gentle``, ``real`` or ``logit``.
        max_depth: most levels of splits (1: a stump).
        use_reference: score the histograms with the NumPy reference.

    Returns:
        ``(tree, leaf (N,) int64)``: the tree (``discrete``: leaves are the classes 1 / 0)
        and the leaf every sample, trained on or not, falls in.

    Raises:
        UnsplittableRootError: the root cannot be split (too few samples, one class,
            or no feature separates them).
    """
    if boost_type not in TREE_BOOST_TYPES:
        raise ValueError(f"boost_type must be one of {TREE_BOOST_TYPES}, got {boost_type!r}")
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    weights = np.asarray(weights, dtype=np.float64)
    is_face = data.labels > 0
    targets = np.asarray(targets, dtype=np.float64)
    criterion_targets = targets if boost_type in ("gentle", "logit") else np.where(is_face, 1.0, -1.0)
    criterion = "misclass" if boost_type == "discrete" else "sqerr"
    order = data.index.order
    column_of = np.empty_like(order)
    column_of[order] = np.arange(order.shape[0])
    w_col = weights[order]
    wt_col = (weights * criterion_targets)[order]
    signs = np.where(is_face, 1.0, -1.0)
    face_col = is_face[order] if np.array_equal(criterion_targets, signs) else None  # one update per sample
    trained = np.asarray(active, dtype=bool) & (weights > 0)
    root = _Node(order[np.sort(column_of[np.flatnonzero(trained)])], 0)
    level, error = [root], 0.0
    while level:  # breadth first, one level at a time: its nodes' histograms in one pass
        splittable = []
        for node in level:
            w, t, faces = weights[node.samples], targets[node.samples], is_face[node.samples]
            node.value = _leaf_value(boost_type, w, t, faces)
            if _can_split(node, boost_type, w, t, faces, max_depth):
                splittable.append(node)
        found = best_level_splits(data, [n.samples for n in splittable], [column_of[n.samples] for n in splittable],
                                  w_col, wt_col, criterion, use_reference, face_col=face_col) if splittable else []
        split_of = {id(node): split for node, split in zip(splittable, found)}
        next_level = []
        for node in level:  # leaves' errors added in breadth-first order
            split = split_of.get(id(node))
            if split is None:
                w, fit = weights[node.samples], criterion_targets[node.samples]
                error += float(np.sum(w * fit * fit) - np.sum(w * fit) ** 2 / np.sum(w))
                continue
            node.split = (split.feature_index, split.threshold)
            node.children = (_Node(node.samples[split.goes_left], node.depth + 1),
                             _Node(node.samples[~split.goes_left], node.depth + 1))
            next_level.extend(node.children)
        level = next_level
    if root.children is None:
        raise UnsplittableRootError(f"the tree's root cannot be split ({root.samples.shape[0]} samples "
                                    f"trained on, {int(is_face[root.samples].sum())} of them faces)")
    splits, children, leaves = _serialise(root)
    tree = TrainedTree(tuple(f for f, _ in splits), tuple(t for _, t in splits), tuple(children),
                       tuple(float(np.float32(leaf.value)) for leaf in leaves), error)
    return tree, tree.leaf_index(data.feature_values(list(tree.features)))
