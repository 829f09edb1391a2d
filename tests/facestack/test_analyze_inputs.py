"""facestack.analyze: every input form the docs promise gives the same faces, and every
other input a one-line error naming what was wrong (facestack/analysis.py)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facestack
from facestack.analysis import MAX_PIXELS, as_gray

PHOTO = Path(str(resources.files("facestack") / "assets" / "two_portraits.jpg"))


@pytest.fixture(scope="module")
def photo_faces() -> list[dict]:
    return facestack.analyze(str(PHOTO))


def test_a_path_a_pathlike_a_pil_image_and_arrays_give_the_same_faces(photo_faces):
    assert len(photo_faces) == 2
    with Image.open(PHOTO) as image:
        rgb = image.convert("RGB")
    grey = np.asarray(rgb.convert("L"))
    for same in (PHOTO, rgb, np.asarray(rgb), grey, np.asfortranarray(grey)):
        assert facestack.analyze(same) == photo_faces, type(same)


def test_each_record_holds_the_documented_fields(photo_faces):
    for face in photo_faces:
        assert face["gender"] in ("male", "female") and 0.5 <= face["gender_prob"] <= 1.0
        assert list(face["age_probs"]) == ["0-30", "31-45", "46-60", "61-100"]
        assert face["age_bin"] == max(face["age_probs"], key=face["age_probs"].get)
        assert abs(sum(face["age_probs"].values()) - 1.0) < 1e-5
        x, y, w, h = face["box"]
        assert min(x, y) >= 0 and w == h > 0


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((64, 64), np.float32), TypeError, "uint8 pixel arrays (0..255), got dtype float32"),
    (np.zeros((64, 64), bool), TypeError, "got dtype bool"),
    (np.zeros((64, 64, 4), np.uint8), ValueError, "grey (H, W) or RGB (H, W, 3) arrays, got shape (64, 64, 4)"),
    (np.zeros((10,), np.uint8), ValueError, "got shape (10,)"),
    (np.zeros((0, 5), np.uint8), ValueError, "the image is empty: shape (0, 5)"),
    (5, TypeError, "a path, a PIL image or a uint8 array, got int"),
    (b"photo.jpg", TypeError, "got bytes"),
    ("/no/such/photo.jpg", FileNotFoundError, "no such image: /no/such/photo.jpg"),
])
def test_bad_inputs_are_refused_with_what_was_wrong(bad, error, message):
    with pytest.raises(error) as raised:
        facestack.analyze(bad)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_folder_and_a_file_that_is_no_image_are_named(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder, not an image"):
        facestack.analyze(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("not a JPEG")
    with pytest.raises(ValueError, match=f"cannot read image {text}"):
        facestack.analyze(text)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 1
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (side, side), (0, 0))  # no memory behind it
    with pytest.raises(ValueError, match="over the limit"):
        as_gray(huge)


def test_a_blank_or_tiny_image_has_no_faces():
    assert facestack.analyze(np.zeros((2, 2), np.uint8)) == []
    assert facestack.analyze(Image.new("RGBA", (80, 80))) == []
