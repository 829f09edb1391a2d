"""The positive framings agree with a refit on real data, and the shipped cascade is
the default of ``vj.load_cascade()`` and ``vj detect``."""
from __future__ import annotations

import numpy as np
import pytest

import vj
from vj.cli import main
from facestack.cascade_data import UTKFACE_OPENCV_BOX
from facestack.detector_eval import match_matrix
from facestack.webfaces import WEBFACES_FRAMING, read_webfaces_annotations
from vj.positives import crop_padded, fit_chip_box, fit_landmark_framing, image_files, read_gray

cv2 = pytest.importorskip("cv2")
OPENCV_XML = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


def test_webfaces_framing_matches_a_refit_on_150_training_photos(shared_data):
    if not (shared_data / "webfaces-train").is_dir():
        pytest.skip("no webfaces-train/ in the shared data")
    annotations = read_webfaces_annotations(shared_data / "webfaces-train" / "WebFaces_GroundThruth.txt")
    cascade = vj.prepare_cascade(vj.load_cascade(OPENCV_XML))
    boxes, lefts, rights = [], [], []
    for name in sorted(annotations)[:150]:
        found, _ = vj.detect_multi_scale(read_gray(shared_data / "webfaces-train" / "images" / name), cascade, 1.1, 3)
        allowed = match_matrix(found, annotations[name])
        for k, marks in enumerate(annotations[name]):
            if allowed[:, k].sum() == 1:
                boxes.append(found[allowed[:, k]][0])
                lefts.append(marks[0])
                rights.append(marks[1])
    assert len(boxes) > 100
    fitted = fit_landmark_framing(np.array(boxes), np.array(lefts), np.array(rights))
    assert fitted.width_per_eye_distance == pytest.approx(WEBFACES_FRAMING.width_per_eye_distance, rel=0.06)
    assert fitted.centre_along == pytest.approx(WEBFACES_FRAMING.centre_along, abs=0.06)
    assert fitted.centre_across == pytest.approx(WEBFACES_FRAMING.centre_across, abs=0.06)


def test_utkface_box_matches_a_refit_on_60_chips(shared_data):
    cascade = vj.prepare_cascade(vj.load_cascade(OPENCV_XML))
    boxes = []
    for path in image_files(shared_data / "utkface" / "UTKFace")[::400][:60]:
        chip = read_gray(path)
        padded = crop_padded(chip, np.array([-60, -60, chip.shape[1] + 120, chip.shape[0] + 120]))
        found, _ = vj.detect_multi_scale(padded, cascade, 1.1, 3)
        if len(found) == 1:
            boxes.append(found[0] - np.array([60, 60, 0, 0]))
    assert len(boxes) > 45
    assert np.array(fit_chip_box(np.array(boxes), (200, 200))) * 200 == pytest.approx(
        np.array(UTKFACE_OPENCV_BOX) * 200, abs=6)


def test_shipped_cascade_is_the_default(tmp_path):
    cascade = vj.load_cascade()
    assert cascade.window_size == (20, 20) and cascade.num_stages >= 10
    image = np.asarray(__import__("skimage.data", fromlist=["astronaut"]).astronaut())
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "astronaut.png")
    assert main(["detect", str(tmp_path / "astronaut.png"), "--out", str(tmp_path / "out"), "--json"]) == 0
    assert (tmp_path / "out" / "astronaut_detected.png").is_file()


def test_opencv_gives_the_same_boxes_with_the_shipped_cascade(shared_data):
    from vj.opencv_xml import DEFAULT_CASCADE

    opencv = cv2.CascadeClassifier(str(DEFAULT_CASCADE))
    assert not opencv.empty()
    cascade = vj.prepare_cascade(vj.load_cascade())
    total = 0
    for photo in sorted((shared_data / "webfaces" / "images").iterdir())[:8]:
        gray = read_gray(photo)
        ours, _ = vj.detect_multi_scale(gray, cascade, 1.1, 3)
        theirs = np.asarray(opencv.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3), np.int64).reshape(-1, 4)
        assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, theirs.tolist())), photo.name
        total += len(ours)
    assert total > 0
