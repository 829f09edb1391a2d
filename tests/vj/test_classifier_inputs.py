"""vj.CascadeClassifier's inputs: OpenCV's colour conversion bit for bit, and clear errors for the rest.

What OpenCV 4 refuses (float or other non-uint8 images, 2 or 5 channels, non-arrays,
scaleFactor <= 1, non-integer minNeighbors or sizes) vj refuses with a TypeError or
ValueError naming what was expected; where OpenCV silently returns nothing or treats
a value as another (an empty image or None, a negative minNeighbors) vj refuses too.
"""
from __future__ import annotations

import numpy as np
import pytest

import vj
from vj.classifier import opencv_gray
from vj.image import bgr_to_gray

cv2 = pytest.importorskip("cv2")

FACE = vj.data.haarcascades + "haarcascade_frontalface_alt2.xml"


@pytest.fixture(scope="module")
def classifier() -> vj.CascadeClassifier:
    return vj.CascadeClassifier(FACE)


@pytest.mark.parametrize("channels", [3, 4])
def test_bgr_to_gray_is_cvtcolor_bit_for_bit(channels):
    rng = np.random.default_rng(channels)
    image = rng.integers(0, 256, size=(97, 131, channels), dtype=np.uint8)
    expected = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
    assert np.array_equal(bgr_to_gray(image), expected)
    # every (b, g, r) rounding case of one channel against the others' extremes, and a strided view
    levels = np.arange(256, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, indexing="ij"), axis=-1).reshape(256, 256, 2)
    for third in (0, 127, 255):
        bgr = np.concatenate([grid, np.full((256, 256, 1), third, np.uint8)], axis=2)
        assert np.array_equal(bgr_to_gray(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    view = image[5:60:2, 7:100:3, :3]
    assert np.array_equal(opencv_gray(view), cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2GRAY))


def test_bgr_is_not_read_as_rgb(classifier):
    """A BGR frame goes through BGR weights: the same boxes as its grey image, not as its RGB reading."""
    import skimage.data

    bgr = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(classifier.detectMultiScale(bgr, 1.1, 3), classifier.detectMultiScale(gray, 1.1, 3))
    assert np.array_equal(opencv_gray(bgr), gray)
    assert np.array_equal(opencv_gray(gray[:, :, None]), gray)


@pytest.mark.parametrize("image, error, words", [
    (np.zeros((60, 60), np.float32), TypeError, "uint8"),
    (np.full((60, 60), 200.0), TypeError, "0..255"),
    (np.zeros((60, 60), np.uint16), TypeError, "uint8"),
    (np.zeros((60, 60), np.int8), TypeError, "uint8"),
    (np.zeros((60, 60), bool), TypeError, "uint8"),
    (np.zeros((60, 60, 2), np.uint8), ValueError, "(H, W, 3)"),
    (np.zeros((60, 60, 5), np.uint8), ValueError, "BGRA"),
    (np.zeros((2, 60, 60, 3), np.uint8), ValueError, "shape"),
    (np.zeros(60, np.uint8), ValueError, "shape"),
    (np.zeros((0, 0), np.uint8), ValueError, "empty"),
    (np.zeros((0, 40, 3), np.uint8), ValueError, "empty"),
    (None, TypeError, "numpy"),
    ([[1, 2], [3, 4]], TypeError, "numpy"),
    ("photo.jpg", TypeError, "numpy"),
])
def test_refused_images(classifier, image, error, words):
    for method in (classifier.detectMultiScale, classifier.detectMultiScale2, classifier.detectMultiScale3):
        with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            method(image)


def test_opencv_refuses_what_vj_refuses_or_returns_nothing():
    """The refusals follow OpenCV's: it errors on these (empty images: it returns ())."""
    reference = cv2.CascadeClassifier(FACE)
    for image in (np.zeros((60, 60), np.float32), np.zeros((60, 60, 2), np.uint8), [[1, 2], [3, 4]]):
        with pytest.raises(cv2.error):
            reference.detectMultiScale(image)
    assert reference.detectMultiScale(np.zeros((0, 0), np.uint8)) == ()


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(scaleFactor=1.0), ValueError, "scaleFactor"),
    (dict(scaleFactor=0.9), ValueError, "scaleFactor"),
    (dict(scaleFactor=-2), ValueError, "scaleFactor"),
    (dict(scaleFactor=float("nan")), ValueError, "scaleFactor"),
    (dict(scaleFactor="1.1"), TypeError, "scaleFactor"),
    (dict(minNeighbors=-1), ValueError, "minNeighbors"),
    (dict(minNeighbors=2.5), TypeError, "minNeighbors"),
    (dict(flags=1.5), TypeError, "flags"),
    (dict(minSize=30), TypeError, "minSize"),
    (dict(minSize=(30,)), TypeError, "minSize"),
    (dict(minSize=(30.5, 30)), TypeError, "minSize"),
    (dict(maxSize=(-1, 10)), ValueError, "maxSize"),
])
def test_refused_parameters(classifier, kwargs, error, words):
    with pytest.raises(error, match=words):
        classifier.detectMultiScale(np.zeros((60, 60), np.uint8), **kwargs)


