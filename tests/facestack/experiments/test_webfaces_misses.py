"""experiments/webfaces_misses.py: the class of a missed face, and both analyses on a few real photos."""
from __future__ import annotations

import numpy as np
import pytest

from facestack import webfaces_misses

MARKS = np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 50.0], [50.0, 60.0]])  # eyes, nose, mouth


def test_miss_class_names_where_the_face_was_lost():
    holds_eyes_only = np.array([[30.0, 30.0, 40.0, 25.0]])  # ends above the mouth
    assert webfaces_misses.miss_class(holds_eyes_only, MARKS, raw_match=False) == "near"
    elsewhere = np.array([[200.0, 200.0, 40.0, 40.0]])
    assert webfaces_misses.miss_class(elsewhere, MARKS, raw_match=True) == "raw only"
    assert webfaces_misses.miss_class(np.zeros((0, 4)), MARKS, raw_match=False) == "no window"


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert webfaces_misses.main(["default", "--data", str(tmp_path)]) == 2
    assert "no WebFaces annotations" in capsys.readouterr().err


def test_annotations_option_reads_any_webfaces_format_file(tmp_path, capsys):
    from PIL import Image

    assert webfaces_misses.main(["default", "--annotations", str(tmp_path / "missing.txt")]) == 2
    assert "no WebFaces annotations at" in capsys.readouterr().err
    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((80, 100), 120, np.uint8)).save(tmp_path / "images" / "a.jpg")
    (tmp_path / "gt.txt").write_text("a.jpg 30 30 50 30 40 40 40 48\n")
    assert webfaces_misses.main(["default", "--annotations", str(tmp_path / "gt.txt")]) == 0
    assert "1 faces" in capsys.readouterr().out  # the one face of the file given, missed on a flat photo


def test_both_analyses_on_a_few_real_photos(shared_data):
    import vj
    from vj.detect import prepare_cascade
    from facestack.webfaces import read_webfaces_annotations
    from vj.positives import read_gray

    annotation_file = shared_data / "webfaces" / "WebFaces_GroundThruth.txt"
    if not annotation_file.is_file():
        pytest.skip("WebFaces not found in the real data")
    annotations = read_webfaces_annotations(annotation_file)
    names = sorted(annotations)[:12]
    photos = [(read_gray(shared_data / "webfaces" / "images" / n), annotations[n]) for n in names]
    cascade = prepare_cascade(vj.load_cascade())
    counts = webfaces_misses.classify_misses(cascade, photos)
    assert sum(counts.values()) == sum(len(np.asarray(annotations[n]).reshape(-1, 4, 2)) for n in names)
    assert any(key.endswith(": found") for key in counts)
    faces, found = webfaces_misses.size_test(cascade, photos, limit=3)
    assert set(found) == {0, 1, 3}
    assert all(0 <= a <= faces and 0 <= b <= faces for a, b in found.values())
