"""Multi-scale detection with a Haar cascade, following OpenCV 4's ``detectMultiScale``.

For ``factor = 1, s, s**2, ...`` (``s`` = ``scale_factor``, in double) while the
window ``round(window * factor)`` fits in the image and under ``max_size``, and
skipping windows smaller than ``min_size`` (``pyramid_scales`` has the details, and
the single scale OpenCV falls back on when those limits leave none):

1. ``sc = float32(factor)``; the level image is ``round(W / sc) x round(H / sc)``
   (float32 division, round half to even), made with OpenCV's bit-exact bilinear
   resize (``vj.image.resize_bilinear``);
2. the window of the base size is scanned over the level at a step of 2 px when
   ``sc < 2`` and 1 px otherwise (``vj.evaluate``; LBP: ``vj.evaluate_lbp``), on
   positions ``x`` with ``x + window_w <= level_w`` (same for ``y``, less the rows
   OpenCV's stripes leave out, see ``_plan_levels``); the levels are shared among
   Numba's threads (``vj.scan``, ``numba.set_num_threads`` sets how many);
3. a detection at level position ``(x, y)`` becomes the box
   ``(round(x * sc), round(y * sc), round(window_w * sc), round(window_h * sc))``
   (float32 products).

LBP cascades (``vj.lbp``) go through the same plan with their own compiled scan
(``vj.evaluate_lbp``). The raw windows are then grouped (``vj.grouping.group_rectangles``, OpenCV's
``groupRectangles`` with eps 0.2) or, as a named alternative, suppressed with
plain NMS, and finally clipped to the image. The score of a box is the sum of the
last stage's leaf values (the ``levelWeights`` of OpenCV's ``detectMultiScale3``);
a grouped box gets the highest score in its group.
"""
from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np

from .evaluate_lbp import scan_pyramid_lbp
from .grouping import clip_boxes, group_rectangles_with_counts, non_max_suppression
from .image import to_gray_uint8
from .lbp import PreparedLbpCascade
from .prepared import (STAGE_THRESHOLD_EPS, AnyCascade, AnyPrepared, PreparedCascade,  # noqa: F401 (re-exported)
                       _rect_offsets, cached_prepared, prepare_cascade)
from .scan import scan_pyramid

GROUP_EPS = 0.2
# Work slots per thread: the levels are shared into this many balanced slots per thread, taken
# dynamically (more slots balance better when a thread is held up, but each slot's buffers cost
# cache: on a loaded 2-core machine one per thread measured fastest).
SLOTS_PER_THREAD = 1
GROUPINGS = ("opencv", "nms")


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
    """The float32 scale factors OpenCV 4 scans for an image of ``(width, height)``.

    As ``detectMultiScaleNoGrouping``: every ``factor = s**k`` (double) whose window
    ``round(window * factor)`` fits in the image is a candidate, kept as float32; the
    candidates whose window ``round(window * float32 factor)`` is at least ``min_size``
    are scanned, up to the first one larger than ``max_size`` (default: the image). When
    no candidate is left but some exist, the one whose window is nearest ``min_size``
    (squared distance, first of equals) is scanned alone: OpenCV's answer for
    ``min_size == max_size`` between two scales, which also applies to a ``min_size``
    larger than the image or a ``max_size`` smaller than the window.
    """
    width, height = image_size
    win_w, win_h = window_size
    max_w, max_h = max_size if max_size[0] > 0 and max_size[1] > 0 else image_size
    if height < win_h or width < win_w:
        return []
    candidates = []
    factor = 1.0
    while round(win_w * factor) <= width and round(win_h * factor) <= height:
        candidates.append(np.float32(factor))
        factor *= scale_factor
    sizes = [(int(np.rint(np.float32(win_w) * f)), int(np.rint(np.float32(win_h) * f))) for f in candidates]
    scales = []
    for f, (w, h) in zip(candidates, sizes):
        if w > max_w or h > max_h:
            break
        if w >= min_size[0] and h >= min_size[1]:
            scales.append(f)
    if not scales and candidates:
        distances = [(min_size[0] - w) ** 2 + (min_size[1] - h) ** 2 for w, h in sizes]
        scales.append(candidates[int(np.argmin(distances))])
    return scales


#: Most pyramid levels one image may need (OpenCV's usual 1.05-1.3 give tens; 1.00001 gives ~300,000).
MAX_PYRAMID_LEVELS = 1000


def plan_scan(image: Any, cascade: AnyCascade, scale_factor: float, min_size: Any = None, max_size: Any = None):
    """The set-up shared by every scan of an image: check the scale factor, pack the cascade,
    convert the image to grey and plan the pyramid levels.

    Returns ``(prepared, gray, levels)``; ``levels`` is None when no window fits.
    """
    if not scale_factor > 1.0:
        raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
    prepared = cached_prepared(cascade)
    gray = to_gray_uint8(image)
    height, width = gray.shape
    win_w, win_h = prepared.cascade.window_size
    scales = pyramid_scales((width, height), (win_w, win_h), float(scale_factor),
                            _as_size(min_size, "min_size"), _as_size(max_size, "max_size"))
    if len(scales) > MAX_PYRAMID_LEVELS:  # each level holds an image and its integrals: refuse before allocating
        raise ValueError(f"scale_factor {scale_factor} gives {len(scales):,} pyramid levels on a {width}x{height} "
                         f"image, over the limit of {MAX_PYRAMID_LEVELS:,}: use a larger scale factor")
    levels = _plan_levels(width, height, win_w, win_h, scales) if scales and gray.size else None
    return prepared, gray, levels


