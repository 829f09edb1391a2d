"""vj.CascadeClassifier against OpenCV 4's cv2.CascadeClassifier, for every cascade vj ships.

For each cascade of ``vj.data`` (17 OpenCV Haar cascades, vj's own, OpenCV's LBP face
cascade) and each setting (1.1, 3), (1.2, 5, minSize 60) and (1.3, 4, minSize 30,
CASCADE_SCALE_IMAGE), on a few WebFaces photos given as grey and as BGR (cv2.imread's
layout): ``detectMultiScale``, ``detectMultiScale2`` and ``detectMultiScale3(...,
outputRejectLevels=True)`` return what OpenCV returns: same types, dtypes and shapes,
the same boxes in the same order, the same numDetections and rejectLevels, and
levelWeights within float tolerance. OpenCV runs single-threaded here: with several
threads its order of boxes changes from run to run (its stripes finish in any order),
single-threaded it is the scan order vj gives. The nested pattern (eyes searched in
each face's region of interest, a slice view) is checked the same way.

Photos are shrunk to at most 320 px, and BGR input goes through ``detectMultiScale``
only (its grey image is then the same), to keep the suite short; a larger check is
``python tests/vj/test_classifier_vs_opencv.py --photos 100`` (prints counts).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import vj

cv2 = pytest.importorskip("cv2")

PHOTOS = 4
MAX_SIDE = 320
SETTINGS = [
    dict(scaleFactor=1.1, minNeighbors=3),
    dict(scaleFactor=1.2, minNeighbors=5, minSize=(60, 60)),
    dict(scaleFactor=1.3, minNeighbors=4, minSize=(30, 30), flags=vj.CASCADE_SCALE_IMAGE),
]
CASCADES = ([vj.data.haarcascades + n for n in sorted(os.listdir(vj.data.haarcascades)) if n.endswith(".xml")]
            + [vj.data.lbpcascades + n for n in sorted(os.listdir(vj.data.lbpcascades)) if n.endswith(".xml")])


def test_vj_ships_opencvs_cascades():
    names = {Path(p).name for p in CASCADES}
    assert len([n for n in names if n.startswith("haarcascade_")]) == 17
    assert {"frontalface_vj.xml", "lbpcascade_frontalface.xml"} <= names
    assert vj.data.haarcascades.endswith(os.sep) and vj.data.lbpcascades.endswith(os.sep)


@pytest.fixture(scope="module")
def single_threaded_opencv():
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


@lru_cache(maxsize=None)
def load_photos(folder: str, count: int, max_side: int, start: int = 0) -> tuple[np.ndarray, ...]:
    """``count`` BGR photos (as cv2.imread gives them), shrunk to at most ``max_side``."""
    photos = []
    for path in sorted(Path(folder).glob("*.jpg"))[start:start + count]:
        image = cv2.imread(str(path))
        scale = max_side / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos.append(image)
    return tuple(photos)


@pytest.fixture(scope="module")
def photos(shared_data) -> tuple[np.ndarray, ...]:
    folder = shared_data / "webfaces" / "images"
    if not folder.is_dir():
        pytest.skip(f"WebFaces photos not found in {folder}")
    return load_photos(str(folder), PHOTOS, MAX_SIDE)


def same_result(ours, theirs) -> bool:
    """Whether two OpenCV-style results are equal in type, dtype, shape and value (weights: to 1e-6)."""
    if isinstance(theirs, tuple):
        return (isinstance(ours, tuple) and len(ours) == len(theirs)
                and all(same_result(a, b) for a, b in zip(ours, theirs)))
    if not isinstance(ours, np.ndarray) or ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        return False
    if theirs.dtype.kind == "f":
        return bool(np.allclose(ours, theirs, rtol=0, atol=1e-6))
    return bool(np.array_equal(ours, theirs))


def compare(ours: vj.CascadeClassifier, theirs, image: np.ndarray, kwargs: dict, methods: int = 3) -> list[str]:
    """The names of the first ``methods`` methods whose results differ (empty when all agree)."""
    calls = {
        "detectMultiScale": lambda c: c.detectMultiScale(image, **kwargs),
        "detectMultiScale2": lambda c: c.detectMultiScale2(image, **kwargs),
        "detectMultiScale3": lambda c: c.detectMultiScale3(image, **kwargs, outputRejectLevels=True),
    }
    return [name for name, call in list(calls.items())[:methods] if not same_result(call(ours), call(theirs))]


@pytest.mark.parametrize("path", CASCADES, ids=[Path(p).name for p in CASCADES])
def test_every_cascade_matches_opencv(path, photos, single_threaded_opencv):
    ours, theirs = vj.CascadeClassifier(path), cv2.CascadeClassifier(path)
    assert not theirs.empty() and not ours.empty()
    assert ours.getOriginalWindowSize() == tuple(theirs.getOriginalWindowSize())
    assert ours.getFeatureType() == theirs.getFeatureType()
    assert ours.isOldFormatCascade() == theirs.isOldFormatCascade()
    differences = []
    for k, bgr in enumerate(photos):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        for kwargs in SETTINGS:
            for image, kind, methods in ((gray, "grey", 3), (bgr, "BGR", 1)):  # BGR: conversion + the same scan
                differences += [f"photo {k} {kind} {kwargs}: {name}"
                                for name in compare(ours, theirs, image, kwargs, methods)]
    assert not differences, differences


@pytest.mark.parametrize("face_name, eye_name", [
    ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml"),
    ("haarcascade_frontalface_alt2.xml", "haarcascade_eye_tree_eyeglasses.xml"),
])
def test_eyes_in_face_regions_match_opencv(face_name, eye_name, photos, single_threaded_opencv):
    """The classic nested pattern: eyes searched in each face's region of interest (a slice view)."""
    faces_vj = vj.CascadeClassifier(vj.data.haarcascades + face_name)
    eyes_vj = vj.CascadeClassifier(vj.data.haarcascades + eye_name)
    faces_cv = cv2.CascadeClassifier(vj.data.haarcascades + face_name)
    eyes_cv = cv2.CascadeClassifier(vj.data.haarcascades + eye_name)
    regions = 0
    for bgr in photos:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        faces = faces_vj.detectMultiScale(gray, 1.1, 3)
        assert same_result(faces, faces_cv.detectMultiScale(gray, 1.1, 3))
        for x, y, w, h in faces:
            for roi in (gray[y:y + h, x:x + w], bgr[y:y + h, x:x + w]):
                assert not roi.flags.c_contiguous  # a view into the photo, as client code passes it
                for kwargs in (dict(), dict(scaleFactor=1.1, minNeighbors=2, minSize=(10, 10))):
                    assert not compare(eyes_vj, eyes_cv, roi, kwargs), (face_name, (x, y, w, h), kwargs)
                regions += 1
    assert regions > 0, "no face found to search eyes in"


