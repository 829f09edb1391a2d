"""The ``vj detect`` command on an image and a small video."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vj
from vj.cli import build_parser, main

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

CASCADE = str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml")


@pytest.fixture(scope="module")
def astronaut_file(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("images") / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    return path


def test_detect_image_writes_annotated_image_and_json(astronaut_file, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["detect", str(astronaut_file), "--cascade", CASCADE, "--scale-factor", "1.2",
                   "--min-neighbors", "3", "--min-size", "40", "--out", str(out), "--json"])
    assert status == 0
    assert (out / "astronaut_detected.png").is_file()
    records = json.loads((out / "detections.json").read_text())[str(astronaut_file)]
    boxes, scores = vj.detect_multi_scale(skimage_data.astronaut(), vj.load_cascade(CASCADE), 1.2, 3, 40)
    assert [r["box"] for r in records] == boxes.tolist() and len(boxes) >= 1
    np.testing.assert_allclose([r["score"] for r in records], scores)
    assert "1 detections" in capsys.readouterr().out


def test_detect_video_writes_video_and_prints_fps(tmp_path, capsys):
    av = pytest.importorskip("av")
    frame = np.ascontiguousarray(skimage_data.astronaut()[:256, 96:416])
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as sink:
        stream = sink.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for shift in range(4):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, 3 * shift, axis=1), format="rgb24")):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    out = tmp_path / "out"
    assert main(["detect", str(clip), "--cascade", CASCADE, "--out", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    assert "4 frames" in printed and "frames per second" in printed
    frames = json.loads((out / "detections.json").read_text())[str(clip)]
    assert len(frames) == 4 and all(len(f) >= 1 for f in frames)
    with av.open(str(out / "clip_detected.mp4")) as written:
        assert sum(1 for _ in written.decode(video=0)) == 4


def test_errors_give_exit_codes(astronaut_file, tmp_path, capsys):
    assert main(["detect", str(astronaut_file), "--cascade", str(tmp_path / "none.xml"), "--out", str(tmp_path)]) == 2
    assert main(["detect", str(tmp_path / "missing.png"), "--cascade", CASCADE, "--out", str(tmp_path)]) == 1
    assert "cannot load cascade" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", str(astronaut_file), "--cascade", CASCADE, "--scale-factor", "0.9"])
    assert exit_info.value.code == 2 and "--scale-factor: must be in (1, 100], got 0.9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["detect", "--cascade", CASCADE])  # at least one input is required


def test_subcommands_are_registered_by_module():
    parser = build_parser()
    assert "detect" in parser.format_help()
    assert main([]) == 2
