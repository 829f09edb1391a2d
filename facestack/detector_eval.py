"""Detection quality of a vj cascade on a landmark-annotated set (Caltech WebFaces format).

Matching rule. A detection box ``x, y, w, h`` *matches* an annotated face when

* it contains all four landmarks (both eyes, nose, mouth), borders included, and
* its width is between ``1.2`` and ``4.5`` times the face's eye distance

(the rule of the data README, where OpenCV's ``haarcascade_frontalface_default.xml``
finds about 79 % of the faces with 0.13 unmatched detections per photo at scale 1.1,
min_neighbors 5). Each face is matched by at most one detection and each detection
matches at most one face: detections are taken in decreasing score order, each
taking the still unmatched face it matches whose eye midpoint is nearest the box
centre. Recall is the fraction of faces matched; a detection left unmatched (a false
alarm, a duplicate, or an unannotated face -- WebFaces is not exhaustively labelled)
counts as an unmatched detection.

The curve. The cascade's raw windows are computed once per photo (``detect_raw``)
and grouped with OpenCV's ``groupRectangles`` at each ``min_neighbors`` of a sweep,
giving recall against unmatched detections per photo; the operating point is one
``min_neighbors`` of the sweep.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from vj.cascade import Cascade
from vj.detect import GROUP_EPS, PreparedCascade, detect_raw, prepare_cascade
from vj.grouping import clip_boxes, group_rectangles

MIN_WIDTH_PER_EYE_DISTANCE = 1.2
MAX_WIDTH_PER_EYE_DISTANCE = 4.5


def match_matrix(boxes: np.ndarray, landmarks: np.ndarray, min_ratio: float = MIN_WIDTH_PER_EYE_DISTANCE,
                 max_ratio: float = MAX_WIDTH_PER_EYE_DISTANCE) -> np.ndarray:
    """``(D, K)`` bool: whether detection d may match face k (module doc).

    Args:
        boxes: ``(D, 4)`` ``x, y, w, h``.
        landmarks: ``(K, 4, 2)`` left eye, right eye, nose, mouth ``(x, y)`` per face.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    marks = np.asarray(landmarks, dtype=np.float64).reshape(-1, 4, 2)
    x0, y0 = boxes[:, 0, None, None], boxes[:, 1, None, None]
    x1, y1 = x0 + boxes[:, 2, None, None], y0 + boxes[:, 3, None, None]
    px, py = marks[None, :, :, 0], marks[None, :, :, 1]
    inside = ((px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)).all(axis=2)
    eye_distance = np.hypot(*(marks[:, 1] - marks[:, 0]).T)
    ratio = boxes[:, 2, None] / np.maximum(eye_distance[None, :], 1e-9)
    return inside & (ratio >= min_ratio) & (ratio <= max_ratio)