def main() -> None:
    """The larger check: counts of identical results per cascade and setting over more photos."""
    import argparse

    from tests.conftest import find_shared_data

    parser = argparse.ArgumentParser(description="vj.CascadeClassifier vs OpenCV 4 on WebFaces photos")
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--start", type=int, default=0, help="first photo (sorted by name)")
    parser.add_argument("--max-side", type=int, default=100000, help="shrink larger photos (default: never)")
    parser.add_argument("--only", nargs="*", default=[], help="check only cascades whose name contains one of these")
    args = parser.parse_args()
    data = find_shared_data()
    if data is None:
        raise SystemExit("no data: set FACESTACK_DATA")
    cv2.setNumThreads(1)
    photos = load_photos(str(data / "webfaces" / "images"), args.photos, args.max_side, args.start)
    for path in CASCADES:
        if args.only and not any(part in Path(path).name for part in args.only):
            continue
        ours, theirs = vj.CascadeClassifier(path), cv2.CascadeClassifier(path)
        for kwargs in SETTINGS:
            same = total = boxes = 0
            for bgr in photos:
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                for image, methods in ((gray, 3), (bgr, 1)):
                    total += 1
                    same += not compare(ours, theirs, image, kwargs, methods)
                    boxes += len(theirs.detectMultiScale(image, **kwargs))
            print(f"{Path(path).name} {kwargs}: identical on {same}/{total} images ({boxes} OpenCV boxes)",
                  flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
