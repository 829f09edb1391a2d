"""Client code written for cv2.CascadeClassifier runs unchanged with vj's class swapped in.

Each script below is the shape of a typical OpenCV 4 face-detection program (tutorial
loops, ``len(faces) == 0`` tests, column slicing, confidence filtering with
``detectMultiScale3``, eyes in the face's region of interest, keyword and positional
arguments, an empty-classifier check). It is run twice, once with ``cv2`` and once
with a module whose ``CascadeClassifier`` is vj's (everything else is cv2), and
everything it records, with its type, must be equal.
"""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

import vj

cv2 = pytest.importorskip("cv2")

FACE = "haarcascade_frontalface_default.xml"
EYE = "haarcascade_eye.xml"
PHOTOS = 3
MAX_SIDE = 480


def with_vj_classifier() -> types.SimpleNamespace:
    """A stand-in for the cv2 module whose CascadeClassifier (and data) are vj's."""
    names = {name: getattr(cv2, name) for name in dir(cv2) if not name.startswith("__")}
    names["CascadeClassifier"] = vj.CascadeClassifier
    names["data"] = vj.data
    return types.SimpleNamespace(**names)


def tutorial_loop(cv, image, record):
    """OpenCV's face tutorial: draw every face, then eyes inside each face's ROI."""
    face_cascade = cv.CascadeClassifier(cv.data.haarcascades + FACE)
    eye_cascade = cv.CascadeClassifier()
    if not eye_cascade.load(cv.data.haarcascades + EYE):
        raise RuntimeError("could not load the eye cascade")
    gray = cv.cvtColor(image, cv.COLOR_BGR2GRAY)
    gray = cv.equalizeHist(gray)
    faces = face_cascade.detectMultiScale(gray, 1.3, 5)
    record("faces", faces)
    canvas = image.copy()
    for (x, y, w, h) in faces:
        cv.rectangle(canvas, (x, y), (x + w, y + h), (255, 0, 0), 2)
        roi_gray = gray[y:y + h, x:x + w]
        roi_color = canvas[y:y + h, x:x + w]
        eyes = eye_cascade.detectMultiScale(roi_gray)
        record("eyes", eyes)
        for (ex, ey, ew, eh) in eyes:
            cv.rectangle(roi_color, (ex, ey), (ex + ew, ey + eh), (0, 255, 0), 2)
    record("canvas", canvas)


