"""The sample files of ``opencv_createsamples`` / ``opencv_traincascade``: ``.vec``
positives, ``opencv_annotation`` info files and ``bg.txt`` negative lists.

``.vec`` (written by ``opencv_createsamples -vec``, read by ``opencv_traincascade -vec``),
little-endian:

    int32 count, int32 vecsize (= w * h), int16 0, int16 0,
    then per sample: one zero byte, then vecsize int16 pixel values, row by row.

The file does not store the window's width and height, only their product, so a
reader must be told them (``-w`` / ``-h``) and can only check the product.

Info file (``opencv_annotation`` output, ``opencv_createsamples -info`` input): one image
per line, ``path count x y w h [x y w h ...]``, the path relative to the info file's
folder. Each box is cut from the image and resized to the window.

Negative list (``opencv_traincascade -bg``): one image path per line, relative to the
list file's folder. Blank lines and lines starting with ``#`` are skipped.

Errors name the file and line at fault (``SampleFileError``, a ``ValueError``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .image import resize_bilinear, to_gray_uint8

_VEC_HEADER = np.dtype([("count", "<i4"), ("vecsize", "<i4"), ("min", "<i2"), ("max", "<i2")])


class SampleFileError(ValueError):
    """A sample file is malformed or names something that is not there."""


def read_vec(path: str | os.PathLike, window_size: tuple[int, int]) -> np.ndarray:
    """Read an ``opencv_createsamples`` ``.vec`` file.

    Args:
        path: the file.
        window_size: ``(width, height)`` of its samples (``-w``, ``-h``); the file
            stores only ``width * height``, which must match.

    Returns:
        ``(count, height, width)`` uint8 samples.

    Raises:
        SampleFileError: short or oversized file, a vecsize other than ``width * height``,
            or a pixel value outside 0..255.
    """
    path = Path(path)
    width, height = int(window_size[0]), int(window_size[1])
    raw = path.read_bytes()
    if len(raw) < _VEC_HEADER.itemsize:
        raise SampleFileError(f"{path}: {len(raw)} bytes, too short for a .vec header ({_VEC_HEADER.itemsize})")
    header = np.frombuffer(raw[:_VEC_HEADER.itemsize], dtype=_VEC_HEADER)[0]
    count, vecsize = int(header["count"]), int(header["vecsize"])
    if vecsize != width * height:
        raise SampleFileError(f"{path}: samples of {vecsize} pixels, but a {width}x{height} window has "
                              f"{width * height}: give the -w / -h the file was written with")
    if count < 0:
        raise SampleFileError(f"{path}: negative sample count {count}")
    record = 1 + 2 * vecsize
    expected = _VEC_HEADER.itemsize + count * record
    if len(raw) != expected:
        raise SampleFileError(f"{path}: {len(raw)} bytes, but {count} samples of {vecsize} pixels take {expected}")
    records = np.frombuffer(raw, dtype=np.uint8, offset=_VEC_HEADER.itemsize).reshape(count, record)
    pixels = np.ascontiguousarray(records[:, 1:]).view("<i2").reshape(count, height, width)
    if count and (pixels.min() < 0 or pixels.max() > 255):
        bad = int(np.flatnonzero((pixels < 0) | (pixels > 255))[0] // vecsize)
        raise SampleFileError(f"{path}: sample {bad} has a pixel value outside 0..255")
    return pixels.astype(np.uint8)


def write_vec(path: str | os.PathLike, samples: np.ndarray) -> None:
    """Write ``(N, height, width)`` uint8 samples as an ``opencv_createsamples`` ``.vec`` file."""
    samples = np.asarray(samples)
    if samples.ndim != 3 or samples.dtype != np.uint8:
        raise ValueError(f"samples must be (N, height, width) uint8, got shape {samples.shape} "
                         f"dtype {samples.dtype}")
    count, height, width = samples.shape
    header = np.array([(count, width * height, 0, 0)], dtype=_VEC_HEADER)
    records = np.zeros((count, 1 + 2 * width * height), dtype=np.uint8)
    pixels = samples.reshape(count, width * height).astype("<i2")
    records[:, 1:] = pixels.view(np.uint8).reshape(count, 2 * width * height)
    Path(path).write_bytes(header.tobytes() + records.tobytes())


@dataclass(frozen=True)
class InfoEntry:
    """One line of an info file.

    Attributes:
        image: the image's path (resolved against the info file's folder).
        boxes: ``(K, 4)`` int64 boxes ``x, y, w, h`` in image pixels.
        line: 1-based line number in the info file (for error messages).
    """

    image: Path
    boxes: np.ndarray
    line: int


def _content_lines(path: Path, comments: bool) -> list[tuple[int, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"sample list not found: {path}")
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        text = text.strip()
        if text and not (comments and text.startswith("#")):
            lines.append((number, text))
    return lines


def parse_info(path: str | os.PathLike) -> list[InfoEntry]:
    """Parse an ``opencv_annotation`` info file (``img N x y w h ...`` per line).

    Blank lines are skipped; a line with no box (``N = 0``) is kept with no box.

    Raises:
        FileNotFoundError: the info file is missing.
        SampleFileError: a wrong number of fields for its count, a non-integer, a
            negative count, a box of zero or negative size, or a missing image; the
            message names the file and line.
    """
    path = Path(path)
    entries = []
    for number, text in _content_lines(path, comments=False):
        where = f"{path}:{number}"
        fields = text.split()
        if len(fields) < 2:
            raise SampleFileError(f"{where}: expected 'image count x y w h ...', got {text!r}")
        try:
            numbers = [int(f) for f in fields[1:]]
        except ValueError:
            raise SampleFileError(f"{where}: count and box coordinates must be integers, got {text!r}") from None
        count = numbers[0]
        if count < 0 or len(numbers) != 1 + 4 * count:
            raise SampleFileError(f"{where}: count {count} needs {4 * max(count, 0)} box numbers, "
                                  f"got {len(numbers) - 1}")
        boxes = np.array(numbers[1:], dtype=np.int64).reshape(count, 4)
        small = np.flatnonzero((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
        if small.size:
            raise SampleFileError(f"{where}: box {int(small[0]) + 1} has width or height <= 0: "
                                  f"{boxes[small[0]].tolist()}")
        image = path.parent / fields[0]
        if not image.is_file():
            raise SampleFileError(f"{where}: image not found: {image}")
        entries.append(InfoEntry(image, boxes, number))
    return entries


def read_gray_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to ``(H, W)`` uint8 grey (OSError / ValueError if it cannot)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "RGB", "RGBA"):
                img = img.convert("RGB")
            return to_gray_uint8(np.asarray(img))
    except UnidentifiedImageError as exc:
        raise ValueError(f"not an image: {path}") from exc


def cut_info_positives(entries: list[InfoEntry], window_size: tuple[int, int],
                       info_file: str | os.PathLike = "info file") -> np.ndarray:
    """Cut every box out of its image and resize it to the window, as
    ``opencv_createsamples -info`` does (bilinear, ``vj.image.resize_bilinear``).

    Args:
        entries: from ``parse_info``.
        window_size: ``(width, height)`` of the training window.
        info_file: named in error messages.

    Returns:
        ``(total boxes, height, width)`` uint8 windows, in file order.

    Raises:
        SampleFileError: a box reaches outside its image, or an image cannot be decoded.
    """
    width, height = int(window_size[0]), int(window_size[1])
    windows = []
    for entry in entries:
        where = f"{info_file}:{entry.line}"
        try:
            gray = read_gray_image(entry.image)
        except (OSError, ValueError) as exc:
            raise SampleFileError(f"{where}: cannot read {entry.image}: {exc}") from None
        for k, (x, y, w, h) in enumerate(entry.boxes.tolist()):
            if x < 0 or y < 0 or x + w > gray.shape[1] or y + h > gray.shape[0]:
                raise SampleFileError(f"{where}: box {k + 1} {[x, y, w, h]} reaches outside the "
                                      f"{gray.shape[1]}x{gray.shape[0]} image {entry.image}")
            windows.append(resize_bilinear(gray[y:y + h, x:x + w], width, height))
    if not windows:
        return np.zeros((0, height, width), dtype=np.uint8)
    return np.stack(windows)


def read_info_positives(path: str | os.PathLike, window_size: tuple[int, int]) -> np.ndarray:
    """``parse_info`` then ``cut_info_positives``: ``(N, height, width)`` uint8 windows."""
    return cut_info_positives(parse_info(path), window_size, path)


def parse_bg(path: str | os.PathLike) -> list[Path]:
    """Parse an ``opencv_traincascade -bg`` negative list: one image path per line,
    relative to the list file's folder; blank lines and ``#`` comments skipped.

    Raises:
        FileNotFoundError: the list is missing.
        SampleFileError: a listed image is missing (file and line named).
    """
    path = Path(path)
    images = []
    for number, text in _content_lines(path, comments=True):
        image = path.parent / text
        if not image.is_file():
            raise SampleFileError(f"{path}:{number}: image not found: {image}")
        images.append(image)
    return images
