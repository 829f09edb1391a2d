"""Packing cascades for the detector, and keeping the packed form with each cascade object.

``prepare_cascade`` turns a ``Cascade`` (Haar) into a ``PreparedCascade`` and an
``LbpCascade`` into a ``vj.lbp.PreparedLbpCascade``: flat float32/int arrays the
compiled scans read. Packing a large cascade takes milliseconds, as long as scanning
a small frame, so ``cached_prepared`` keeps the packed form with every cascade object
it is given (an attribute of the object, gone with it) and re-packs only when a
cheap fingerprint of the cascade changes: passing the same ``Cascade`` to
``vj.detect_multi_scale`` for every video frame packs it once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Union

import numpy as np

from .cascade import Cascade
from .lbp import LbpCascade, PreparedLbpCascade, prepare_lbp_cascade

STAGE_THRESHOLD_EPS = np.float32(1e-5)


@dataclass(frozen=True)
class PreparedCascade:
    """A cascade converted once into the flat float32/int arrays the scanner reads.

    Build it with ``prepare_cascade`` and pass it to ``detect_multi_scale`` in place
    of the ``Cascade`` when detecting on many images (video): it saves re-packing the
    cascade (a few milliseconds) for every frame. It is a snapshot: changes made to the
    ``Cascade`` afterwards are not seen (``detect_multi_scale`` given the ``Cascade``
    itself keeps a packed copy with it and re-packs when the cascade changes).
    """

    cascade: Cascade
    is_stumps: bool
    has_tilted: bool
    stage_first: np.ndarray  # (S+1,) first node (stumps) or weak classifier (trees) of each stage
    stage_thr: np.ndarray  # (S,) float64 holding float32(threshold) - 1e-5f
    weak_node: np.ndarray  # (W,) first node of each weak classifier
    weak_leaf: np.ndarray  # (W,) first leaf of each weak classifier
    node_rects: np.ndarray  # (N, 3, 4) int64 x, y, w, h of each node's feature (zero-padded)
    node_tilted: np.ndarray  # (N,) bool
    node_prm: np.ndarray  # (4 N,) float32 w0, w1, w2 (0 = absent), threshold of each node
    node_child: np.ndarray  # (2 N,) int64 left, right child codes
    leaves: np.ndarray  # (L,) float64 holding float32 leaf values
    stump_vals: np.ndarray  # (2 N,) stumps only: leaf value when value < threshold, else
    offsets_cache: dict = field(default_factory=dict, compare=False, repr=False)  # see _rect_offsets


AnyCascade = Union[Cascade, LbpCascade, PreparedCascade, PreparedLbpCascade]
AnyPrepared = Union[PreparedCascade, PreparedLbpCascade]

# Attribute of a cascade object holding (fingerprint, prepared form): kept on the object, so
# that it goes with it (Cascade and LbpCascade leave it out when pickled).
CACHE_ATTRIBUTE = "_vj_prepared"
_weak_lists = attrgetter("weak_classifiers")


def _fingerprint(cascade: Cascade | LbpCascade) -> tuple:
    """What identifies a cascade's content cheaply (tens of microseconds for thousands of weak classifiers).

    Catches: new or removed stages, changed stage thresholds or window size, weak
    classifiers or features added, removed or replaced by other objects, a new feature
    array (LBP, whose features are also compared by value). Not caught: in-place edits of
    a weak classifier's or Haar feature's numpy arrays; call ``prepare_cascade`` again
    after such an edit.
    """
    stages = cascade.stages
    weak_ids = tuple(map(id, chain.from_iterable(map(_weak_lists, stages))))
    head = (cascade.window_size, id(stages), tuple(s.threshold for s in stages), tuple(map(id, stages)), weak_ids)
    if isinstance(cascade, LbpCascade):
        return head + (cascade.features.tobytes(),)
    return head + (cascade.feature_set, id(cascade.features), tuple(map(id, cascade.features)))


def cached_prepared(cascade: AnyCascade) -> AnyPrepared:
    """The prepared form of ``cascade``, packed on first use and kept with the cascade object.

    What ``detect_multi_scale`` and ``vj.CascadeClassifier`` call, so that passing the
    same ``Cascade`` for every video frame costs one pack, not one per frame. The entry is
    re-packed when the cascade's fingerprint (see ``_fingerprint``) has changed.
    """
    if isinstance(cascade, (PreparedCascade, PreparedLbpCascade)):
        return cascade
    if not isinstance(cascade, (Cascade, LbpCascade)):
        raise TypeError(f"expected a vj Cascade or LbpCascade, got {type(cascade).__name__}")
    entry = cascade.__dict__.get(CACHE_ATTRIBUTE)
    if entry is not None and entry[1].cascade is cascade and entry[0] == _fingerprint(cascade):
        return entry[1]
    return prepare_cascade(cascade)


def prepare_cascade(cascade: AnyCascade) -> AnyPrepared:
    """Pack a cascade for ``detect_multi_scale`` (idempotent on a prepared one).

    Always packs afresh (and refreshes the copy ``cached_prepared`` keeps); an
    ``LbpCascade`` gives a ``vj.lbp.PreparedLbpCascade``.
    """
    if isinstance(cascade, (PreparedCascade, PreparedLbpCascade)):
        return cascade
    if isinstance(cascade, LbpCascade):
        prepared: AnyPrepared = prepare_lbp_cascade(cascade)
    elif isinstance(cascade, Cascade):
        prepared = _prepare_haar(cascade)
    else:
        raise TypeError(f"expected a vj Cascade or LbpCascade, got {type(cascade).__name__}")
    cascade.__dict__[CACHE_ATTRIBUTE] = (_fingerprint(cascade), prepared)
    return prepared


def _prepare_haar(cascade: Cascade) -> PreparedCascade:
    """Pack a Haar cascade (validated first)."""
    cascade.validate()
    if not cascade.stages:
        raise ValueError("the cascade has no stages")
    packed = cascade.pack()
    rect_counts = np.diff(packed.feature_rect_start)
    if rect_counts.size and (rect_counts.max() > 3 or rect_counts.min() < 1):
        raise ValueError(f"features must have 1 to 3 rectangles, got up to {rect_counts.max()}")
    n_features = len(cascade.features)
    feature_rects = np.zeros((n_features, 3, 5), dtype=np.float64)
    for f, feature in enumerate(cascade.features):
        feature_rects[f, : feature.rects.shape[0]] = feature.rects
    node_rects = feature_rects[packed.node_feature]
    nodes_per_weak = np.diff(packed.weak_node_start)
    is_stumps = bool(np.all(nodes_per_weak == 1))
    f32 = np.float32
    stage_thr = (packed.stage_thresholds.astype(f32) - STAGE_THRESHOLD_EPS).astype(np.float64)
    leaves = packed.leaf_values.astype(f32).astype(np.float64)
    weak_leaf = packed.weak_leaf_start[:-1]
    if is_stumps:
        # Stump w is node w; its child codes point at its own two leaves.
        stump_vals = np.stack([leaves[weak_leaf - packed.node_left], leaves[weak_leaf - packed.node_right]], axis=1)
    else:
        stump_vals = np.zeros((0, 2))
    weights = node_rects[:, :, 4].astype(f32)
    return PreparedCascade(
        cascade=cascade,
        is_stumps=is_stumps,
        has_tilted=bool(packed.feature_tilted.any()),
        stage_first=packed.stage_weak_start.astype(np.int64),
        stage_thr=stage_thr,
        weak_node=packed.weak_node_start[:-1].astype(np.int64),
        weak_leaf=weak_leaf.astype(np.int64),
        node_rects=node_rects[:, :, :4].astype(np.int64),
        node_tilted=packed.feature_tilted[packed.node_feature],
        node_prm=np.concatenate([weights, packed.node_threshold.astype(f32)[:, None]], axis=1).ravel(),
        node_child=np.stack([packed.node_left, packed.node_right], axis=1).astype(np.int64).ravel(),
        leaves=leaves,
        stump_vals=stump_vals.ravel(),
    )


def _rect_offsets(prepared: PreparedCascade, stride: int, tilted_base: int, dtype: type) -> np.ndarray:
    """``(12 N,)`` unsigned corner offsets of every node's rectangles for a buffer row stride.

    Kept in ``prepared.offsets_cache`` (a few image sizes), as video frames share a size.
    """
    key = (stride, tilted_base, np.dtype(dtype).name)
    cached = prepared.offsets_cache.get(key)
    if cached is not None:
        return cached
    x, y, w, h = (prepared.node_rects[:, :, k] for k in range(4))
    upright = np.stack([y * stride + x, y * stride + x + w, (y + h) * stride + x, (y + h) * stride + x + w], axis=2)
    tilted = tilted_base + np.stack(
        [y * stride + x, (y + h) * stride + (x - h), (y + w) * stride + (x + w), (y + w + h) * stride + (x + w - h)],
        axis=2,
    )
    ofs = np.where(prepared.node_tilted[:, None, None], tilted, upright)
    ofs[prepared.node_prm.reshape(-1, 4)[:, :3] == 0] = 0  # absent rectangles read nothing
    ofs = np.ascontiguousarray(ofs.reshape(-1), dtype=dtype)
    if len(prepared.offsets_cache) >= 4:
        prepared.offsets_cache.clear()
    prepared.offsets_cache[key] = ofs
    return ofs
