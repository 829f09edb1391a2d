"""Multi-scale detection with a Haar cascade, following OpenCV 4's ``detectMultiScale``.

For ``factor = 1, s, s**2, ...`` (``s`` = ``scale_factor``, in double) while the
window ``round(window * factor)`` fits in the image and under ``max_size``, and
skipping windows smaller than ``min_size``:

1. ``sc = float32(factor)``; the level image is ``round(W / sc) x round(H / sc)``
   (float32 division, round half to even), made with OpenCV's bit-exact bilinear
   resize (``vj.image.resize_bilinear``);
2. the window of the base size is scanned over the level at a step of 2 px when
   ``sc < 2`` and 1 px otherwise (``vj.evaluate``), on positions ``x`` with
   ``x + window_w <= level_w`` (same for ``y``); the levels are shared among Numba's
   threads (``vj.scan``, ``numba.set_num_threads`` sets how many);
3. a detection at level position ``(x, y)`` becomes the box
   ``(round(x * sc), round(y * sc), round(window_w * sc), round(window_h * sc))``
   (float32 products).

The raw windows are then grouped (``vj.grouping.group_rectangles``, OpenCV's
``groupRectangles`` with eps 0.2) or, as a named alternative, suppressed with
plain NMS, and finally clipped to the image. The score of a box is the sum of the
last stage's leaf values (the ``levelWeights`` of OpenCV's ``detectMultiScale3``);
a grouped box gets the highest score in its group.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
from typing import Any

import numpy as np

from .cascade import Cascade
from .grouping import clip_boxes, group_rectangles, non_max_suppression
from .image import to_gray_uint8
from .scan import scan_pyramid

GROUP_EPS = 0.2
STAGE_THRESHOLD_EPS = np.float32(1e-5)
GROUPINGS = ("opencv", "nms")


@dataclass(frozen=True)
class PreparedCascade:
    """A cascade converted once into the flat float32/int arrays the scanner reads.

    Build it with ``prepare_cascade`` and pass it to ``detect_multi_scale`` in place
    of the ``Cascade`` when detecting on many images (video): it saves re-packing the
    cascade (a few milliseconds) for every frame. It is a snapshot: changes made to the
    ``Cascade`` afterwards are not seen.
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


def prepare_cascade(cascade: Cascade | PreparedCascade) -> PreparedCascade:
    """Pack a cascade for ``detect_multi_scale`` (idempotent on a ``PreparedCascade``)."""
    if isinstance(cascade, PreparedCascade):
        return cascade
    if not isinstance(cascade, Cascade):
        raise TypeError(f"expected a vj Cascade, got {type(cascade).__name__}")
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


