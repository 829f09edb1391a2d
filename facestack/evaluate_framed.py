"""The test split seen the way photos are: each chip found by the detector, re-framed, then classified.

``facestack.evaluate`` scores the network on the cached chips, framed exactly as in
training. A photo's faces reach the network another way: vj finds a box, the box is
turned into a chip-like crop (:mod:`facestack.framing`) and that crop is classified, with
the detector's jitter in size and position. This module runs that whole path on the test
split's chips (each padded by 60 px of replicated border, so the detector can find the
face box that reaches past the chip), keeps for each chip the detection nearest the chip's
centre, and scores the labels; chips where the detector finds no face are counted apart.
The gap between the two scores is what the detector's framing costs the classifier.

``face_size`` shrinks each chip first, so that its face box is about that many pixels wide
(the chip's side over the framing's scale is the box side at full size): the labels of the
small faces of group and web photos, which a photo's detection reaches through a pyramid
level the network never saw the face at.

    facestack evaluate --through-detector                  # the chips as they are
    facestack evaluate --through-detector --face-size 32   # faces about 32 px wide
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import vj
from vj.positives import crop_padded, read_gray

from .evaluate import score
from .framing import MEASURE_PAD, SHIPPED_CASCADE_FRAMING, FaceFraming
from .pipeline import FaceClassifier, face_batch

#: The smallest face size a chip is shrunk to: the shipped cascade's 20 px window.
MIN_FACE_SIZE = 20


def shrink_chip(chip: np.ndarray, face_size: float, framing: FaceFraming = SHIPPED_CASCADE_FRAMING) -> np.ndarray:
    """A chip ``(H, W)`` uint8 resized (Pillow, bilinear with its antialiasing) so that its
    face box is about ``face_size`` pixels wide: the box side at full size is taken as the
    chip's side over ``framing.scale``. Never enlarges: a larger ``face_size`` returns the chip."""
    from PIL import Image

    if face_size < MIN_FACE_SIZE:
        raise ValueError(f"face_size must be at least {MIN_FACE_SIZE} px (the cascade's window), got {face_size}")
    factor = face_size * framing.scale / min(chip.shape)
    if factor >= 1.0:
        return chip
    size = (max(1, round(chip.shape[1] * factor)), max(1, round(chip.shape[0] * factor)))
    return np.asarray(Image.fromarray(chip).resize(size, Image.BILINEAR))


def nearest_to_centre(boxes: np.ndarray, width: int, height: int) -> int:
    """Index of the box whose centre is nearest ``(width / 2, height / 2)``: ``(N, 4)`` -> int."""
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    return int(np.argmin(np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)))


def classify_through_detector(classifier: FaceClassifier, paths: list[str], cascade: Any = None,
                              framing: FaceFraming = SHIPPED_CASCADE_FRAMING,
                              detector: dict[str, Any] | None = None,
                              face_size: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gender and age predictions of chips found by the detector.

    Args:
        paths: chip image files.
        detector: ``vj.detect_multi_scale`` settings (default scale 1.1, 3 neighbours, boxes of
            at least half the chip: the settings the framing was measured with).
        face_size: shrink each chip first so its face is about this many pixels wide
            (:func:`shrink_chip`); the border added around it shrinks in proportion.
    Returns:
        ``(found (N,) bool, gender (N,), age (N,))``; predictions are -1 where no face was found.
    """
    prepared = vj.prepare_cascade(cascade if cascade is not None else vj.load_cascade(None))
    found = np.zeros(len(paths), bool)
    gender = np.full(len(paths), -1, np.int64)
    age = np.full(len(paths), -1, np.int64)
    for i, path in enumerate(paths):
        chip = read_gray(path)
        full_side = min(chip.shape)
        if face_size is not None:
            chip = shrink_chip(chip, face_size, framing)
        height, width = chip.shape
        pad = max(1, round(MEASURE_PAD * min(chip.shape) / full_side))
        padded = crop_padded(chip, np.array([-pad, -pad, width + 2 * pad, height + 2 * pad]))
        settings = detector or {"scale_factor": 1.1, "min_neighbors": 3, "min_size": min(width, height) // 2}
        boxes, _ = vj.detect_multi_scale(padded, prepared, **settings)
        if len(boxes) == 0:
            continue
        box = boxes[nearest_to_centre(boxes, padded.shape[1], padded.shape[0])]
        crop = framing.crop_boxes(box[None])
        g, a = classifier.classify(face_batch(padded, crop, classifier.preprocess))
        found[i], gender[i], age[i] = True, int(g[0].argmax()), int(a[0].argmax())
    return found, gender, age


def evaluate_through_detector(classifier: FaceClassifier, data_dir: str, split: str = "test",
                              cache_dir: str | None = None, cascade: Any = None,
                              face_size: float | None = None, limit: int | None = None) -> dict[str, Any]:
    """Score the detector-framed predictions on a split of the classifier's run (its seed, bins, cache).

    The chips' files come from the cache's ``paths`` (relative to the chip folder). The result
    has the fields of :func:`facestack.evaluate.score` over the chips where a face was found,
    plus ``found`` (how many), ``missed`` (chips without a detection) and ``face_size``
    (None: the chips as they are). ``limit`` keeps the split's first rows (quick checks).
    """
    from .data import open_cache
    from .evaluate import prepare_run_data, weights_record

    data = prepare_run_data(classifier, data_dir, cache_dir)
    rows = getattr(data, split)
    rows = rows if limit is None else rows[:limit]
    cache = open_cache(data.cache_dir)
    root = Path(data_dir)
    root = root / "UTKFace" if (root / "UTKFace").is_dir() else root  # the cache's paths are relative to the chips
    paths = [str(root / str(p)) for p in np.asarray(cache.paths)[rows]]
    found, gender, age = classify_through_detector(classifier, paths, cascade, face_size=face_size)
    if not found.any():
        raise ValueError(f"the detector found none of the {len(paths):,} faces"
                         + (f" at {face_size:g} px" if face_size is not None else ""))
    result = score(classifier, data.labels, {"gender": gender[found], "age": age[found]}, rows[found])
    result.update({"split": split, "found": int(found.sum()), "missed": int((~found).sum()), "face_size": face_size,
                   "data": data.source, **weights_record(classifier)})
    return result
