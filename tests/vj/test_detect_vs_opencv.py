"""vj.detect_multi_scale against OpenCV 4's CascadeClassifier on real photos.

For each cascade and scale factor the raw windows (min_neighbors 0) and the grouped
boxes (min_neighbors 3) of vj and OpenCV are compared on scikit-image's astronaut,
camera and coffee and on the first 100 WebFaces photos (photos larger than 400 px are
shrunk to 400 px first, to keep the suite short). vj's raw windows are computed once
per (cascade, scale factor) and grouped for both min_neighbors values.

Acceptance: raw window sets differ by at most 1% of OpenCV's windows; at least 99%
of grouped boxes (both directions) have a partner with IoU >= 0.9; scores of boxes
found by both agree.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import vj
from vj.grouping import box_iou, clip_boxes, group_rectangles

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

CASCADE_PHOTOS = {
    "haarcascade_frontalface_default.xml": 100,
    "haarcascade_frontalface_alt2.xml": 100,
    "haarcascade_frontalface_alt.xml": 100,
    "haarcascade_eye_tree_eyeglasses.xml": 100,
}
SCALE_FACTORS = (1.1, 1.3)
MAX_SIDE = 400


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


@lru_cache(maxsize=None)
def _skimage_images() -> tuple[np.ndarray, ...]:
    return tuple(_gray(getattr(skimage_data, name)()) for name in ("astronaut", "camera", "coffee"))


@lru_cache(maxsize=None)
def _webfaces(folder: str, count: int) -> tuple[np.ndarray, ...]:
    from PIL import Image

    paths = sorted(Path(folder).glob("*.jpg"))[:count]
    images = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert("L")
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            images.append(np.asarray(img))
    return tuple(images)


@lru_cache(maxsize=None)
def _compare(cascade_name: str, scale_factor: float, folder: str | None) -> dict:
    """Counts for one (cascade, scale factor) over all images; computed once."""
    path = cv2.data.haarcascades + cascade_name
    reference = cv2.CascadeClassifier(path)
    prepared = vj.prepare_cascade(vj.load_cascade(path))
    images = list(_skimage_images())
    if folder is not None:
        images += list(_webfaces(folder, CASCADE_PHOTOS[cascade_name]))
    counts = {"images": len(images), "raw_cv": 0, "raw_symdiff": 0, "boxes": 0, "unmatched": 0, "score_err": 0.0}
    for gray in images:
        raw_boxes, raw_scores = vj.detect_raw(gray, prepared, scale_factor)
        for min_neighbors in (0, 3):
            boxes, scores = group_rectangles(raw_boxes, raw_scores, min_neighbors)
            boxes, scores = clip_boxes(boxes, scores, gray.shape[1], gray.shape[0])
            ref_boxes, _, ref_scores = reference.detectMultiScale3(gray, scale_factor, min_neighbors,
                                                                   outputRejectLevels=True)
            ref_boxes = np.asarray(ref_boxes, dtype=np.int64).reshape(-1, 4)
            ref_scores = np.asarray(ref_scores, dtype=np.float64).reshape(-1)
            ours = {tuple(b): s for b, s in zip(boxes.tolist(), scores)}
            theirs = {tuple(b): s for b, s in zip(ref_boxes.tolist(), ref_scores)}
            for box in ours.keys() & theirs.keys():
                counts["score_err"] = max(counts["score_err"], abs(ours[box] - theirs[box]))
            if min_neighbors == 0:
                counts["raw_cv"] += len(theirs)
                counts["raw_symdiff"] += len(ours.keys() ^ theirs.keys())
            else:
                counts["boxes"] += len(boxes) + len(ref_boxes)
                if len(boxes) and len(ref_boxes):
                    iou = box_iou(boxes, ref_boxes)
                    counts["unmatched"] += int((iou.max(axis=1) < 0.9).sum() + (iou.max(axis=0) < 0.9).sum())
                else:
                    counts["unmatched"] += len(boxes) + len(ref_boxes)
    return counts


@pytest.fixture(scope="module")
def webfaces_folder(shared_data) -> str:
    folder = shared_data / "webfaces" / "images"
    if not folder.is_dir():
        pytest.skip(f"WebFaces photos not found in {folder}")
    return str(folder)


@pytest.mark.parametrize("scale_factor", SCALE_FACTORS)
@pytest.mark.parametrize("cascade_name", list(CASCADE_PHOTOS))
def test_raw_windows_match_opencv(cascade_name, scale_factor, webfaces_folder):
    counts = _compare(cascade_name, scale_factor, webfaces_folder)
    assert counts["raw_cv"] > 0, "the comparison found no windows at all"
    assert counts["raw_symdiff"] <= 0.01 * counts["raw_cv"], counts
    assert counts["score_err"] < 1e-6, counts


@pytest.mark.parametrize("scale_factor", SCALE_FACTORS)
@pytest.mark.parametrize("cascade_name", list(CASCADE_PHOTOS))
def test_grouped_boxes_match_opencv(cascade_name, scale_factor, webfaces_folder):
    counts = _compare(cascade_name, scale_factor, webfaces_folder)
    assert counts["boxes"] > 0, "the comparison found no boxes at all"
    assert counts["unmatched"] <= 0.01 * counts["boxes"], counts


def test_detect_multi_scale_equals_opencv_on_astronaut_with_sizes():
    """The public entry point, with min/max sizes and RGB input, on one image."""
    path = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
    rgb = skimage_data.astronaut()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for min_size, max_size in [(None, None), (30, None), ((60, 60), (200, 200))]:
        boxes, scores = vj.detect_multi_scale(rgb, vj.load_cascade(path), 1.2, 2, min_size, max_size)
        ref = cv2.CascadeClassifier(path).detectMultiScale(
            gray, 1.2, 2, minSize=_pair(min_size), maxSize=_pair(max_size))
        ref = np.asarray(ref, dtype=np.int64).reshape(-1, 4)
        assert sorted(map(tuple, boxes.tolist())) == sorted(map(tuple, ref.tolist()))
        assert boxes.dtype == np.int64 and scores.shape == (len(boxes),)


def _pair(size):
    if size is None:
        return (0, 0)
    return (size, size) if isinstance(size, int) else size
