"""``vj detect`` / ``vj train`` on bad input: one-line errors naming the file or option,
exit 2 for usage errors and 1 for failures, batches that go on past a bad input, nothing
overwritten without ``--overwrite``, no traceback unless ``vj --debug`` (issue #17)."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

import vj
from vj.cli import main
from vj.train_record import read_sidecar


skimage_data = pytest.importorskip("skimage.data")


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width x height`` pixels, with almost no pixel data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """A good photo (twice, under the same name in two folders), a huge one, a truncated one."""
    root = tmp_path_factory.mktemp("photos")
    for folder in ("a", "b"):
        (root / folder).mkdir()
        Image.fromarray(skimage_data.astronaut()).save(root / folder / "photo.png")
    good = (root / "a" / "photo.png").read_bytes()
    (root / "cut.png").write_bytes(good[: len(good) // 3])
    return {"a": root / "a" / "photo.png", "b": root / "b" / "photo.png", "cut": root / "cut.png",
            "huge": huge_png(root / "huge.png", 10_000, 10_000), "bomb": huge_png(root / "bomb.png", 60_000, 60_000)}


def detect(*args: str) -> int:
    return main(["detect", *args, "--min-size", "60"])


def test_batch_goes_on_past_bad_inputs_and_writes_the_good_ones(photos, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [str(photos[k]) for k in ("a", "huge", "cut", "bomb", "b")] + [str(tmp_path / "missing.jpg")]
    assert detect(*inputs, "--out", str(out), "--json") == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = captured.err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("vj detect: ") for line in errors)
    huge = f"vj detect: {photos['huge']}: 10000x10000 = 100,000,000 pixels, over --max-pixels 50,000,000"
    assert huge in captured.err
    assert "bomb.png: the header declares more pixels than Pillow decodes" in captured.err
    assert "cut.png: cannot decode the image" in captured.err and "missing.jpg" in captured.err
    assert "2 of 6 inputs done, 4 failed" in captured.out
    results = json.loads((out / "detections.json").read_text())
    assert sorted(results) == sorted([str(photos["a"]), str(photos["b"])]) and results[str(photos["a"])]
    # the two photo.png keep their folders instead of overwriting each other
    assert (out / "a" / "photo_detected.png").is_file() and (out / "b" / "photo_detected.png").is_file()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no temporary file left behind


def test_existing_outputs_need_overwrite(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert detect(str(photos["a"]), "--out", str(out), "--json") == 0
    before = (out / "photo_detected.png").read_bytes()
    assert detect(str(photos["a"]), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "photo_detected.png exists" in err and "--overwrite" in err
    assert (out / "photo_detected.png").read_bytes() == before
    assert detect(str(photos["a"]), "--out", str(out), "--json", "--overwrite") == 0


def test_downscale_reports_boxes_in_original_pixels(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert detect(str(photos["a"]), "--out", str(out), "--max-pixels", "100000") == 1
    assert "512x512 = 262,144 pixels, over --max-pixels 100,000: pass --downscale" in capsys.readouterr().err
    assert detect(str(photos["a"]), "--out", str(out), "--max-pixels", "100000", "--downscale", "--json") == 0
    assert "shrunk by 2.00 to 256x256" in capsys.readouterr().out
    boxes = [r["box"] for r in json.loads((out / "detections.json").read_text())[str(photos["a"])]]
    assert boxes and all(x + w <= 512 and y + h <= 512 and w >= 60 for x, y, w, h in boxes)
    assert Image.open(out / "photo_detected.png").size == (256, 256)


@pytest.mark.parametrize("option, value, message", [
    ("--scale-factor", "nan", "argument --scale-factor: expected a finite number, got 'nan'"),
    ("--scale-factor", "1", "argument --scale-factor: must be in (1, 100], got 1"),
    ("--min-neighbors", "-1", "argument --min-neighbors: must be >= 0, got -1"),
    ("--min-size", "0", "argument --min-size: must be in 1..100000, got 0"),
    ("--max-pixels", "many", "argument --max-pixels: expected an integer, got 'many'"),
])
def test_detect_options_are_range_checked(photos, tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", str(photos["a"]), "--out", str(tmp_path), option, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_scale_factor_too_close_to_one_is_refused_per_image(photos, tmp_path, capsys):
    assert detect(str(photos["a"]), "--out", str(tmp_path), "--scale-factor", "1.00001") == 1
    err = capsys.readouterr().err
    assert "--scale-factor 1.00001 gives 324,261 pyramid levels" in err and "more than 1000: use at least 1.0032" in err


def test_output_folder_that_is_a_file(photos, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert detect(str(photos["a"]), "--out", str(tmp_path / "file")) == 2
    assert "output folder" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        main(["--debug", "detect", str(tmp_path / "missing.png"), "--out", str(tmp_path)])


# ---------------------------------------------------------------------------------------- vj train


@pytest.fixture(scope="module")
def train_data(tmp_path_factory) -> dict[str, Path]:
    """Synthetic 12x12 faces and backgrounds as image folders."""
    root = tmp_path_factory.mktemp("train")
    (root / "faces").mkdir()
    (root / "bg").mkdir()
    for i, face in enumerate(synthetic_faces(120)):
        Image.fromarray(face).save(root / "faces" / f"{i:03d}.png")
    for i, image in enumerate(synthetic_backgrounds(6)):
        Image.fromarray(image).save(root / "bg" / f"{i}.png")
    huge_png(root / "bg" / "huge.png", 60_000, 60_000)  # skipped and reported, not fatal
    return {"faces": root / "faces", "bg": root / "bg"}


def train(data: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["train", "--pos", str(data["faces"]), "--neg", str(data["bg"]), "--window", "12", "--stages", "1",
                 "--num-pos", "100", "--num-neg", "60", "--min-positives", "10", "--out", str(out), *extra])


def test_train_refuses_to_overwrite_a_cascade_it_did_not_write(train_data, tmp_path, capsys):
    out = tmp_path / "c.xml"
    opencv = Path(vj.data.haarcascades) / "haarcascade_eye.xml"
    out.write_bytes(opencv.read_bytes())
    assert train(train_data, out) == 2
    err = capsys.readouterr().err
    assert f"{out} exists and has no c.xml.train.json beside it" in err and "--overwrite" in err
    assert out.read_bytes() == opencv.read_bytes()
    assert train(train_data, out, "--overwrite") == 0
    assert vj.load_cascade(out).num_stages == 1 and (tmp_path / "c.xml.train.json").is_file()
    printed = capsys.readouterr().out
    assert "1 unreadable or too large" in printed and "huge.png" in printed


def test_truncated_or_wrong_sidecar_is_named(train_data, tmp_path, capsys):
    out = tmp_path / "c.xml"
    assert train(train_data, out) == 0
    sidecar = tmp_path / "c.xml.train.json"
    text = sidecar.read_text()
    sidecar.write_text(text[: len(text) // 2])
    assert train(train_data, out, "--stages", "2") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vj train: {sidecar}: not a readable training record") and "--overwrite" in err
    record = json.loads(text)
    record["stages"][0]["num_weak"] = "many"
    sidecar.write_text(json.dumps(record))
    assert train(train_data, out, "--stages", "2") == 1
    assert "stage record 0: 'num_weak' must be an integer" in capsys.readouterr().err
    # null is allowed only where a field may be unknown: the time left, before a stage was timed
    record["stages"][0]["num_weak"], record["stages"][0]["seconds"] = 1, None
    sidecar.write_text(json.dumps(record))
    assert train(train_data, out, "--stages", "2") == 1
    assert "stage record 0: 'seconds' must be a number" in capsys.readouterr().err
    record["stages"][0]["seconds"], record["stages"][0]["seconds_left"] = 1.0, None
    sidecar.write_text(json.dumps(record))
    assert read_sidecar(sidecar)["stages"][0]["seconds_left"] is None


def test_changed_cascade_beside_a_sidecar_is_not_overwritten(train_data, tmp_path, capsys):
    out = tmp_path / "c.xml"
    assert train(train_data, out) == 0
    other = (Path(vj.data.haarcascades) / "haarcascade_eye.xml").read_bytes()
    out.write_bytes(other)
    assert train(train_data, out, "--stages", "2") == 2
    assert "is not the cascade c.xml.train.json describes" in capsys.readouterr().err
    assert out.read_bytes() == other


@pytest.mark.parametrize("option, value, message", [
    ("--window", "2", "must be in 3..128 (window side in pixels: 3 is the smallest"),
    ("--window", "129", "must be in 3..128"),
    ("--threads", "0", "argument --threads/--num-threads: must be >= 1, got 0"),
    ("--num-neg", "0", "argument --num-neg: must be >= 1, got 0"),
    ("--min-hit-rate", "nan", "argument --min-hit-rate: expected a finite number, got 'nan'"),
    ("--min-hit-rate", "0", "argument --min-hit-rate: must be in (0, 1], got 0"),
    ("--max-false-alarm", "1", "must be in (0, 1), got 1"),
    ("--feature-fraction", "inf", "expected a finite number, got 'inf'"),
])
def test_train_options_are_range_checked(train_data, tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        train(train_data, tmp_path / "c.xml", option, value)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_train_output_folder_is_checked_before_the_work(train_data, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert train(train_data, tmp_path / "file" / "c.xml") == 2
    assert "output folder" in (err := capsys.readouterr().err) and "is a file" in err
    assert train(train_data, tmp_path) == 2
    assert "is a folder" in capsys.readouterr().err


def test_ctrl_c_ends_with_one_line(train_data, tmp_path, capsys, monkeypatch):
    import vj.cascade_train

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vj.cascade_train, "train_cascade", interrupted)
    assert train(train_data, tmp_path / "c.xml") == 130
    err = capsys.readouterr().err
    assert err.strip() == "vj train: interrupted; no stage was finished: run the same command again to resume"
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "train", "--pos", str(train_data["faces"]), "--neg", str(train_data["bg"]), "--window",
              "12", "--out", str(tmp_path / "c.xml")])
    assert not np.any([p.suffix == ".tmp" for p in tmp_path.iterdir()])


# ------------------------------------------------------------------------ resume after a kill in a save


def test_kill_between_sidecar_and_cascade_rename_resumes_to_the_same_cascade(tmp_path, monkeypatch):
    """The sidecar is written before the cascade file is renamed into place: a kill between the two leaves
    a cascade one stage behind its sidecar, which the next run recognises (by the hashes) and redoes."""
    import vj.cascade_train as ct

    data = synthetic_faces(300, seed=3), synthetic_backgrounds(20, seed=4)
    config = ct.CascadeTrainingConfig(window_size=(12, 12), num_stages=3, num_negatives=150, max_positives=300,
                                      min_positives=30, target_false_positive_rate=1e-6, seed=2)
    reference = tmp_path / "reference.xml"
    ct.train_cascade(*data, config, reference)
    out = tmp_path / "c.xml"
    real_replace = ct.os.replace
    saves = []

    def replace(src, dst):
        if Path(dst) == out:
            saves.append(dst)
            if len(saves) == 2:  # the second stage's cascade never lands
                raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(ct.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        ct.train_cascade(*data, config, out)
    monkeypatch.setattr(ct.os, "replace", real_replace)
    assert vj.load_cascade(out).num_stages == 1 and len(ct.read_sidecar(ct.sidecar_path(out))["stages"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    events = []
    ct.train_cascade(*data, config, out, lambda event, info: events.append((event, info)))
    assert ("resume", {"stages": 1}) in events
    assert out.read_bytes() == reference.read_bytes()
    # a sidecar written before the hashes were recorded still resumes
    record = json.loads(ct.sidecar_path(out).read_text())
    record.pop("xml_sha256")
    record.pop("previous_xml_sha256")
    ct.sidecar_path(out).write_text(json.dumps(record))
    assert ct.train_cascade(*data, config, out).cascade.num_stages == 3
    assert out.read_bytes() == reference.read_bytes()