def match_detections(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one greedy matching (module doc).

    Returns:
        ``(face_matched (K,) bool, detection_matched (D,) bool)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    marks = np.asarray(landmarks, dtype=np.float64).reshape(-1, 4, 2)
    allowed = match_matrix(boxes, marks)
    face_matched = np.zeros(marks.shape[0], dtype=bool)
    det_matched = np.zeros(boxes.shape[0], dtype=bool)
    if not allowed.any():
        return face_matched, det_matched
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    eye_mid = (marks[:, 0] + marks[:, 1]) / 2
    for d in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        candidates = np.flatnonzero(allowed[d] & ~face_matched)
        if candidates.size:
            k = candidates[np.argmin(np.hypot(*(eye_mid[candidates] - centres[d]).T))]
            face_matched[k] = det_matched[d] = True
    return face_matched, det_matched


@dataclass
class EvalResult:
    """Quality of one cascade over a set.

    Attributes:
        min_neighbors: ``(M,)`` the sweep.
        recall: ``(M,)`` fraction of annotated faces matched at each setting.
        false_per_image: ``(M,)`` unmatched detections per photo.
        num_images, num_faces: set size.
        scale_factor: pyramid step used.
        seconds: detection time (raw windows of every photo).
    """

    min_neighbors: np.ndarray
    recall: np.ndarray
    false_per_image: np.ndarray
    num_images: int
    num_faces: int
    scale_factor: float
    seconds: float = 0.0
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def at(self, min_neighbors: int) -> tuple[float, float]:
        """``(recall, false detections per photo)`` at one ``min_neighbors`` of the sweep."""
        hits = np.flatnonzero(self.min_neighbors == min_neighbors)
        if hits.size == 0:
            raise ValueError(f"min_neighbors {min_neighbors} is not in the sweep {self.min_neighbors.tolist()}")
        return float(self.recall[hits[0]]), float(self.false_per_image[hits[0]])


def recall_at_false_rate(result: EvalResult, false_per_image: float) -> float | None:
    """Recall of ``result``'s curve at ``false_per_image`` unmatched detections per photo.

    The sweep's points ``(false_per_image[i], recall[i])`` are joined by straight lines
    (both fall as ``min_neighbors`` rises); the value is read off that polyline. None
    when the rate is outside the range the sweep covers.
    """
    fpi, recall = np.asarray(result.false_per_image, float), np.asarray(result.recall, float)
    order = np.argsort(fpi, kind="stable")
    fpi, recall = fpi[order], recall[order]
    if not fpi[0] <= false_per_image <= fpi[-1]:
        return None
    # several settings can share a rate: keep the best recall at each
    unique, first = np.unique(fpi, return_index=True)
    best = np.maximum.reduceat(recall, first)
    return float(np.interp(false_per_image, unique, best))


def compare_at_reference(results: dict[str, EvalResult], reference: str,
                         operating_points: Iterable[int]) -> list[dict]:
    """Each cascade's recall at the reference's unmatched detections per photo.

    Returns one row per operating point of the reference: ``{"min_neighbors",
    "false_per_image", "recall": {name: recall or None}}``, the reference's own recall
    included.
    """
    rows = []
    for m in operating_points:
        ref_recall, ref_fpi = results[reference].at(int(m))
        rows.append({"min_neighbors": int(m), "false_per_image": ref_fpi,
                     "recall": {name: (ref_recall if name == reference else recall_at_false_rate(r, ref_fpi))
                                for name, r in results.items()}})
    return rows


def evaluate_detector(cascade: Cascade | PreparedCascade, photos: Iterable[tuple[np.ndarray, np.ndarray]],
                      scale_factor: float = 1.1, min_neighbors: Iterable[int] = range(0, 16),
                      min_size: int | None = None,
                      progress: Callable[[int], None] | None = None) -> EvalResult:
    """Recall against unmatched detections per photo over a sweep of ``min_neighbors``.

    Args:
        cascade: the detector.
        photos: ``(gray image (H, W) uint8, landmarks (K, 4, 2))`` per photo.
        scale_factor: pyramid step.
        min_neighbors: the settings of the sweep (each >= 0).
        min_size: smallest box side, if any.
        progress: optional ``progress(photos_done)``.
    """
    import time

    prepared = prepare_cascade(cascade)
    sweep = np.array(sorted(set(int(m) for m in min_neighbors)), dtype=np.int64)
    matched = np.zeros(sweep.shape[0], dtype=np.int64)
    unmatched = np.zeros(sweep.shape[0], dtype=np.int64)
    n_images = n_faces = 0
    seconds = 0.0
    for gray, marks in photos:
        start = time.perf_counter()
        raw_boxes, raw_scores = detect_raw(gray, prepared, scale_factor, min_size)
        seconds += time.perf_counter() - start
        for i, m in enumerate(sweep):
            boxes, scores = group_rectangles(raw_boxes, raw_scores, int(m), GROUP_EPS)
            boxes, scores = clip_boxes(boxes, scores, gray.shape[1], gray.shape[0])
            face_hit, det_hit = match_detections(boxes, scores, marks)
            matched[i] += int(face_hit.sum())
            unmatched[i] += int((~det_hit).sum())
        n_images += 1
        n_faces += int(np.asarray(marks).reshape(-1, 4, 2).shape[0])
        if progress is not None:
            progress(n_images)
    if n_images == 0 or n_faces == 0:
        raise ValueError(f"nothing to evaluate: {n_images} photos with {n_faces} annotated faces")
    return EvalResult(sweep, matched / n_faces, unmatched / n_images, n_images, n_faces, float(scale_factor),
                      seconds, matched)


def plot_curves(results: dict[str, EvalResult], path: str, operating_points: Iterable[int] = (3,),
                title: str = "") -> None:
    """Save recall against unmatched detections per photo for each named result (PNG/SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, result in results.items():
        line, = ax.plot(result.false_per_image, result.recall, marker=".", label=name)
        for m in operating_points:
            if m in result.min_neighbors:
                recall, fpi = result.at(m)
                ax.plot([fpi], [recall], marker="o", markersize=9, markerfacecolor="none", color=line.get_color())
                ax.annotate(f"mn={m}", (fpi, recall), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("unmatched detections per photo")
    ax.set_ylabel("recall (fraction of annotated faces found)")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "recall vs false detections (min_neighbors sweep)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
