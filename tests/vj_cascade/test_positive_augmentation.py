"""The positive augmentations of ``vj train --rotate/--blur``: turning about a point with
mirrored borders, Gaussian blur at window size, and their use in ``read_crop_folder``."""
from __future__ import annotations

import numpy as np
from PIL import Image

import vj.positives

from facestack.cascade_data import UTKFACE_CHIP_BOX
from vj.positives import blurred, read_crop_folder, rotated_about


def test_rotation_moves_a_dot_about_the_centre():
    image = np.zeros((41, 41), dtype=np.uint8)
    image[20, 30] = 255  # 10 px right of pixel (20, 20), whose middle is the point (20.5, 20.5)
    turned = rotated_about(image, (20.5, 20.5), 90.0)  # anticlockwise on screen: right -> up
    y, x = np.unravel_index(np.argmax(turned), turned.shape)
    assert (y, x) == (10, 20)
    assert np.array_equal(rotated_about(image, (20.5, 20.5), 0.0), image)


def test_rotation_fills_corners_with_mirrored_texture_not_a_constant():
    rng = np.random.default_rng(0)
    image = rng.integers(1, 256, (40, 40), dtype=np.uint8)
    turned = rotated_about(image, (20.0, 20.0), 30.0)
    corners = np.concatenate([turned[:4, :4].ravel(), turned[-4:, -4:].ravel()])
    assert turned.shape == image.shape
    assert corners.min() > 0 and np.unique(corners).size > 8


def test_blur_smooths_and_keeps_the_mean():
    checker = (np.indices((24, 24)).sum(axis=0) % 2 * 200 + 20).astype(np.uint8)
    soft = blurred(checker, 1.0)
    assert soft.std() < 0.25 * checker.std()
    assert abs(float(soft.mean()) - float(checker.mean())) < 2.0
    assert blurred(checker, 0.0) is checker


def test_crop_folder_augmentations_are_seeded_and_change_the_samples(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (60, 60), dtype=np.uint8)).save(tmp_path / f"chip{i}.png")
    plain, _ = read_crop_folder(tmp_path, (24, 24), box=UTKFACE_CHIP_BOX)
    first, _ = read_crop_folder(tmp_path, (24, 24), box=UTKFACE_CHIP_BOX, rotate=15, blur=1.0, seed=3)
    again, _ = read_crop_folder(tmp_path, (24, 24), box=UTKFACE_CHIP_BOX, rotate=15, blur=1.0, seed=3)
    other, _ = read_crop_folder(tmp_path, (24, 24), box=UTKFACE_CHIP_BOX, rotate=15, blur=1.0, seed=4)
    assert first.shape == plain.shape == (4, 24, 24)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first, plain)
    assert first.std(axis=(1, 2)).mean() < plain.std(axis=(1, 2)).mean()  # blur softens noise chips


def test_crop_folder_windows_do_not_depend_on_the_reader_threads(tmp_path, monkeypatch):
    """The chips are read and cut in threads; every random draw is made first, in file
    order, so one thread and several give the same windows, and a bad file is still named."""
    rng = np.random.default_rng(7)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (60, 60), dtype=np.uint8)).save(tmp_path / f"chip{i}.png")
    (tmp_path / "chip4b.png").write_bytes(b"not an image")
    settings = dict(box=UTKFACE_CHIP_BOX, jitter=0.1, grow=0.2, rotate=15, blur=1.0, seed=3)
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(vj.positives, "_reader_threads", lambda threads=threads: threads)
        results.append(read_crop_folder(tmp_path, (24, 24), **settings))
    (one, one_report), (three, three_report) = results
    assert one.shape == (9, 24, 24) and np.array_equal(one, three)
    assert one_report.unreadable == three_report.unreadable == ["chip4b.png"]


def test_reflect_border_matches_numpy_pad():
    from vj.positives import _border_index, crop_padded

    index = np.arange(-4, 9)
    assert np.array_equal(_border_index(index, 5, "reflect"), np.pad(np.arange(5), 4, mode="reflect")[:13])
    assert np.array_equal(_border_index(index, 5, "edge"), np.clip(index, 0, 4))
    image = np.arange(36, dtype=np.uint8).reshape(6, 6)
    assert np.array_equal(crop_padded(image, np.array([-2, -2, 10, 10]), mode="reflect"),
                          np.pad(image, 2, mode="reflect"))


def test_grow_lets_the_box_jitter_enlarge_the_face(tmp_path):
    from vj.positives import jittered_box

    rng = np.random.default_rng(0)
    box = np.array([10.0, 10.0, 40.0, 40.0])
    sides = np.array([jittered_box(box, (100, 100), 0.1, rng, grow=0.2)[2] for _ in range(400)])
    assert sides.min() >= 36.0 and sides.max() <= 48.0 and (sides > 40.0).mean() > 0.5
    plain = np.array([jittered_box(box, (100, 100), 0.1, rng)[2] for _ in range(100)])
    assert plain.max() <= 40.0  # without grow the jitter only shrinks, as the shipped cascade was trained
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 60), dtype=np.uint8)).save(tmp_path / "c.png")
    windows, _ = read_crop_folder(tmp_path, (24, 24), box=UTKFACE_CHIP_BOX, jitter=0.1, grow=0.3, seed=5)
    assert windows.shape == (1, 24, 24)
