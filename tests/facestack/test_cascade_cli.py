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
