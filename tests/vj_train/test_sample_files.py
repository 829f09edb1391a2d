"""opencv_createsamples / opencv_traincascade sample files: .vec positives, info files
and bg.txt negative lists, including their error messages."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from vj.image import resize_bilinear
from vj.sample_files import (
    SampleFileError,
    cut_info_positives,
    parse_bg,
    parse_info,
    read_info_positives,
    read_vec,
    write_vec,
)


def test_vec_round_trip(tmp_path):
    samples = np.random.default_rng(0).integers(0, 256, (7, 20, 24), dtype=np.uint8)
    write_vec(tmp_path / "s.vec", samples)
    assert (tmp_path / "s.vec").stat().st_size == 12 + 7 * (1 + 2 * 20 * 24)
    back = read_vec(tmp_path / "s.vec", (24, 20))
    assert back.dtype == np.uint8 and np.array_equal(back, samples)
    write_vec(tmp_path / "empty.vec", np.zeros((0, 4, 4), np.uint8))
    assert read_vec(tmp_path / "empty.vec", (4, 4)).shape == (0, 4, 4)


def test_vec_written_byte_by_byte_in_the_createsamples_layout(tmp_path):
    """Header int32 count, int32 w*h, int16 0, int16 0; per sample a zero byte, then
    the pixels as int16, row by row (a 3 wide, 2 high window)."""
    first = [[0, 1, 2], [253, 254, 255]]
    second = [[10, 20, 30], [40, 50, 60]]
    raw = struct.pack("<iihh", 2, 6, 0, 0)
    for sample in (first, second):
        raw += b"\x00" + struct.pack("<6h", *[v for row in sample for v in row])
    (tmp_path / "hand.vec").write_bytes(raw)
    samples = read_vec(tmp_path / "hand.vec", (3, 2))
    assert samples.shape == (2, 2, 3)
    assert samples[0].tolist() == first and samples[1].tolist() == second
    write_vec(tmp_path / "ours.vec", samples)
    assert (tmp_path / "ours.vec").read_bytes() == raw


def test_vec_errors(tmp_path):
    write_vec(tmp_path / "s.vec", np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(SampleFileError, match=r"20 pixels, but a 4x4 window has 16"):
        read_vec(tmp_path / "s.vec", (4, 4))
    (tmp_path / "cut.vec").write_bytes((tmp_path / "s.vec").read_bytes()[:-3])
    with pytest.raises(SampleFileError, match="cut.vec: .* bytes, but 3 samples"):
        read_vec(tmp_path / "cut.vec", (5, 4))
    (tmp_path / "tiny.vec").write_bytes(b"\x01\x00")
    with pytest.raises(SampleFileError, match="too short"):
        read_vec(tmp_path / "tiny.vec", (5, 4))
    raw = bytearray(struct.pack("<iihh", 1, 4, 0, 0) + b"\x00" + struct.pack("<4h", 1, 2, 300, 4))
    (tmp_path / "big.vec").write_bytes(bytes(raw))
    with pytest.raises(SampleFileError, match="sample 0 has a pixel value outside 0..255"):
        read_vec(tmp_path / "big.vec", (2, 2))
    with pytest.raises(ValueError, match="uint8"):
        write_vec(tmp_path / "x.vec", np.zeros((1, 4, 4), np.float32))


@pytest.fixture()
def photos(tmp_path):
    """Two grey photos in tmp/img/: a 60x40 gradient and a 30x30 RGB one."""
    (tmp_path / "img").mkdir()
    gradient = (np.arange(60)[None, :] * 4 + np.arange(40)[:, None]).astype(np.uint8)
    Image.fromarray(gradient).save(tmp_path / "img" / "a.png")
    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[..., 1] = 200
    Image.fromarray(rgb).save(tmp_path / "img" / "b.png")
    return tmp_path, gradient


def test_info_file_parses_and_cuts_boxes_to_the_window(photos):
    root, gradient = photos
    info = root / "info.txt"
    info.write_text("img/a.png 2 0 0 20 20 30 10 24 30\n\nimg/b.png 1 5 5 10 10\nimg/b.png 0\n")
    entries = parse_info(info)
    assert [e.line for e in entries] == [1, 3, 4]
    assert entries[0].image == root / "img" / "a.png"
    assert entries[0].boxes.tolist() == [[0, 0, 20, 20], [30, 10, 24, 30]]
    assert entries[2].boxes.shape == (0, 4)
    windows = read_info_positives(info, (12, 12))
    assert windows.shape == (3, 12, 12) and windows.dtype == np.uint8
    assert np.array_equal(windows[0], resize_bilinear(gradient[0:20, 0:20], 12, 12))
    assert np.array_equal(windows[1], resize_bilinear(gradient[10:40, 30:54], 12, 12))
    assert len(np.unique(windows[2])) == 1  # the flat green photo, in grey
    assert cut_info_positives([], (12, 12)).shape == (0, 12, 12)


@pytest.mark.parametrize("line, message", [
    ("img/a.png 2 0 0 10 10", r"count 2 needs 8 box numbers, got 4"),
    ("img/a.png 1 0 0 10", r"count 1 needs 4 box numbers, got 3"),
    ("img/a.png 1 0 0 ten 10", "must be integers"),
    ("img/a.png 1.5 0 0 10 10", "must be integers"),
    ("img/a.png", "expected 'image count x y w h"),
    ("img/a.png -1", "count -1"),
    ("img/a.png 1 0 0 -4 10", r"box 1 has width or height <= 0"),
    ("img/a.png 2 0 0 4 4 0 0 5 0", r"box 2 has width or height <= 0"),
    ("img/missing.png 1 0 0 4 4", "image not found"),
])
def test_info_file_errors_name_file_and_line(photos, line, message):
    root, _ = photos
    info = root / "info.txt"
    info.write_text(f"img/a.png 1 0 0 10 10\n{line}\n")
    with pytest.raises(SampleFileError, match=message) as caught:
        parse_info(info)
    assert f"{info}:2:" in str(caught.value)


def test_boxes_outside_the_image_and_missing_files(photos):
    root, _ = photos
    info = root / "info.txt"
    info.write_text("img/a.png 1 0 0 10 10\nimg/a.png 2 1 1 5 5 50 0 11 10\n")
    with pytest.raises(SampleFileError, match=r"info.txt:2: box 2 \[50, 0, 11, 10\] reaches outside the 60x40"):
        read_info_positives(info, (8, 8))
    info.write_text("img/a.png 1 -1 0 10 10\n")
    with pytest.raises(SampleFileError, match=r"info.txt:1: box 1 .* reaches outside"):
        read_info_positives(info, (8, 8))
    (root / "img" / "junk.png").write_bytes(b"not a png")
    info.write_text("img/junk.png 1 0 0 4 4\n")
    with pytest.raises(SampleFileError, match="info.txt:1: cannot read"):
        read_info_positives(info, (8, 8))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        parse_info(root / "nope.txt")


def test_bg_list(photos):
    root, _ = photos
    (root / "lists").mkdir()
    bg = root / "lists" / "bg.txt"
    bg.write_text("# negatives\n../img/a.png\n\n   \n../img/b.png\n")
    assert parse_bg(bg) == [root / "lists" / "../img/a.png", root / "lists" / "../img/b.png"]
    bg.write_text("../img/a.png\n# fine\n../img/gone.jpg\n")
    with pytest.raises(SampleFileError, match=r"bg.txt:3: image not found: .*gone.jpg"):
        parse_bg(bg)
    with pytest.raises(FileNotFoundError):
        parse_bg(root / "lists" / "other.txt")