def detect_raw(image: np.ndarray, cascade: AnyCascade, scale_factor: float = 1.1,
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
    n_threads = numba.get_num_threads()
    n_slots = n_threads * SLOTS_PER_THREAD if n_threads > 1 else 1
    slot_start, slot_levels = _assign_slots(level_rows * level_cols, n_slots)
    n_slots = slot_start.shape[0] - 1
    stride = width + 1
    plane = (height + 1) * stride
    passed = np.zeros(int(level_out[-1]), dtype=np.uint8)
    scores = np.zeros(int(level_out[-1]), dtype=np.float64)
    if isinstance(prepared, PreparedLbpCascade):
        p = prepared
        # each level's integral is interleaved by its window step (vj.evaluate_lbp): up to step - 1 more columns
        lbp_plane = (height + 1) * (width + int(level_step.max()))
        sums = _integral_scratch("lbp_sum", (n_slots, lbp_plane), np.int32 if 255 * width * height < 2**31 else np.int64)
        with numba.parallel_chunksize(1):  # slots go to whichever thread is free (as OpenCV's stripes)
            scan_pyramid_lbp(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start,
                             slot_levels, sums, p.is_stumps, p.stage_first, p.stage_thr, p.weak_node, p.weak_leaf,
                             p.node_cells, p.node_child, p.node_subset, p.leaves, p.stump_bounds, passed, scores)
        return _hits_to_boxes(passed, scores, levels, win_w, win_h)
    n_planes = 2 if prepared.has_tilted else 1
    # int32 integrals where they cannot overflow (as OpenCV), int64 for huge images.
    sum_dtype = np.int32 if 255 * width * height < 2**31 else np.int64
    sum_buffers = _integral_scratch("haar_sum", (n_slots, plane * n_planes), sum_dtype)
    sq_buffers = _integral_scratch("haar_sqsum", (n_slots, plane), np.int64)
    ofs = _rect_offsets(prepared, stride, plane, np.uint32 if plane * n_planes < 2**32 else np.uint64)
    norm_ofs = np.array([stride + 1, stride + win_w - 1, (win_h - 1) * stride + 1, (win_h - 1) * stride + win_w - 1],
                        dtype=np.uint64)
    area = float((win_w - 2) * (win_h - 2))
    p = prepared
    with numba.parallel_chunksize(1):
        scan_pyramid(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start, slot_levels,
                     stride, plane, p.has_tilted, sum_buffers, sq_buffers, norm_ofs, area, p.is_stumps, p.stage_first,
                     p.stage_thr, p.weak_node, p.weak_leaf, ofs, p.node_prm, p.node_child, p.leaves, p.stump_vals,
                     passed, scores)
    return _hits_to_boxes(passed, scores, levels, win_w, win_h)


_SCRATCH = threading.local()


def _integral_scratch(name: str, shape: tuple[int, int], dtype: type) -> np.ndarray:
    """Zero-initialised integral buffers, kept per Python thread and reused while the shape holds.

    The scans write only rows >= 1 and columns >= 1 of each level's integral, so the zero
    first row and column survive reuse. Reusing saves allocating and page-faulting a few
    megabytes per frame, which costs more than a small pyramid's whole scan.
    """
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    key = (name, shape, np.dtype(dtype).str)
    buffer = buffers.get(key)
    if buffer is None:
        for old in [k for k in buffers if k[0] == name]:
            del buffers[old]
        buffer = buffers[key] = np.zeros(shape, dtype=dtype)
    return buffer


def _hits_to_boxes(passed: np.ndarray, scores: np.ndarray, levels: tuple, win_w: int,
                   win_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Image boxes ``(N, 4)`` int64 and scores ``(N,)`` of the flagged windows, in scan order."""
    _, _, level_step, _, level_cols, level_out, level_scale = levels
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
    """Per-level arrays (size, step, grid, flat output start, float32 scale), or None if no window fits.

    The window rows are those OpenCV 4 scans: it cuts every level's rows into the same
    number of stripes, ``ceil(w0 / 32)`` for the first level's ``w0`` window columns, of
    ``ceil((span // step) / stripes) * step`` rows each, and scans rows ``y < stripes *
    stripe_rows`` only, which leaves out the last row ``y = span - 1`` of some levels
    whose row span is odd at step 2.
    """
    rows = []
    n_stripes = 0
    for i, sc in enumerate(scales):
        level_w = int(np.rint(np.float32(width) / sc))
        level_h = int(np.rint(np.float32(height) / sc))
        step = 1 if sc >= 2 else 2
        span_w, span_h = max(level_w + 1 - win_w, 0), max(level_h + 1 - win_h, 0)
        if i == 0:
            n_stripes = -(-span_w // 32)
        stripe_rows = max((span_h // step + n_stripes - 1) // n_stripes, 1) * step if n_stripes else 0
        span_h = min(span_h, n_stripes * stripe_rows)
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


def detect_multi_scale(image: np.ndarray, cascade: AnyCascade, scale_factor: float = 1.1,
                       min_neighbors: int = 3, min_size: int | tuple[int, int] | None = None,
                       max_size: int | tuple[int, int] | None = None, *, grouping: str = "opencv",
                       nms_iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Detect objects at all scales, as OpenCV 4's ``CascadeClassifier.detectMultiScale``.

    Args:
        image: ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; uint8, uint16
            or float in 0..1 (see ``vj.image.to_gray_uint8``). Any size; an image
            smaller than the window gives no detections.
        cascade: a ``Cascade`` or ``LbpCascade`` (its packed form is kept with it, so
            passing the same object for every frame packs it once), or a prepared one.
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
        boxes, scores, _ = group_rectangles_with_counts(boxes, scores, min_neighbors, GROUP_EPS)
    else:
        boxes, scores = non_max_suppression(boxes, scores, nms_iou, min_neighbors)
    return clip_boxes(boxes, scores, gray.shape[1], gray.shape[0])