def test_parameters_opencv_takes(classifier):
    image = np.zeros((60, 80), np.uint8)
    assert classifier.detectMultiScale(image, 2) == ()  # an int scale factor
    assert classifier.detectMultiScale(image, 1.1, np.int64(3), 0, np.array([20, 20]), [50, 50]) == ()
    for flag in (vj.CASCADE_DO_CANNY_PRUNING, vj.CASCADE_SCALE_IMAGE, vj.CASCADE_FIND_BIGGEST_OBJECT,
                 vj.CASCADE_DO_ROUGH_SEARCH):
        assert classifier.detectMultiScale(image, flags=flag) == ()
    assert (vj.CASCADE_DO_CANNY_PRUNING, vj.CASCADE_SCALE_IMAGE, vj.CASCADE_FIND_BIGGEST_OBJECT,
            vj.CASCADE_DO_ROUGH_SEARCH) == (cv2.CASCADE_DO_CANNY_PRUNING, cv2.CASCADE_SCALE_IMAGE,
                                            cv2.CASCADE_FIND_BIGGEST_OBJECT, cv2.CASCADE_DO_ROUGH_SEARCH)
    assert vj.CascadeClassifier.CASCADE_SCALE_IMAGE == 2


def test_flags_change_nothing_as_in_opencv4(classifier):
    import skimage.data

    gray = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    plain = classifier.detectMultiScale(gray, 1.2, 3)
    reference = cv2.CascadeClassifier(FACE)
    for flags in (1, 2, 4, 8, 4 | 8):
        assert np.array_equal(classifier.detectMultiScale(gray, 1.2, 3, flags), plain)
        assert sorted(map(tuple, reference.detectMultiScale(gray, 1.2, 3, flags).tolist())) == \
            sorted(map(tuple, plain.tolist()))


def test_empty_classifier_and_failed_loads(tmp_path):
    empty = vj.CascadeClassifier()
    assert empty.empty() and empty.getOriginalWindowSize() == (0, 0)
    with pytest.raises(vj.EmptyClassifierError, match="empty"):
        empty.detectMultiScale(np.zeros((50, 50), np.uint8))
    assert empty.load(tmp_path / "missing.xml") is False and empty.empty()
    with pytest.raises(vj.EmptyClassifierError, match="missing.xml"):
        empty.detectMultiScale(np.zeros((50, 50), np.uint8))
    (tmp_path / "junk.xml").write_text("<opencv_storage><cascade>")
    assert vj.CascadeClassifier(tmp_path / "junk.xml").empty()
    assert not cv2.CascadeClassifier(str(tmp_path / "missing.xml")).load(str(tmp_path / "missing.xml"))
    loaded = vj.CascadeClassifier()
    assert loaded.load(FACE) is True and not loaded.empty()
    assert loaded.getOriginalWindowSize() == (20, 20) and loaded.getFeatureType() == 0
    assert not loaded.load(tmp_path / "missing.xml") and loaded.empty()  # as OpenCV: a failed load empties it
    with pytest.raises(TypeError, match="filename"):
        vj.CascadeClassifier(42)


def test_vj_functions_refuse_float_images_in_0_255():
    """vj's own functions read floats as 0..1; an image in 0..255 is an error, not silently nothing."""
    cascade = vj.load_cascade(FACE)
    image = np.random.default_rng(0).uniform(0, 255, size=(80, 80))
    with pytest.raises(ValueError, match="0..1"):
        vj.detect_multi_scale(image, cascade)
    boxes, scores = vj.detect_multi_scale(image / 255, cascade)
    assert boxes.shape[1] == 4 and scores.shape == (len(boxes),)
