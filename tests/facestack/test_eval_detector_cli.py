"""``facestack eval-detector`` end to end on a tiny WebFaces-format set made here.

The photos are faces drawn from the shipped asset (two real portraits), their landmarks
placed from vj's own detections with the WebFaces framing, so recall is known: each
portrait is found. What is checked: the figures written to ``--json``, one-line refusals of
an existing output without ``--overwrite`` (before any detection), and the replacement with it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facestack.detector_eval_cli import main
from facestack.webfaces import WEBFACES_FRAMING

ASSET = Path(__file__).resolve().parents[2] / "facestack" / "assets" / "two_portraits.jpg"


def _landmarks_from_box(x: float, y: float, w: float) -> list[float]:
    """Eye, nose and mouth points that ``WEBFACES_FRAMING`` turns back into about this box."""
    eye_distance = w / WEBFACES_FRAMING.width_per_eye_distance
    cx, cy = x + w / 2, y + w / 2
    # the box centre lies centre_across eye distances below the eyes' midpoint
    mx = cx - WEBFACES_FRAMING.centre_along * eye_distance
    my = cy - WEBFACES_FRAMING.centre_across * eye_distance
    half = eye_distance / 2
    return [mx - half, my, mx + half, my, mx, my + 0.5 * eye_distance, mx, my + eye_distance]


@pytest.fixture()
def webfaces_set(tmp_path: Path) -> Path:
    """``tmp/set/WebFaces_GroundThruth.txt`` with the asset and a blank photo (no face, no line)."""
    from vj import detect_multi_scale
    from vj.opencv_xml import load_cascade

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    gray = np.asarray(Image.open(ASSET).convert("L"))
    Image.fromarray(gray).save(root / "images" / "portraits.jpg")
    boxes, _ = detect_multi_scale(gray, load_cascade(None), scale_factor=1.1, min_neighbors=3)
    assert len(boxes) == 2, "the asset holds two portraits, which the shipped cascade finds"
    lines = [" ".join(["portraits.jpg"] + [f"{v:.1f}" for v in _landmarks_from_box(*b[:3])]) for b in boxes]
    (root / "WebFaces_GroundThruth.txt").write_text("\n".join(lines) + "\n")
    return root / "WebFaces_GroundThruth.txt"


def test_eval_detector_writes_figures_and_refuses_to_overwrite(webfaces_set, tmp_path, capsys):
    out = tmp_path / "eval.json"
    argv = ["--annotations", str(webfaces_set), "--cascade", "default", "--sweep-max", "4",
            "--reference", "default", "--at", "1", "3", "--json", str(out)]
    assert main(argv) == 0
    record = json.loads(out.read_text())
    figures = record["vj default"]
    assert figures["faces"] == 2 and figures["photos"] == 1
    assert figures["min_neighbors"] == [0, 1, 2, 3, 4]
    assert figures["recall"][3] == 1.0, "both portraits are matched at min_neighbors 3"
    assert [row["min_neighbors"] for row in record["at_reference"]["rows"]] == [1, 3]
    assert "recall 1.000" in capsys.readouterr().out

    out.write_text("kept")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("exists: pass --overwrite to replace it, or name another file") and "\n" not in err
    assert out.read_text() == "kept", "nothing is replaced without --overwrite"

    assert main(argv + ["--overwrite"]) == 0
    assert json.loads(out.read_text())["vj default"]["faces"] == 2


def test_eval_detector_refuses_a_folder_as_plot(webfaces_set, tmp_path, capsys):
    folder = tmp_path / "figs"
    folder.mkdir()
    assert main(["--annotations", str(webfaces_set), "--plot", str(folder)]) == 2
    assert "is a folder; name a file" in capsys.readouterr().err
