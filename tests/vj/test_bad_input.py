"""Bad files and odd images: clear errors or empty results, never a crash or a hang."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vj

cv2 = pytest.importorskip("cv2")

FRONTAL = Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml"

LBP_CASCADE = """<?xml version="1.0"?>
<opencv_storage><cascade type_id="opencv-cascade-classifier">
<stageType>BOOST</stageType><featureType>LBP</featureType><height>24</height><width>24</width>
<stageParams><maxWeakCount>1</maxWeakCount></stageParams>
<featureParams><maxCatCount>256</maxCatCount></featureParams><stageNum>1</stageNum>
<stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>-0.5</stageThreshold>
<weakClassifiers><_><internalNodes>0 -1 0 -1 -1 -1 -1 -1 -1 -1 -1</internalNodes>
<leafValues>-1. 1.</leafValues></_></weakClassifiers></_></stages>
<features><_><rect>0 0 3 3</rect></_></features>
</cascade></opencv_storage>"""


@pytest.fixture(scope="module")
def cascade() -> vj.PreparedCascade:
    return vj.prepare_cascade(vj.load_cascade(FRONTAL))


def test_truncated_xml(tmp_path):
    text = FRONTAL.read_text()
    (tmp_path / "cut.xml").write_text(text[: len(text) // 2])
    with pytest.raises(vj.CascadeFormatError, match="not well-formed"):
        vj.load_cascade(tmp_path / "cut.xml")


def test_lbp_cascade_loads(tmp_path):
    (tmp_path / "lbp.xml").write_text(LBP_CASCADE)
    assert not cv2.CascadeClassifier(str(tmp_path / "lbp.xml")).empty()  # a valid cascade, for OpenCV
    cascade = vj.load_cascade(tmp_path / "lbp.xml")
    assert isinstance(cascade, vj.LbpCascade) and cascade.num_stages == 1 and cascade.window_size == (24, 24)


def test_hog_and_non_boost_cascades_are_named(tmp_path):
    (tmp_path / "hog.xml").write_text(LBP_CASCADE.replace(">LBP<", ">HOG<"))
    with pytest.raises(vj.UnsupportedCascadeError, match="HOG"):
        vj.load_cascade(tmp_path / "hog.xml")
    haar = FRONTAL.read_text().replace("<stageType>BOOST</stageType>", "<stageType>GAUSS</stageType>", 1)
    (tmp_path / "gauss.xml").write_text(haar)
    with pytest.raises(vj.UnsupportedCascadeError, match="GAUSS"):
        vj.load_cascade(tmp_path / "gauss.xml")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        vj.load_cascade(tmp_path / "nope.xml")


def test_not_xml_at_all(tmp_path):
    (tmp_path / "binary.xml").write_bytes(bytes(range(256)))
    with pytest.raises(vj.CascadeFormatError):
        vj.load_cascade(tmp_path / "binary.xml")


@pytest.mark.parametrize("shape", [(0, 0), (0, 40), (40, 0), (1, 1), (19, 19), (19, 400), (400, 19), (20, 20)])
def test_tiny_and_empty_images_give_no_detections(cascade, shape):
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    boxes, scores = vj.detect_multi_scale(image, cascade)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    assert boxes.dtype == np.int64


def test_window_sized_image_is_scanned_once(cascade):
    """A 20x20 image has exactly one window; OpenCV agrees on whether it fires."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        image = rng.integers(0, 256, size=(21, 21), dtype=np.uint8)
        ours, _ = vj.detect_multi_scale(image, cascade, 1.1, 0)
        theirs = np.asarray(cv2.CascadeClassifier(str(FRONTAL)).detectMultiScale(image, 1.1, 0)).reshape(-1, 4)
        assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, theirs.tolist()))


