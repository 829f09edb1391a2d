"""Nothing lost, nothing crashes (issue #17): bad options, hostile files, interrupted runs, batches.

Each facestack command answers a wrong option with one line and status 2, a failure with
one line and status 1 (a traceback only with ``--debug``); a batch goes on past a bad
input; nothing existing is overwritten without ``--overwrite``; ``--resume`` without a
checkpoint is an error; Ctrl-C ends a training with one line and leaves it resumable.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn
from facestack import cli
from facestack import classify
from facestack.first_run import FIRST_RUN_NOTE
from facestack.data import FaceDataset, PreprocessSettings, build_cache
from facestack.data import __main__ as data_cli
from facestack.models import MultiTaskNet
from facestack.paper import lenet_age, multitask
from minicnn.train.report import read_csv

ROOT = Path(__file__).resolve().parents[2]
RUN_SETTINGS = {"script": "multitask", "variant": "paper", "width": 1, "dropout": 0.5, "bins": "paper",
                "stretch": False, "preset": "best"}


def message_lines(text: str) -> list[str]:
    """The non-blank lines a command printed, less the first-run compile notice (which a
    fresh kernel cache, as in a clean clone, prints before anything else)."""
    return [line for line in text.splitlines() if line.strip() and line != FIRST_RUN_NOTE]


def one_line(text: str) -> str:
    """The single line a failing command printed (asserting it is one)."""
    lines = message_lines(text)
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    minicnn.manual_seed(0)
    minicnn.save(MultiTaskNet("paper", age_classes=4, dropout=0.5), folder / "best.npz")
    (folder / "settings.json").write_text(json.dumps(RUN_SETTINGS))
    return folder


# ---------------------------------------------------------------- python -m facestack.data
@pytest.mark.parametrize("args, status, message", [
    (["build", "--data", "/nope"], 2, "--data /nope: no such file or folder"),
    (["build", "--data", "EMPTY"], 1, "no UTKFace images (.jpg, .jpeg, .png) found"),
    (["build", "--data", "EMPTY", "--size", "0"], 2, "--size must be an integer >= 1 and <= 4096, got 0"),
    (["build", "--data", "EMPTY", "--fractions", "0.5", "0.5", "0.5"], 2, "--fractions must add up to 1"),
    (["download", "--url", "file:///no/such/archive.tar", "--dest", "DEST"], 1, "download of file:///no/such"),
    (["download", "--sha256", "abc", "--dest", "DEST"], 2, "--sha256 must be 64 hexadecimal digits"),
])
def test_data_command_errors_are_one_line(tmp_path, capsys, args, status, message):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else str(tmp_path / "dest") if a == "DEST" else a for a in args]
    assert data_cli.main(args) == status
    assert message in one_line(capsys.readouterr().err)
    assert not any((tmp_path / "dest").glob("*.tar")) if (tmp_path / "dest").exists() else True


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="no UTKFace images"):
        data_cli.main(["build", "--data", str(tmp_path), "--debug"])


def test_unknown_subcommand_and_network(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "unknown subcommand 'no-such-command'" in one_line(capsys.readouterr().err)
    assert cli.main(["train", "resnet"]) == 2
    assert "unknown network 'resnet'" in one_line(capsys.readouterr().err)


# ------------------------------------------------------------------ the training command
@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
    (["--momentum", "1.5"], "--momentum must be a finite number >= 0"),
    (["--width", "1000"], "--width must be an integer >= 1 and <= 8"),
    (["--threads", "0"], "--threads must be an integer >= 1"),
])
def test_training_options_are_checked_before_anything_is_read(tmp_path, capsys, option, message):
    out = tmp_path / "run"
    assert multitask.main(["--data", str(tmp_path / "absent"), "--out", str(out), *option]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert not out.exists()


def finished_run(folder: Path) -> dict[str, bytes]:
    """A folder shaped like a finished lenet_age run (its files' bytes are returned to compare later)."""
    folder.mkdir()
    settings = {**RUN_SETTINGS, "script": "lenet_age", "epochs": 2, "batch_size": 8, "lr": 0.01, "seed": 0,
                "out": str(folder)}
    (folder / "settings.json").write_text(json.dumps(settings))
    minicnn.save({"w": np.ones(3, np.float32)}, folder / "best.npz")
    minicnn.save({"w": np.ones(3, np.float32)}, folder / "model.npz")
    (folder / "log.csv").write_text("epoch,lr\n1,0.01\n2,0.01\n")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("case", ["deleted", "only a tmp", "corrupt", "not a checkpoint"])
def test_resume_without_a_usable_checkpoint_is_an_error_and_touches_nothing(tmp_path, capsys, case):
    run = tmp_path / "run"
    finished_run(run)
    if case == "only a tmp":
        (run / "checkpoint.npz.x1y2.tmp").write_bytes(b"PK\x03\x04 torn")
    elif case == "corrupt":
        (run / "checkpoint.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    elif case == "not a checkpoint":
        minicnn.save({"w": np.ones(3, np.float32)}, run / "checkpoint.npz")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    status = lenet_age.main(["--resume", str(run)])
    err = one_line(capsys.readouterr().err)
    if case in ("deleted", "only a tmp"):
        assert status == 2 and "no checkpoint.npz" in err and "nothing to resume" in err
        assert ("checkpoint.npz.x1y2.tmp" in err) == (case == "only a tmp")
    else:
        assert status == 1 and f"cannot resume: {run / 'checkpoint.npz'}" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_new_run_never_overwrites_a_folder_holding_one(tmp_path, capsys):
    run = tmp_path / "run"
    before = finished_run(run)
    assert lenet_age.main(["--out", str(run), "--data", str(tmp_path / "absent")]) == 2
    assert "already holds a run" in one_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # with --overwrite the folder is accepted (and the missing data is the next error)
    assert lenet_age.main(["--out", str(run), "--data", str(tmp_path / "absent"), "--overwrite"]) == 2
    assert "no data at" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("value, message", [(100_000, "width must be an integer >= 1 and <= 8"),
                                            ("wide", "width must be an integer"),
                                            (-1, "width must be an integer")])
def test_absurd_width_in_a_resumed_settings_json_fails_before_allocating(tmp_path, capsys, value, message):
    run = tmp_path / "run"
    finished_run(run)
    settings = json.loads((run / "settings.json").read_text())
    (run / "settings.json").write_text(json.dumps({**settings, "script": "multitask", "width": value}))
    assert multitask.main(["--resume", str(run)]) == 1
    err = one_line(capsys.readouterr().err)
    assert str(run / "settings.json") in err and message in err


# ------------------------------------------------------------------------ facestack classify
def photo(path: Path, size=(80, 60), format=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path, format=format)
    return path


def huge_png(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A PNG whose header declares ``width`` x ``height``: refusing it must not decode it."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_same_stems_from_different_folders_get_distinct_outputs(tmp_path, model_dir):
    inputs = [photo(tmp_path / "a" / "x.png"), photo(tmp_path / "b" / "x.png"), photo(tmp_path / "a" / "x.jpg")]
    out = tmp_path / "out"
    assert classify.main([*map(str, inputs), "--model", str(model_dir), "--out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a/x_jpg_classified.json", "a/x_jpg_classified.png", "a/x_png_classified.json",
                       "a/x_png_classified.png", "b/x_classified.json", "b/x_classified.png"]
    assert json.loads((out / "b" / "x_classified.json").read_text())["input"] == str(inputs[1])


def test_a_batch_goes_on_past_bad_inputs_and_reports_them(tmp_path, model_dir, capsys):
    good = [photo(tmp_path / "one.png"), photo(tmp_path / "two.png")]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    huge = huge_png(tmp_path / "huge.png")
    out = tmp_path / "out"
    inputs = [good[0], broken, huge, tmp_path / "absent.jpg", good[1]]
    assert classify.main([*map(str, inputs), "--model", str(model_dir), "--out", str(out), "--json",
                          str(tmp_path / "all.json")]) == 1
    captured = capsys.readouterr()
    errors = message_lines(captured.err)
    assert f"cannot read image {broken}" in errors[0]
    assert f"{huge}: 400,000,000 pixels, over the budget of 50,000,000 (--max-pixels)" in errors[1]
    assert f"no such image: {tmp_path / 'absent.jpg'}" in errors[2]
    assert errors[3] == f"5 inputs: 2 classified, 3 failed ({broken}, {huge}, {tmp_path / 'absent.jpg'})"
    assert sorted(p.name for p in out.iterdir()) == ["one_classified.json", "one_classified.png",
                                                     "two_classified.json", "two_classified.png"]
    assert [r["input"] for r in json.loads((tmp_path / "all.json").read_text())] == [str(good[0]), str(good[1])]


def test_existing_outputs_need_overwrite(tmp_path, model_dir, capsys):
    image = photo(tmp_path / "one.png")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "one_classified.png").write_bytes(b"mine")
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(out)]) == 2
    assert "one_classified.png exists: pass --overwrite" in one_line(capsys.readouterr().err)
    assert (out / "one_classified.png").read_bytes() == b"mine"
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(out), "--overwrite"]) == 0
    assert Image.open(out / "one_classified.png").size == (80, 60)
    assert not list(out.glob(".*"))  # no temporary file left behind


