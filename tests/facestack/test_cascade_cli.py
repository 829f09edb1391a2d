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
