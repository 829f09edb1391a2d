"""Positive readers (skipping and counting bad files, refusing too-small samples),
landmark framing, and the WebFaces matching rule, on files and boxes made here."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vj.cli import main
from facestack.detector_eval import evaluate_detector, match_detections, match_matrix
from facestack.webfaces import read_webfaces_annotations, read_webfaces_faces
from vj.positives import FaceAugmentation, LandmarkFraming, fit_landmark_framing, mirrored, read_crop_folder


@pytest.fixture()
def crop_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / f"face{i}.png")
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(tmp_path / "odd.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    return tmp_path


def test_crop_folder_skips_and_counts_bad_files(crop_folder):
    windows, report = read_crop_folder(crop_folder, (12, 12))
    assert windows.shape == (6, 12, 12) and windows.dtype == np.uint8
    assert report.used == 6 and report.unreadable == ["broken.jpg"] and report.odd_sized == ["odd.png"]
    assert "1 unreadable and 1 odd-sized" in report.summary()
    assert mirrored(windows).shape == (12, 12, 12)
    assert np.array_equal(mirrored(windows)[6], windows[0][:, ::-1])


def test_window_larger_than_samples_is_a_clear_error(crop_folder, tmp_path):
    with pytest.raises(ValueError, match=r"window 24x24 is larger than the samples .* \(20x20\)"):
        read_crop_folder(crop_folder, (24, 24))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no readable images"):
        read_crop_folder(empty, (12, 12))
    with pytest.raises(FileNotFoundError):
        read_crop_folder(tmp_path / "missing", (12, 12))


def test_cli_train_reports_bad_input(crop_folder, tmp_path, capsys):
    background = tmp_path / "bg"
    background.mkdir()
    Image.fromarray(np.full((50, 50), 90, np.uint8)).save(background / "flat.png")
    args = ["train", "--pos", str(crop_folder), "--neg", str(background), "--out", str(tmp_path / "c.xml")]
    assert main(args + ["--window", "24"]) == 2
    assert "larger than the samples" in capsys.readouterr().err
    assert main(args + ["--window", "12", "--stages", "2", "--num-neg", "20", "--min-positives", "2",
                       "--max-mining-windows", "20000"]) == 0
    printed = capsys.readouterr().out
    assert "1 unreadable and 1 odd-sized files skipped" in printed
    assert "stopped: no negatives left to mine before stage 1" in printed


def test_landmark_framing_roundtrip_and_webfaces_reader(tmp_path):
    framing = LandmarkFraming(2.5, 0.1, 0.3)
    rng = np.random.default_rng(1)
    left = rng.uniform(20, 60, (20, 2))
    right = left + rng.uniform(15, 30, (20, 1)) * np.array([1.0, 0.1])
    boxes = np.stack([framing.box(a, b) for a, b in zip(left, right)])
    fitted = fit_landmark_framing(boxes, left, right)
    assert (fitted.width_per_eye_distance, fitted.centre_along, fitted.centre_across) == pytest.approx((2.5, 0.1, 0.3))
    Image.fromarray(rng.integers(0, 256, (120, 160), dtype=np.uint8)).save(tmp_path / "a.jpg")
    ann = tmp_path / "gt.txt"
    ann.write_text("a.jpg 50 50 80 50 65 65 65 78\na.jpg 100 40 104 40 102 44 102 46\nmissing.jpg 1 1 9 1 5 5 5 8\n")
    assert read_webfaces_annotations(ann)["a.jpg"].shape == (2, 4, 2)
    windows, report = read_webfaces_faces(ann, (24, 24), image_dir=tmp_path)
    assert windows.shape == (1, 24, 24)
    assert report.unreadable == ["missing.jpg"] and report.odd_sized == ["a.jpg"]  # the 4 px eye distance face



def test_webfaces_copies_are_augmented_reproducible_and_never_below_the_window(tmp_path):
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (120, 160), dtype=np.uint8)).save(tmp_path / "a.jpg")
    ann = tmp_path / "gt.txt"
    # eye distances 30 and 20 px (boxes of 2.75 of them), the second reaching outside the photo
    ann.write_text("a.jpg 50 50 80 50 65 65 65 78\na.jpg 5 8 25 8 15 18 15 25\n")
    framed, _ = read_webfaces_faces(ann, (20, 20), image_dir=tmp_path)
    same, _ = read_webfaces_faces(ann, (20, 20), image_dir=tmp_path, augmentation=FaceAugmentation(copies=1))
    assert np.array_equal(same, framed)  # nothing random: the framed windows exactly
    augment = FaceAugmentation(copies=5, jitter=0.2, rotate=15, blur=1.0, seed=3)
    windows, report = read_webfaces_faces(ann, (20, 20), image_dir=tmp_path, augmentation=augment)
    assert windows.shape == (10, 20, 20) and report.used == 10
    assert all(not np.array_equal(windows[0], w) for w in windows[1:5])  # each copy drawn afresh
    again, _ = read_webfaces_faces(ann, (20, 20), image_dir=tmp_path, augmentation=augment)
    assert np.array_equal(again, windows)
    # a box at the window's own size, shrunk by the jitter, is widened back instead of failing
    small = tmp_path / "small.txt"
    eye_distance = 20 / 2.75 + 0.3  # a 20.8 px box
    small.write_text(f"a.jpg 60 60 {60 + eye_distance} 60 64 66 64 70\n")
    tight, _ = read_webfaces_faces(small, (20, 20), image_dir=tmp_path,
                                   augmentation=FaceAugmentation(copies=20, jitter=0.3, seed=0))
    assert tight.shape == (20, 20, 20)
    with pytest.raises(ValueError, match="copies must be at least 1"):
        FaceAugmentation(copies=0)
    with pytest.raises(ValueError, match="jitter must be at least 0"):
        FaceAugmentation(jitter=-0.1)

def test_matching_rule():
    face = np.array([[[40, 40], [60, 40], [50, 50], [50, 60]]], dtype=float)  # eye distance 20
    boxes = np.array([
        [30, 25, 45, 45],  # contains all four landmarks, width 2.25 d: match
        [30, 25, 100, 100],  # too wide (5 d)
        [45, 25, 40, 40],  # misses the left eye
        [38, 38, 23, 23],  # width 1.15 d: too narrow
        [31, 26, 44, 44],  # a duplicate of the first
    ])
    assert match_matrix(boxes, face)[:, 0].tolist() == [True, False, False, False, True]
    face_hit, det_hit = match_detections(boxes, np.array([5.0, 4, 3, 2, 1]), face)
    assert face_hit.tolist() == [True]
    assert det_hit.tolist() == [True, False, False, False, False]  # the duplicate is unmatched


def test_evaluate_detector_counts_recall_and_false_detections():
    import vj

    cv2 = pytest.importorskip("cv2")
    cascade = vj.load_cascade(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    blank = (np.full((120, 160), 100, np.uint8), np.array([[[40, 40], [60, 40], [50, 50], [50, 60]]], float))
    result = evaluate_detector(cascade, [blank, blank], 1.2, range(0, 4))
    assert result.num_images == 2 and result.num_faces == 2
    assert result.at(3) == (0.0, 0.0)
    with pytest.raises(ValueError, match="not in the sweep"):
        result.at(9)


def _curve(fpi, recall):
    from facestack.detector_eval import EvalResult

    return EvalResult(np.arange(len(fpi)), np.array(recall, float), np.array(fpi, float), 10, 20, 1.1)


def test_recall_at_false_rate_reads_the_polyline():
    from facestack.detector_eval import recall_at_false_rate

    curve = _curve([2.0, 0.5, 0.2, 0.1], [0.9, 0.8, 0.7, 0.5])
    assert recall_at_false_rate(curve, 0.5) == 0.8
    assert abs(recall_at_false_rate(curve, 0.35) - 0.75) < 1e-12  # halfway between 0.5 and 0.2
    assert abs(recall_at_false_rate(curve, 0.15) - 0.6) < 1e-12
    assert recall_at_false_rate(curve, 0.05) is None and recall_at_false_rate(curve, 3.0) is None
    tied = _curve([0.3, 0.3, 0.1], [0.6, 0.7, 0.5])  # two settings at one rate: the better recall counts
    assert recall_at_false_rate(tied, 0.3) == 0.7


def test_compare_at_reference_uses_the_references_rates():
    from facestack.detector_eval import compare_at_reference

    ref = _curve([1.0, 0.4, 0.2, 0.1], [0.9, 0.8, 0.7, 0.6])
    ours = _curve([0.8, 0.3, 0.15, 0.05], [0.95, 0.85, 0.75, 0.65])
    rows = compare_at_reference({"ref": ref, "ours": ours}, "ref", [1, 2])
    assert [r["false_per_image"] for r in rows] == [0.4, 0.2]
    assert rows[0]["recall"]["ref"] == 0.8 and abs(rows[0]["recall"]["ours"] - 0.87) < 1e-12
    assert abs(rows[1]["recall"]["ours"] - (0.75 + (0.85 - 0.75) * (0.2 - 0.15) / (0.3 - 0.15))) < 1e-12


def test_face_free_photo_hides_each_face_box_and_keeps_the_rest(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from facestack.webfaces import WEBFACES_FRAMING, face_free_photo

    rng = np.random.default_rng(4)
    photo = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    faces = np.array([[[150, 90], [180, 90], [165, 105], [165, 118]]], float)  # a 124 px box once grown
    hidden = face_free_photo(photo, faces, margin=1.5, seed=1)
    x, y, w, h = WEBFACES_FRAMING.box(faces[0, 0], faces[0, 1])
    cx, cy = int(x + w / 2), int(y + h / 2)
    assert not np.array_equal(hidden[cy - 5:cy + 5, cx - 5:cx + 5], photo[cy - 5:cy + 5, cx - 5:cx + 5])
    assert np.array_equal(hidden[:, :60], photo[:, :60]) and np.array_equal(hidden[-40:], photo[-40:])
    assert np.array_equal(face_free_photo(photo, faces, margin=1.5, seed=1), hidden)
    with pytest.raises(ValueError, match="margin must be at least 1"):
        face_free_photo(photo, faces, margin=0.5)
    # the script writes the photos and an opencv-style bg list of them
    (tmp_path / "images").mkdir()
    Image.fromarray(photo).save(tmp_path / "images" / "a.jpg")
    (tmp_path / "gt.txt").write_text("a.jpg 150 90 180 90 165 105 165 118\n")
    script = Path(__file__).resolve().parents[2] / "experiments" / "webfaces_backgrounds.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "gt.txt"), "--out", str(tmp_path / "bg")], check=True,
                   capture_output=True)
    listed = (tmp_path / "bg" / "bg.txt").read_text().split()
    assert listed == [str((tmp_path / "bg" / "a.png").resolve())]
    for bad, message in ((["--margin", "0.5"], "must be in [1, 10]"), (["--out", str(tmp_path / "gt.txt" / "x")], "Not a directory")):
        run = subprocess.run([sys.executable, str(script), str(tmp_path / "gt.txt"), "--out", str(tmp_path / "bg2"), *bad],
                             capture_output=True, text=True)
        assert run.returncode in (1, 2) and message in run.stderr and "Traceback" not in run.stderr
