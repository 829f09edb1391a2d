"""docs/troubleshooting.md tells the truth about the vj commands: each ``console`` example of its vj
section, run in order in a folder holding the files it names, prints the lines shown (in that order, on
stderr) and exits with the status shown by its ``echo $?``."""
from __future__ import annotations

import json
import re
import shlex
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

import vj
from tests.troubleshooting_examples import console_examples, section
from vj.cli import main


skimage_data = pytest.importorskip("skimage.data")



def examples() -> list[tuple[str, list[str], int]]:
    """``(command, the stderr lines shown, the status shown)`` of every console example, in page order."""
    return console_examples(section("vj commands"), '$ vj ')


def huge_png(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares ``width x height`` pixels, with almost no pixel data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def make_files(folder: Path) -> None:
    """The files the examples name: photos (good, huge, a header over Pillow's limit, truncated), face crops,
    backgrounds, a copied OpenCV cascade and a finished training whose sidecar is cut short."""
    for sub in ("photos/a", "photos/b", "faces", "bg"):
        (folder / sub).mkdir(parents=True)
    for sub in ("a", "b"):
        Image.fromarray(skimage_data.astronaut()).save(folder / "photos" / sub / "beach.jpg")
    good = (folder / "photos/a/beach.jpg").read_bytes()
    (folder / "photos/cut.jpg").write_bytes(good[: len(good) // 3])
    huge_png(folder / "photos/huge.png", 10_000, 10_000)
    huge_png(folder / "photos/bomb.png", 60_000, 60_000)
    for i, face in enumerate(synthetic_faces(120)):
        Image.fromarray(face).save(folder / "faces" / f"{i:03d}.png")
    for i, image in enumerate(synthetic_backgrounds(6)):
        Image.fromarray(image).save(folder / "bg" / f"{i}.png")
    (folder / "opencv.xml").write_bytes((Path(vj.data.haarcascades) / "haarcascade_eye.xml").read_bytes())


def run(command: str, capsys) -> tuple[list[str], int]:
    """Run one ``vj ...`` command in-process: its stderr lines and exit status."""
    capsys.readouterr()
    try:
        status = main(shlex.split(command)[1:])
    except SystemExit as exc:
        status = int(exc.code)
    return capsys.readouterr().err.splitlines(), status


def test_every_vj_example_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    make_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    found = examples()
    assert len(found) >= 15
    for command, shown, status in found:
        if "--out damaged.xml" in command:  # a finished training whose sidecar was then cut to 100 bytes
            assert run(command, capsys)[1] == 0
            sidecar = tmp_path / "damaged.xml.train.json"
            sidecar.write_bytes(sidecar.read_bytes()[:100])
            with pytest.raises(json.JSONDecodeError):
                json.loads(sidecar.read_text())
        err, got = run(command, capsys)
        assert got == status, f"{command}: status {got}, the page says {status}\n" + "\n".join(err)
        remaining = iter(err)
        for line in shown:  # in this order, other lines (argparse's usage) between them
            assert any(line == printed for printed in remaining), f"{command}: {line!r} not in\n" + "\n".join(err)