def test_an_image_over_the_budget_is_refused_from_its_header(tmp_path, model_dir, capsys):
    huge = huge_png(tmp_path / "huge.png", 8_000, 7_000)  # under Pillow's own limit, over the budget
    assert classify.main([str(huge), "--model", str(model_dir), "--out", str(tmp_path / "o")]) == 1
    # the first run in a fresh kernel cache prints the compile notice before anything else
    err = message_lines(capsys.readouterr().err)
    assert err[0] == (f"facestack classify: error: {huge}: 8000x7000 = 56,000,000 pixels, over the budget of "
                      "50,000,000 (--max-pixels): shrink it first, or pass --downscale")


def test_output_folder_is_checked_before_the_work(tmp_path, model_dir, capsys):
    (tmp_path / "taken").write_text("a file")
    image = photo(tmp_path / "one.png")
    assert classify.main([str(image), str(image), "--model", str(model_dir), "--out", str(tmp_path / "o")]) == 2
    assert "is given twice" in one_line(capsys.readouterr().err)
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(tmp_path / "taken" / "o")]) == 2
    assert f"output folder {tmp_path / 'taken' / 'o'} is not writable" in one_line(capsys.readouterr().err)


def test_downscale_shrinks_an_image_over_the_budget(tmp_path, model_dir, capsys):
    image = photo(tmp_path / "big.jpg", size=(400, 200), format="JPEG")
    out = tmp_path / "small.png"
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(out), "--max-pixels", "20000"]) == 1
    assert "over the budget of 20,000 (--max-pixels)" in capsys.readouterr().err
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(out), "--max-pixels", "20000",
                          "--downscale"]) == 0
    width, height = Image.open(out).size
    assert width * height <= 20_000 and abs(width / height - 2) < 0.1


