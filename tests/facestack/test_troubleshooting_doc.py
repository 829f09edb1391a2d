"""docs/troubleshooting.md tells the truth: each ``console`` example of its facestack section, run in order
in a folder holding the files it names, prints the lines shown (in that order, on stderr) and exits with
the status shown by its ``echo $?``."""
from __future__ import annotations

import json
import re
import shlex
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import minicnn
from tests.troubleshooting_examples import console_examples, section
from facestack import cli
from facestack.data import __main__ as data_cli
from facestack.models import MultiTaskNet
from facestack.paper import gender_cnn, lenet_age, multitask

ENTRIES = {"python -m facestack.data": data_cli.main, "facestack": cli.main,
           "python experiments/multitask.py": multitask.main, "python experiments/lenet_age.py": lenet_age.main,
           "python experiments/gender_cnn.py": gender_cnn.main}


def examples() -> list[tuple[str, list[str], int]]:
    """``(command, the stderr lines shown, the status shown)`` of every console example, in page order."""
    return console_examples(section("Facestack commands"), '$ ')


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_files(folder: Path) -> None:
    """The files the examples name: a run folder, a damaged and an absurd one, photos, an empty folder."""
    (folder / "empty").mkdir()
    settings = {"script": "multitask", "preset": "paper", "variant": "paper", "width": 1, "dropout": 0.5,
                "bins": "paper", "stretch": False, "epochs": 2, "batch_size": 8, "lr": 0.01, "seed": 0}
    run = folder / "runs" / "multitask"
    run.mkdir(parents=True)
    minicnn.manual_seed(0)
    minicnn.save(MultiTaskNet("paper", age_classes=4, dropout=0.5), run / "best.npz")
    minicnn.save({"w": np.ones(2, np.float32)}, run / "model.npz")
    (run / "log.csv").write_text("epoch\n1\n2\n")
    (run / "settings.json").write_text(json.dumps(settings))
    for name, extra in (("broken", {}), ("wide", {"width": 100000})):
        (folder / "runs" / name).mkdir()
        (folder / "runs" / name / "settings.json").write_text(json.dumps({**settings, **extra}))
    (folder / "runs" / "broken" / "checkpoint.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    for name in ("beach.jpg", "a/party.jpg", "b/party.jpg"):
        (folder / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (80, 60), (90, 90, 90)).save(folder / "photos" / name)
    (folder / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    (folder / "photos" / "panorama.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 6000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def run(command: str) -> int:
    for prefix, entry in sorted(ENTRIES.items(), key=lambda item: -len(item[0])):
        if command == prefix or command.startswith(prefix + " "):
            return entry(shlex.split(command[len(prefix):]))
    raise AssertionError(f"no entry point for {command!r}")


def test_the_page_has_examples_of_every_class():
    commands = [command for command, _, _ in examples()]
    assert len(commands) >= 15
    for needed in ("--resume", "--epochs 0", "--lr nan", "download", "classify photos/beach.jpg photos/broken.jpg"):
        assert any(needed in command for command in commands), needed


def test_every_example_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACESTACK_CACHE", str(tmp_path / "cache"))
    make_files(tmp_path)
    for command, shown, status in examples():
        assert run(command) == status, command
        err = capsys.readouterr().err.splitlines()
        position = 0
        for line in shown:  # in order; other lines (a first-run note) may come between
            assert line in err[position:], f"{command}: {line!r} not in {err}"
            position = err.index(line, position) + 1
        if status:
            assert shown, f"{command}: a failing example shows its message"


#: The line a training interrupted by Ctrl-C prints (test_reliability.py checks a real one against it).
INTERRUPTED = re.compile(r"interrupted after epoch (\d+); continue with --resume (\S+)")


def test_the_page_shows_the_interruption_line_the_training_prints():
    block = re.search(r"```text\n(.*?)\n```", section("Facestack commands"), re.S).group(1)
    assert INTERRUPTED.fullmatch(block.strip())
