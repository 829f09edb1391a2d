"""Turning raw detection windows into detections: OpenCV's grouping, or plain NMS.

``group_rectangles`` is OpenCV 4's ``groupRectangles`` (as ``detectMultiScale`` calls
it, with eps 0.2):

1. two boxes are *similar* when each of their four edges differs by at most
   ``delta = eps * (min(w1, w2) + min(h1, h2)) / 2``; groups are the connected
   components of that relation;
2. a group's box is the mean of its members, each coordinate
   ``round(float32(sum) * float32(1 / n))``; groups with ``n <= min_neighbors`` go;
3. a group nested in another kept group (inside it grown by ``round(eps * size)``)
   goes when the outer group has more than ``max(3, n)`` members, or when it has
   fewer than 3 members itself.

With ``min_neighbors <= 0`` the raw windows are returned unchanged, as OpenCV does.
The whole grouping is compiled (Numba): it is quadratic in the number of raw windows.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _find(parent, i):  # pragma: no cover - compiled
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True, nogil=True)
def similar_rect_labels(boxes, eps):  # pragma: no cover - compiled
    """Group labels ``(N,)`` int64 (0..G-1, in order of first appearance) of OpenCV's similarity."""
    n = boxes.shape[0]
    parent = np.arange(n)
    for i in range(n):
        x1, y1, w1, h1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        for j in range(i + 1, n):
            x2, y2, w2, h2 = boxes[j, 0], boxes[j, 1], boxes[j, 2], boxes[j, 3]
            delta = eps * (min(w1, w2) + min(h1, h2)) * 0.5
            if (abs(x1 - x2) <= delta and abs(y1 - y2) <= delta and abs(x1 + w1 - x2 - w2) <= delta
                    and abs(y1 + h1 - y2 - h2) <= delta):
                ri, rj = _find(parent, i), _find(parent, j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    labels = np.empty(n, dtype=np.int64)
    root_label = np.full(n, -1, dtype=np.int64)
    count = 0
    for i in range(n):
        r = _find(parent, i)
        if root_label[r] < 0:
            root_label[r] = count
            count += 1
        labels[i] = root_label[r]
    return labels


@numba.njit(cache=True, nogil=True)
def _group_kernel(boxes, scores, min_neighbors, eps):  # pragma: no cover - compiled
    """Compiled body of ``group_rectangles_with_counts`` (N >= 1, min_neighbors >= 1)."""
    labels = similar_rect_labels(boxes, eps)
    n_groups = labels.max() + 1
    counts = np.zeros(n_groups, dtype=np.int64)
    sums = np.zeros((n_groups, 4), dtype=np.int64)
    best = np.full(n_groups, -np.inf)
    for i in range(boxes.shape[0]):
        g = labels[i]
        counts[g] += 1
        for k in range(4):
            sums[g, k] += boxes[i, k]
        if scores[i] > best[g]:
            best[g] = scores[i]
    mean = np.empty((n_groups, 4), dtype=np.int64)
    for g in range(n_groups):
        inv = np.float32(1.0) / np.float32(counts[g])
        for k in range(4):
            mean[g, k] = np.int64(np.rint(np.float32(sums[g, k]) * inv))
    keep = np.zeros(n_groups, dtype=np.bool_)
    for i in range(n_groups):
        n1 = counts[i]
        if n1 <= min_neighbors:
            continue
        x1, y1, w1, h1 = mean[i, 0], mean[i, 1], mean[i, 2], mean[i, 3]
        nested = False
        for j in range(n_groups):
            n2 = counts[j]
            if j == i or n2 <= min_neighbors:
                continue
            x2, y2, w2, h2 = mean[j, 0], mean[j, 1], mean[j, 2], mean[j, 3]
            dx = np.int64(np.rint(w2 * eps))
            dy = np.int64(np.rint(h2 * eps))
            if (x1 >= x2 - dx and y1 >= y2 - dy and x1 + w1 <= x2 + w2 + dx and y1 + h1 <= y2 + h2 + dy
                    and (n2 > max(3, n1) or n1 < 3)):
                nested = True
                break
        keep[i] = not nested
    return mean[keep], best[keep], counts[keep]


def group_rectangles_with_counts(boxes: np.ndarray, scores: np.ndarray, min_neighbors: int,
                                 eps: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles``, with each group's best score and size (compiled).

    Args:
        boxes: ``(N, 4)`` int ``x, y, w, h`` raw windows, in scan order (groups come out
            in order of their first member, as OpenCV's).
        scores: ``(N,)`` float window scores.
        min_neighbors: groups need more than this many members; <= 0 returns the input.
        eps: relative edge tolerance of the similarity.

    Returns:
        ``(boxes, scores, counts)``: ``(G, 4)`` int64, ``(G,)`` float64 highest member
        score (OpenCV's ``levelWeights``) and ``(G,)`` int64 group size (OpenCV's
        ``numDetections``; all 1 when ``min_neighbors <= 0``).
    """
    boxes = np.ascontiguousarray(np.asarray(boxes, dtype=np.int64).reshape(-1, 4))
    scores = np.ascontiguousarray(np.asarray(scores, dtype=np.float64).reshape(-1))
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"{boxes.shape[0]} boxes but {scores.shape[0]} scores")
    if min_neighbors <= 0 or boxes.shape[0] == 0:
        return boxes.copy(), scores.copy(), np.ones(boxes.shape[0], dtype=np.int64)
    grouped, best, counts = _group_kernel(boxes, scores, int(min_neighbors), float(eps))
    return grouped.reshape(-1, 4), best, counts


def group_rectangles(boxes: np.ndarray, scores: np.ndarray, min_neighbors: int,
                     eps: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles`` with per-group scores (the highest member score).

    Args:
        boxes: ``(N, 4)`` int ``x, y, w, h`` raw windows.
        scores: ``(N,)`` float window scores.
        min_neighbors: groups need more than this many members; <= 0 returns the input.
        eps: relative edge tolerance of the similarity.

    Returns:
        ``(boxes, scores)``: ``(G, 4)`` int64 and ``(G,)`` float64.
    """
    grouped, best, _ = group_rectangles_with_counts(boxes, scores, min_neighbors, eps)
    return grouped, best


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(N, M)`` of ``x, y, w, h`` boxes ``a (N, 4)`` and ``b (M, 4)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
                 - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
                 - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3,
                        min_neighbors: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMS: keep the best-scoring box, drop those overlapping it by IoU > ``iou_threshold``.

    A kept box must have suppressed at least ``min_neighbors`` raw windows.

    Returns:
        ``(boxes, scores)`` of the kept boxes, best score first.
    """
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    alive = np.ones(boxes.shape[0], dtype=bool)
    keep = []
    for i in order:
        if not alive[i]:
            continue
        overlap = box_iou(boxes[i : i + 1], boxes)[0] > iou_threshold
        overlap[i] = False
        suppressed = overlap & alive
        alive[suppressed] = False
        alive[i] = False
        if int(suppressed.sum()) >= min_neighbors:
            keep.append(i)
    keep = np.array(keep, dtype=np.int64)
    return boxes[keep].reshape(-1, 4), scores[keep]


def clip_to_image(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Intersect ``x, y, w, h`` boxes with the image (OpenCV's ``clipObjects``).

    Returns:
        ``(clipped, keep)``: the ``(K, 4)`` int64 non-empty intersections and the
        ``(N,)`` bool mask of the input boxes they come from.
    """
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    x0 = np.maximum(boxes[:, 0], 0)
    y0 = np.maximum(boxes[:, 1], 0)
    x1 = np.minimum(boxes[:, 0] + boxes[:, 2], width)
    y1 = np.minimum(boxes[:, 1] + boxes[:, 3], height)
    keep = (x1 > x0) & (y1 > y0)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[keep].reshape(-1, 4), keep


def clip_boxes(boxes: np.ndarray, scores: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Intersect ``x, y, w, h`` boxes with the image and drop empty ones (OpenCV's ``clipObjects``)."""
    clipped, keep = clip_to_image(boxes, width, height)
    return clipped, np.asarray(scores, dtype=np.float64)[keep]