@pytest.mark.parametrize("option, message", [(["--every", "0"], "--every must be an integer >= 1"),
                                             (["--scale-factor", "nan"], "--scale-factor must be a finite number"),
                                             (["--max-pixels", "0"], "--max-pixels must be an integer >= 1"),
                                             (["--framing", "0,0,0"], "--framing scale must be a finite number > 0")])
def test_classify_options_are_checked(tmp_path, model_dir, capsys, option, message):
    image = photo(tmp_path / "one.png")
    assert classify.main([str(image), "--model", str(model_dir), "--out", str(tmp_path / "o"), *option]) == 2
    assert message in one_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------- the cache
def test_a_damaged_cache_is_rebuilt(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    for i in range(3):
        Image.new("L", (20, 20), 50 * i).save(root / f"{20 + i}_0_0_1.jpg.chip.jpg")
    faces = FaceDataset(root, sorted(p.name for p in root.iterdir()), np.array([20, 21, 22]), np.zeros(3))
    first = build_cache(faces, PreprocessSettings(size=8), tmp_path / "cache", executor="serial")
    meta = json.loads((first.directory / "meta.json").read_text())
    (first.directory / "meta.json").write_text(json.dumps({**meta, "count": 10**12}))
    again = build_cache(faces, PreprocessSettings(size=8), tmp_path / "cache", executor="serial")
    assert again.directory == first.directory and len(again) == 3
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))


def test_an_image_over_the_budget_in_a_data_folder_is_a_bad_file_not_a_crash(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    Image.new("L", (20, 20), 80).save(root / "20_0_0_1.jpg.chip.jpg")
    huge_png(root / "30_1_0_2.jpg.chip.png", 10_000, 10_000)
    faces = FaceDataset(root, sorted(p.name for p in root.iterdir()), np.array([20, 30]), np.array([0, 1]))
    cache = build_cache(faces, PreprocessSettings(size=8), tmp_path / "cache", executor="serial")
    assert len(cache) == 1 and cache.report["images_bad"] == 1
    assert "100,000,000 pixels, over the budget of 50,000,000" in cache.report["bad_files"][0]["reason"]


# -------------------------------------------------------------------- Ctrl-C during training
def test_ctrl_c_ends_a_training_with_one_line_and_it_resumes(shared_data, tmp_path):
    """Started with SIGINT ignored (as a shell starts a background job): Ctrl-C must still stop it."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    command = [sys.executable, str(ROOT / "experiments" / "multitask.py"), "--data", str(shared_data / "utkface"),
               "--cache-dir", str(cache), "--out", str(out), "--limit", "256", "--steps-per-epoch", "3",
               "--epochs", "3", "--batch-size", "8", "--threads", "2", "--no-progress", "--weighting", "fixed"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    epoch_seen = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in child.stdout:
            lines.append(line)
            if line.startswith("epoch 1/"):
                epoch_seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert epoch_seen.wait(timeout=600), "".join(lines) + child.stderr.read()
    child.send_signal(signal.SIGINT)
    status = child.wait(timeout=120)
    err = child.stderr.read().strip().splitlines()
    assert status == 130, err
    line = re.fullmatch(r"interrupted after epoch (\d+); continue with --resume (\S+)", err[-1])  # as the docs say
    assert line and line.group(2) == str(out), err
    epochs_done = int(line.group(1))
    assert [row["epoch"] for row in read_csv(out / "log.csv")] == list(range(1, epochs_done + 1))
    resumed = subprocess.run([sys.executable, str(ROOT / "experiments" / "multitask.py"), "--resume", str(out)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert [row["epoch"] for row in read_csv(out / "log.csv")] == [1, 2, 3]
    starts = json.loads((out / "provenance.json").read_text())["starts"]  # which code wrote each part
    assert [start["resumed_from_epoch"] for start in starts] == [None, epochs_done]
    assert starts[0]["source_sha256"] == starts[1]["source_sha256"]