def _as_size(value: int | tuple[int, int] | None, name: str) -> tuple[int, int]:
    """(width, height) from None (0, 0), an int (square) or a pair."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    try:
        w, h = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be None, an int or a (width, height) pair, got {value!r}") from None
    return (int(w), int(h))


def pyramid_scales(image_size: tuple[int, int], window_size: tuple[int, int], scale_factor: float,
                   min_size: tuple[int, int] = (0, 0), max_size: tuple[int, int] = (0, 0)) -> list[np.float32]:
    """The float32 scale factors OpenCV 4 scans for an image of ``(width, height)``."""
    width, height = image_size
    max_w, max_h = max_size if max_size[0] > 0 and max_size[1] > 0 else image_size
    scales = []
    factor = 1.0
    while True:
        win_w, win_h = round(window_size[0] * factor), round(window_size[1] * factor)
        if win_w > max_w or win_h > max_h or win_w > width or win_h > height:
            break
        if win_w >= min_size[0] and win_h >= min_size[1]:
            scales.append(np.float32(factor))
        factor *= scale_factor
    return scales


def plan_scan(image: Any, cascade: "Cascade | PreparedCascade", scale_factor: float,
              min_size: Any = None, max_size: Any = None):
    """The set-up shared by every scan of an image: check the scale factor, pack the cascade,
    convert the image to grey and plan the pyramid levels.

    Returns ``(prepared, gray, levels)``; ``levels`` is None when no window fits.
    """
    if not scale_factor > 1.0:
        raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
    prepared = prepare_cascade(cascade)
    gray = to_gray_uint8(image)
    height, width = gray.shape
    win_w, win_h = prepared.cascade.window_size
    scales = pyramid_scales((width, height), (win_w, win_h), float(scale_factor),
                            _as_size(min_size, "min_size"), _as_size(max_size, "max_size"))
    levels = _plan_levels(width, height, win_w, win_h, scales) if scales and gray.size else None
    return prepared, gray, levels


def detect_raw(image: np.ndarray, cascade: Cascade | PreparedCascade, scale_factor: float = 1.1,
               min_size: int | tuple[int, int] | None = None,
               max_size: int | tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every window the cascade accepts, before grouping and clipping.

    Args: see ``detect_multi_scale``.

    Returns:
        ``(boxes, scores)``: ``(N, 4)`` int64 ``x, y, w, h`` in image pixels (a box may
        reach past the image edge by rounding), ``(N,)`` float64 last-stage sums.
    """
    prepared, gray, levels = plan_scan(image, cascade, scale_factor, min_size, max_size)
    height, width = gray.shape
    win_w, win_h = prepared.cascade.window_size
    if levels is None:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.float64)
    level_w, level_h, level_step, level_rows, level_cols, level_out, level_scale = levels
    slot_start, slot_levels = _assign_slots(level_rows * level_cols, numba.get_num_threads())
    n_slots = slot_start.shape[0] - 1
    stride = width + 1
    plane = (height + 1) * stride
    n_planes = 2 if prepared.has_tilted else 1
    # int32 integrals where they cannot overflow (as OpenCV), int64 for huge images.
    sum_dtype = np.int32 if 255 * width * height < 2**31 else np.int64
    sum_buffers = np.zeros((n_slots, plane * n_planes), dtype=sum_dtype)
    sq_buffers = np.zeros((n_slots, plane), dtype=np.int64)
    ofs = _rect_offsets(prepared, stride, plane, np.uint32 if plane * n_planes < 2**32 else np.uint64)
    norm_ofs = np.array([stride + 1, stride + win_w - 1, (win_h - 1) * stride + 1, (win_h - 1) * stride + win_w - 1],
                        dtype=np.uint64)
    area = float((win_w - 2) * (win_h - 2))
    passed = np.zeros(int(level_out[-1]), dtype=np.uint8)
    scores = np.zeros(int(level_out[-1]), dtype=np.float64)
    p = prepared
    scan_pyramid(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start, slot_levels,
                 stride, plane, p.has_tilted, sum_buffers, sq_buffers, norm_ofs, area, p.is_stumps, p.stage_first,
                 p.stage_thr, p.weak_node, p.weak_leaf, ofs, p.node_prm, p.node_child, p.leaves, p.stump_vals, passed,
                 scores)
    hits = np.flatnonzero(passed)
    lv = np.searchsorted(level_out, hits, side="right") - 1
    local = hits - level_out[lv]
    step = level_step[lv]
    sc = level_scale[lv]
    xs = np.rint(((local % level_cols[lv]) * step).astype(np.float32) * sc).astype(np.int64)
    ys = np.rint(((local // level_cols[lv]) * step).astype(np.float32) * sc).astype(np.int64)
    box_w = np.rint(np.float32(win_w) * sc).astype(np.int64)
    box_h = np.rint(np.float32(win_h) * sc).astype(np.int64)
    return np.stack([xs, ys, box_w, box_h], axis=1).reshape(-1, 4), scores[hits]


def _plan_levels(width: int, height: int, win_w: int, win_h: int, scales: list[np.float32]):
    """Per-level arrays (size, step, grid, flat output start, float32 scale), or None if no window fits."""
    rows = []
    for sc in scales:
        level_w = int(np.rint(np.float32(width) / sc))
        level_h = int(np.rint(np.float32(height) / sc))
        step = 1 if sc >= 2 else 2
        span_w, span_h = level_w + 1 - win_w, level_h + 1 - win_h
        if span_w > 0 and span_h > 0:
            rows.append((level_w, level_h, step, -(-span_h // step), -(-span_w // step), sc))
    if not rows:
        return None
    level_w, level_h, level_step, level_rows, level_cols = (np.array([r[k] for r in rows], dtype=np.int64)
                                                            for k in range(5))
    level_out = np.concatenate([[0], np.cumsum(level_rows * level_cols)]).astype(np.int64)
    level_scale = np.array([r[5] for r in rows], dtype=np.float32)
    return level_w, level_h, level_step, level_rows, level_cols, level_out, level_scale


def _assign_slots(work: np.ndarray, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Share levels among ``n_threads`` slots: largest first, each to the least-loaded slot."""
    n_slots = max(1, min(int(n_threads), work.shape[0]))
    load = np.zeros(n_slots)
    members: list[list[int]] = [[] for _ in range(n_slots)]
    for level in np.argsort(-work, kind="stable"):
        k = int(np.argmin(load))
        members[k].append(int(level))
        load[k] += work[level]
    slot_start = np.concatenate([[0], np.cumsum([len(m) for m in members])]).astype(np.int64)
    return slot_start, np.array([lv for m in members for lv in m], dtype=np.int64)


def detect_multi_scale(image: np.ndarray, cascade: Cascade | PreparedCascade, scale_factor: float = 1.1,
                       min_neighbors: int = 3, min_size: int | tuple[int, int] | None = None,
                       max_size: int | tuple[int, int] | None = None, *, grouping: str = "opencv",
                       nms_iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Detect objects at all scales, as OpenCV 4's ``CascadeClassifier.detectMultiScale``.

    Args:
        image: ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; uint8, uint16
            or float in 0..1 (see ``vj.image.to_gray_uint8``). Any size; an image
            smaller than the window gives no detections.
        cascade: a ``Cascade`` or a ``PreparedCascade`` (faster for many images).
        scale_factor: ratio between successive pyramid levels, > 1.
        min_neighbors: a group needs more than this many raw windows to be kept
            (0 returns every raw window, clipped to the image).
        min_size, max_size: smallest / largest box ``(width, height)`` or side
            (None: no limit; max defaults to the image size).
        grouping: ``"opencv"`` (``groupRectangles``, eps 0.2) or ``"nms"`` (greedy
            non-maximum suppression by score, keeping boxes that suppressed at least
            ``min_neighbors`` others).
        nms_iou: IoU above which NMS suppresses a box.

    Returns:
        ``(boxes, scores)``: ``(N, 4)`` int64 ``x, y, w, h`` (OpenCV's order) and
        ``(N,)`` float64 scores (last-stage sums, the highest of each group).
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    if min_neighbors < 0:
        raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors}")
    gray = to_gray_uint8(image)
    boxes, scores = detect_raw(gray, cascade, scale_factor, min_size, max_size)
    if grouping == "opencv":
        boxes, scores = group_rectangles(boxes, scores, min_neighbors, GROUP_EPS)
    else:
        boxes, scores = non_max_suppression(boxes, scores, nms_iou, min_neighbors)
    return clip_boxes(boxes, scores, gray.shape[1], gray.shape[0])
