"""Labels through the detector, and as faces get small: ``facestack evaluate --through-detector``
with ``--face-size`` and ``--limit``, and the sweep of ``experiments/face_size_accuracy.py``.

The real-data tests score a few dozen validation chips (a cache is built on the first run).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from facestack.cli import main as facestack_main
from facestack.evaluate_framed import MIN_FACE_SIZE, shrink_chip
from facestack.framing import SHIPPED_CASCADE_FRAMING


def test_a_chip_is_shrunk_so_its_face_box_has_the_asked_side_and_never_enlarged():
    chip = np.random.default_rng(0).integers(0, 256, (200, 180), dtype=np.uint8)
    small = shrink_chip(chip, 32)
    factor = 32 * SHIPPED_CASCADE_FRAMING.scale / 180
    assert small.dtype == np.uint8
    assert small.shape == (round(200 * factor), round(180 * factor))
    assert shrink_chip(chip, 10_000) is chip
    with pytest.raises(ValueError, match="at least 20"):
        shrink_chip(chip, MIN_FACE_SIZE - 1)


def test_face_size_without_through_detector_is_a_one_line_usage_error(capsys):
    assert facestack_main(["evaluate", "--face-size", "32"]) == 2
    err = capsys.readouterr().err
    assert "--face-size needs --through-detector" in err and "Traceback" not in err


def test_a_face_size_under_the_cascade_window_is_refused(capsys):
    assert facestack_main(["evaluate", "--through-detector", "--face-size", "12"]) == 2
    assert "--face-size" in capsys.readouterr().err


def test_evaluate_through_the_detector_on_small_faces_writes_found_and_missed(utkface_dir, tmp_path, capsys):
    out = tmp_path / "through.json"
    status = facestack_main(["evaluate", "--data", str(utkface_dir), "--split", "val", "--through-detector",
                             "--face-size", "48", "--limit", "40", "--json", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "through the detector (faces about 48 px)" in printed
    result = json.loads(out.read_text())
    assert result["face_size"] == 48 and result["found"] + result["missed"] == 40
    assert result["found"] == result["faces"] > 0
    assert 0.0 <= result["tasks"]["gender"]["accuracy"] <= 1.0


def test_the_face_size_sweep_writes_a_row_per_size_and_its_figure(utkface_dir, tmp_path, capsys):
    from facestack.face_size import main as sweep_main

    rows_file, figure = tmp_path / "sizes.json", tmp_path / "sizes.png"
    assert sweep_main(["--data", str(utkface_dir), "--sizes", "32", "64", "--limit", "30",
                       "--json", str(rows_file), "--plot", str(figure)]) == 0
    table = capsys.readouterr().out
    assert "| chip as it is |" in table and "| 32 px |" in table and "| 64 px |" in table
    rows = json.loads(rows_file.read_text())["rows"]
    assert [row["size"] for row in rows] == [None, 32, 64]
    assert all(row["faces"] == 30 and 0 <= row["found"] <= 30 for row in rows)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