def counting_and_slicing(cv, image, record):
    """``len(faces) == 0`` tests, ``faces[:, 2]`` widths, the largest face, BGR straight in."""
    detector = cv.CascadeClassifier(cv.data.haarcascades + FACE)
    faces = detector.detectMultiScale(image, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30),
                                      flags=cv.CASCADE_SCALE_IMAGE)
    record("faces", faces)
    if len(faces) == 0:
        record("none", True)
        return
    record("widths", faces[:, 2])
    record("areas", faces[:, 2] * faces[:, 3])
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    record("largest", (x, y, w, h))
    record("centres", [(int(x + w // 2), int(y + h // 2)) for (x, y, w, h) in faces])
    record("list", np.array(faces).tolist())


def confidence_filter(cv, image, record):
    """``detectMultiScale3`` with reject levels, keeping confident faces; ``detectMultiScale2`` counts."""
    detector = cv.CascadeClassifier(cv.data.haarcascades + FACE)
    gray = cv.cvtColor(image, cv.COLOR_BGR2GRAY)
    faces, levels, weights = detector.detectMultiScale3(gray, scaleFactor=1.1, minNeighbors=3,
                                                        outputRejectLevels=True)
    record("faces3", faces)
    record("levels", levels)
    record("weights", np.round(np.asarray(weights, dtype=np.float64), 6) if len(weights) else weights)
    record("confident", [tuple(f) for f, w in zip(faces, weights) if w > 1.0])
    faces2, counts = detector.detectMultiScale2(gray, 1.2, 2)
    record("faces2", faces2)
    record("counts", counts)
    record("best", [tuple(f) for f, n in zip(faces2, counts) if n >= 5])


def positional_and_raw(cv, image, record):
    """All arguments by position, raw windows (minNeighbors 0), maxSize, an empty classifier."""
    detector = cv.CascadeClassifier(cv.data.haarcascades + "haarcascade_frontalface_alt2.xml")
    gray = cv.cvtColor(image, cv.COLOR_BGR2GRAY)
    record("positional", detector.detectMultiScale(gray, 1.2, 3, 0, (40, 40), (300, 300)))
    record("raw", detector.detectMultiScale(gray, 1.2, 0))
    record("window", detector.getOriginalWindowSize())
    record("type", detector.getFeatureType())
    record("tiny", detector.detectMultiScale(gray[:10, :10]))
    empty = cv.CascadeClassifier()
    record("empty", empty.empty())
    record("failed_load", empty.load(str(Path(cv.data.haarcascades) / "no_such_cascade.xml")))


def lbp_webcam_style(cv, image, record):
    """A frame loop with OpenCV's LBP face cascade, as in LBP tutorials (frames are BGR)."""
    detector = cv.CascadeClassifier(vj.data.lbpcascades + "lbpcascade_frontalface.xml")
    for frame in (image, cv.flip(image, 1)):
        gray = cv.cvtColor(frame, cv.COLOR_BGR2GRAY)
        faces = detector.detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5, minSize=(24, 24))
        record("faces", faces)
        record("count", len(faces))


SCRIPTS = [tutorial_loop, counting_and_slicing, confidence_filter, positional_and_raw, lbp_webcam_style]


def run_script(script, cv, images) -> list[tuple[str, object]]:
    records: list[tuple[str, object]] = []
    for image in images:
        script(cv, image, lambda name, value: records.append((name, value)))
    return records


def equal(a, b) -> bool:
    """Equal values of the same type (arrays: same dtype and shape too)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


@pytest.fixture(scope="module")
def images(shared_data):
    folder = shared_data / "webfaces" / "images"
    if not folder.is_dir():
        pytest.skip(f"WebFaces photos not found in {folder}")
    images = []
    for path in sorted(folder.glob("*.jpg"))[20:20 + PHOTOS]:
        image = cv2.imread(str(path))
        scale = MAX_SIDE / max(image.shape[:2])
        images.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image)
    return images


@pytest.fixture(scope="module")
def single_threaded_opencv():
    """OpenCV's box order varies from run to run with several threads; with one it is vj's order."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.__name__ for s in SCRIPTS])
def test_client_script_gives_opencvs_results(script, images, single_threaded_opencv):
    theirs = run_script(script, cv2, images)
    ours = run_script(script, with_vj_classifier(), images)
    assert [name for name, _ in ours] == [name for name, _ in theirs]
    for (name, a), (_, b) in zip(ours, theirs):
        assert equal(a, b), (script.__name__, name, a, b)
    assert any(isinstance(v, np.ndarray) and v.size for _, v in theirs), "the script found nothing to compare"


def test_results_have_opencvs_types(images):
    """The documented shapes: (N, 4) int32 arrays, () when nothing is found, (N,) int32 / float64 extras."""
    ours = vj.CascadeClassifier(vj.data.haarcascades + FACE)
    faces = ours.detectMultiScale(images[0])
    assert isinstance(faces, np.ndarray) and faces.dtype == np.int32 and faces.shape[1:] == (4,)
    blank = np.zeros((120, 160), np.uint8)
    assert ours.detectMultiScale(blank) == ()
    assert ours.detectMultiScale2(blank) == ((), ())
    assert ours.detectMultiScale3(blank, outputRejectLevels=True) == ((), (), ())
    found, counts = ours.detectMultiScale2(images[0])
    assert counts.dtype == np.int32 and counts.shape == (len(found),)
    found, levels, weights = ours.detectMultiScale3(images[0], outputRejectLevels=True)
    assert levels.dtype == np.int32 and weights.dtype == np.float64 and weights.shape == (len(found),)
    assert set(levels.tolist()) == {len(ours.cascade.stages)}
