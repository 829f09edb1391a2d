"""``facestack train-cascade``: vj's trainer with UTKFace chips and WebFaces faces as positives."""
from __future__ import annotations

import numpy as np
from PIL import Image

from facestack.cascade_cli import build_parser, data_set_sources, main
from facestack.cascade_data import UTKFACE_CHIP_BOX


def write_chips(folder, count=8, size=200):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(folder / f"{i}_0_0_x.jpg")
    return folder


def test_utkface_chips_are_cut_by_the_utkface_box(tmp_path):
    chips = write_chips(tmp_path / "UTKFace")
    args = build_parser().parse_args(["--pos-utkface", str(chips), "--neg", str(tmp_path), "--out", "x.xml"])
    (label, read), = data_set_sources(args)
    windows, report = read((24, 24))
    assert label == str(chips) and windows.shape == (8, 24, 24) and report.used == 8
    assert UTKFACE_CHIP_BOX[2] * 200 >= 24  # the box is larger than the window: a real shrink


def test_a_small_training_runs_to_the_end_with_utkface_positives(tmp_path, capsys):
    chips = write_chips(tmp_path / "UTKFace", count=6, size=40)
    background = tmp_path / "bg"
    background.mkdir()
    Image.fromarray(np.full((50, 50), 90, np.uint8)).save(background / "flat.png")
    status = main(["--pos-utkface", str(chips), "--neg", str(background), "--out", str(tmp_path / "c.xml"),
                   "--window", "12", "--stages", "2", "--num-neg", "20", "--min-positives", "2",
                   "--max-mining-windows", "20000"])
    printed = capsys.readouterr().out
    assert status == 0 and "6 samples" in printed
    assert "stopped: no negatives left to mine before stage 1" in printed


def test_webfaces_copies_cut_each_face_k_times_with_the_jitter_options(tmp_path):
    import pytest

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 160), dtype=np.uint8)).save(tmp_path / "a.jpg")
    ann = tmp_path / "gt.txt"
    ann.write_text("a.jpg 50 50 80 50 65 65 65 78\n")
    (tmp_path / "images").symlink_to(tmp_path)
    base = ["--pos-webfaces", str(ann), "--neg", str(tmp_path), "--out", "x.xml", "--jitter", "0.1", "--rotate", "10"]
    (_, once), = data_set_sources(build_parser().parse_args(base))
    (_, four), = data_set_sources(build_parser().parse_args(base + ["--webfaces-copies", "4"]))
    assert once((20, 20))[0].shape == (1, 20, 20)  # without the option: once, as framed (jitter not applied)
    copies = four((20, 20))[0]
    assert copies.shape == (4, 20, 20) and len({c.tobytes() for c in copies}) == 4
    with pytest.raises(SystemExit):
        build_parser().parse_args(base + ["--webfaces-copies", "0"])


def test_errors_name_facestack_train_cascade_not_vj_train(tmp_path, capsys):
    status = main(["--pos-webfaces", str(tmp_path / "missing.txt"), "--neg", str(tmp_path), "--out", "x.xml"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("facestack train-cascade: ") and "missing.txt" in err


def test_chip_framing_boxes_a_face_as_the_utkface_box_cuts_a_chip():
    from facestack.cascade_data import UTKFACE_OPENCV_BOX, landmark_framing_like_chip_box
    from facestack.webfaces import WEBFACES_FRAMING

    left, right = np.array([100.0, 80.0]), np.array([130.0, 80.0])
    x, y, side, _ = WEBFACES_FRAMING.box(left, right)
    chip = side / UTKFACE_OPENCV_BOX[2]  # the chip on which OpenCV's box would be this box
    chip_x, chip_y = x - UTKFACE_OPENCV_BOX[0] * chip, y - UTKFACE_OPENCV_BOX[1] * chip
    expected = np.array([chip_x + UTKFACE_CHIP_BOX[0] * chip, chip_y + UTKFACE_CHIP_BOX[1] * chip,
                         UTKFACE_CHIP_BOX[2] * chip, UTKFACE_CHIP_BOX[3] * chip])
    tight = landmark_framing_like_chip_box(WEBFACES_FRAMING)
    assert np.allclose(tight.box(left, right), expected)
    assert tight.width_per_eye_distance < WEBFACES_FRAMING.width_per_eye_distance  # tighter
    assert tight.centre_across > WEBFACES_FRAMING.centre_across  # and lower
    # the framing turns with the eye line: the tilted face's box centre is the level one's, turned
    turn = np.radians(20)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    middle = (left + right) / 2
    tilted = tight.box(middle + rotation @ (left - middle), middle + rotation @ (right - middle))
    level_centre = expected[:2] + expected[2] / 2
    assert np.allclose(tilted[:2] + tilted[2] / 2, middle + rotation @ (level_centre - middle))


def test_webfaces_framing_option_cuts_faces_with_the_chip_framing(tmp_path):
    import pytest

    from facestack.cascade_data import landmark_framing_like_chip_box
    from facestack.webfaces import WEBFACES_FRAMING, read_webfaces_faces

    Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 160), dtype=np.uint8)).save(tmp_path / "a.jpg")
    ann = tmp_path / "gt.txt"
    ann.write_text("a.jpg 50 50 80 50 65 65 65 78\n")
    (tmp_path / "images").symlink_to(tmp_path)
    base = ["--pos-webfaces", str(ann), "--neg", str(tmp_path), "--out", "x.xml"]
    (_, default), = data_set_sources(build_parser().parse_args(base))
    (_, chip), = data_set_sources(build_parser().parse_args(base + ["--webfaces-framing", "chip"]))
    opencv_windows = read_webfaces_faces(ann, (20, 20), framing=WEBFACES_FRAMING)[0]
    chip_windows = read_webfaces_faces(ann, (20, 20), framing=landmark_framing_like_chip_box(WEBFACES_FRAMING))[0]
    assert np.array_equal(default((20, 20))[0], opencv_windows)  # the default is unchanged
    assert np.array_equal(chip((20, 20))[0], chip_windows)
    assert not np.array_equal(chip_windows, opencv_windows)
    with pytest.raises(SystemExit):
        build_parser().parse_args(base + ["--webfaces-framing", "tight"])


def test_webfaces_positive_framing_names_each_framing_and_refuses_others():
    import pytest

    from facestack.cascade_data import landmark_framing_like_chip_box, webfaces_positive_framing
    from facestack.webfaces import WEBFACES_FRAMING

    assert webfaces_positive_framing("opencv") == WEBFACES_FRAMING
    assert webfaces_positive_framing("chip") == landmark_framing_like_chip_box(WEBFACES_FRAMING)
    with pytest.raises(ValueError, match="opencv, chip"):
        webfaces_positive_framing("tight")