def test_nan_in_float_image_is_an_error(cascade):
    image = np.random.default_rng(2).uniform(0, 1, size=(60, 60))
    image[10, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        vj.detect_multi_scale(image, cascade)


def test_dtypes_and_channels_agree(cascade):
    import skimage.data

    gray8 = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)[:200, 100:300]
    expected, _ = vj.detect_multi_scale(gray8, cascade, 1.2, 1)
    assert len(expected) > 0
    variants = [gray8.astype(np.float32) / 255, gray8.astype(np.float64) / 255, gray8.astype(np.uint16) * 257,
                gray8[:, :, None], np.repeat(gray8[:, :, None], 3, axis=2),
                np.dstack([gray8, gray8, gray8, np.zeros_like(gray8)]), gray8.astype(np.int32)]
    for image in variants:
        boxes, _ = vj.detect_multi_scale(image, cascade, 1.2, 1)
        assert np.array_equal(boxes, expected), image.dtype


@pytest.mark.parametrize("image, error", [
    (np.zeros((30, 30, 2), dtype=np.uint8), ValueError),
    (np.zeros((2, 30, 30, 3), dtype=np.uint8), ValueError),
    (np.zeros((30, 30), dtype=bool), TypeError),
    (np.zeros((30, 30), dtype=complex), TypeError),
    (np.array([["a"]]), TypeError),
])
def test_unsupported_images_are_errors(cascade, image, error):
    with pytest.raises(error):
        vj.detect_multi_scale(image, cascade)


@pytest.mark.parametrize("kwargs, message", [
    ({"scale_factor": 1.0}, "scale_factor"),
    ({"scale_factor": float("nan")}, "scale_factor"),
    ({"min_neighbors": -1}, "min_neighbors"),
    ({"grouping": "mean-shift"}, "grouping"),
    ({"min_size": "big"}, "min_size"),
])
def test_bad_parameters(cascade, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        vj.detect_multi_scale(np.zeros((50, 50), dtype=np.uint8), cascade, **kwargs)


def test_not_a_cascade():
    with pytest.raises(TypeError, match="Cascade"):
        vj.detect_multi_scale(np.zeros((50, 50), dtype=np.uint8), "haarcascade.xml")


def test_cascade_with_rectangles_outside_the_window_is_refused():
    feature = vj.HaarFeature(np.array([[0, 0, 4, 4, -1.0], [2, 2, 4, 4, 2.0]]))
    stage = vj.Stage(0.0, [vj.WeakClassifier.stump(0, 0.0, -1.0, 1.0)])
    vj.prepare_cascade(vj.Cascade((6, 6), [feature], [stage]))  # fits
    with pytest.raises(ValueError, match="outside"):
        vj.prepare_cascade(vj.Cascade((5, 5), [feature], [stage]))
    tilted = vj.HaarFeature(np.array([[1, 0, 3, 2, -1.0], [1, 0, 1, 1, 2.0]]), tilted=True)  # x - h < 0
    with pytest.raises(ValueError, match="tilted"):
        vj.prepare_cascade(vj.Cascade((8, 8), [tilted], [stage]))


def test_sample_lists_refuse_odd_text(tmp_path):
    """Info files and bg lists: not UTF-8, a NUL byte, huge numbers, an unusable name: one SampleFileError
    naming the file (and line), never a UnicodeDecodeError, OverflowError or OSError."""
    from vj.sample_files import SampleFileError, parse_bg, parse_info

    cases = {b"\xff\xfe a.png\n": "not a UTF-8 text file", b"a.png\0 1 0 0 1 1\n": "info.txt:1: a NUL byte",
             b"a.png 1 0 0 99999999999999999999 5\n": "info.txt:1: a number beyond",
             ("x" * 5000 + " 0\n").encode(): "info.txt:1: cannot use the image path"}
    for content, message in cases.items():
        (tmp_path / "info.txt").write_bytes(content)
        with pytest.raises(SampleFileError, match=message):
            parse_info(tmp_path / "info.txt")
    (tmp_path / "bg.txt").write_bytes(b"x" * 5000 + b"\n")
    with pytest.raises(SampleFileError, match="bg.txt:1: cannot use the image path"):
        parse_bg(tmp_path / "bg.txt")


def test_vec_window_must_be_positive(tmp_path):
    from vj.sample_files import read_vec, write_vec

    write_vec(tmp_path / "s.vec", np.zeros((2, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="window size must be positive"):
        read_vec(tmp_path / "s.vec", (0, 0))
