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
    if width < 1 or height < 1:
        raise ValueError(f"window size must be positive, got {width}x{height}")
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


#: Largest coordinate accepted in an info file (no image is larger).
MAX_COORDINATE = 2**31 - 1


def _content_lines(path: Path, comments: bool) -> list[tuple[int, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"sample list not found: {path}")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SampleFileError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    lines = []
    for number, text in enumerate(content.splitlines(), start=1):
        if "\0" in text:
            raise SampleFileError(f"{path}:{number}: a NUL byte in the line")
        text = text.strip()
        if text and not (comments and text.startswith("#")):
            lines.append((number, text))
    return lines


def parse_info(path: str | os.PathLike) -> list[InfoEntry]:
    """Parse an ``opencv_annotation`` info file (``img N x y w h ...`` per line).

    Blank lines are skipped; a line with no box (``N = 0``) is kept with no box.

    Raises:
        FileNotFoundError: the info file is missing.
        SampleFileError: not UTF-8 text, a wrong number of fields for its count, a non-integer,
            a number beyond ``MAX_COORDINATE``, a negative count, a box of zero or negative size,
            or a missing image; the message names the file and line.
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
        if any(abs(v) > MAX_COORDINATE for v in numbers):
            raise SampleFileError(f"{where}: a number beyond +-{MAX_COORDINATE}: {text!r}")
        if count < 0 or len(numbers) != 1 + 4 * count:
            raise SampleFileError(f"{where}: count {count} needs {4 * max(count, 0)} box numbers, "
                                  f"got {len(numbers) - 1}")
        boxes = np.array(numbers[1:], dtype=np.int64).reshape(count, 4)
        small = np.flatnonzero((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
        if small.size:
            raise SampleFileError(f"{where}: box {int(small[0]) + 1} has width or height <= 0: "
                                  f"{boxes[small[0]].tolist()}")
        image = path.parent / fields[0]
        if not _is_file(image, where):
            raise SampleFileError(f"{where}: image not found: {image}")
        entries.append(InfoEntry(image, boxes, number))
    return entries


#: Largest image, in pixels, the vj commands decode by default (``--max-pixels``): about
#: 5 GB of pyramid and integral images less than one near Pillow's own limit would take.
DEFAULT_MAX_PIXELS = 50_000_000
#: ``downscale`` decodes an image (a JPEG at its reduced draft size) of at most this many times
#: ``max_pixels`` before shrinking it, so that memory stays bounded.
DOWNSCALE_DECODE_LIMIT = 4


class ImageFileError(ValueError):
    """An image file that cannot be decoded (not an image, truncated, or corrupt)."""


class ImageTooLargeError(ImageFileError):
    """An image whose header declares more pixels than allowed (refused before decoding)."""


def read_image_file(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, downscale: bool = False,
                    gray: bool = False) -> tuple[np.ndarray, float]:
    """Decode an image file, refusing (or shrinking) one over ``max_pixels`` before decoding it.

    Pillow's ``Image.open`` reads only the header, so the declared size is checked before
    any pixel is decoded; a JPEG shrunk with ``downscale`` is decoded at the reduced size.

    Args:
        path: the image file.
        max_pixels: the most pixels (width x height) accepted.
        downscale: shrink an image over ``max_pixels`` by the smallest integer factor
            that fits, instead of refusing it (one that must be decoded at more than
            ``DOWNSCALE_DECODE_LIMIT`` times ``max_pixels`` first is still refused).
        gray: return ``(H, W)`` uint8 grey; otherwise grey ``(H, W)``, RGB or RGBA as
            stored (16-bit grey kept as uint16, other modes converted to RGB).

    Returns:
        ``(pixels, factor)``: the decoded image and the factor it was shrunk by (original width over
        decoded width; 1.0 if not shrunk).

    Raises:
        FileNotFoundError / OSError: the file cannot be opened.
        ImageTooLargeError: over ``max_pixels`` without ``downscale``, or over Pillow's own limit.
        ImageFileError: not an image, truncated or corrupt; the message names the file.
    """
    import warnings

    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget below decides
            with Image.open(path) as img:
                width, height = img.size
                factor = _shrink_factor(path, width, height, max_pixels, downscale)
                if factor > 1:
                    img.draft(img.mode, (width // factor, height // factor))  # JPEG: decode at reduced size
                    if img.size[0] * img.size[1] > DOWNSCALE_DECODE_LIMIT * max_pixels:
                        raise ImageTooLargeError(
                            f"{path}: {width}x{height} = {width * height:,} pixels is too large to shrink: it "
                            f"must be decoded in full, and at most {DOWNSCALE_DECODE_LIMIT} x --max-pixels "
                            f"({DOWNSCALE_DECODE_LIMIT * max_pixels:,}) are")
                img.load()
                if factor > 1:
                    k = max(1, -(-img.size[0] // max(1, width // factor)))
                    while (img.size[0] // k) * (img.size[1] // k) > max_pixels:
                        k += 1
                    img = img.reduce(k) if k > 1 else img
                return _pixels(img, gray), width / img.size[0]
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{path}: the header declares more pixels than Pillow decodes ({exc})") from None
    except ImageFileError:
        raise
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise ImageFileError(f"{path}: cannot decode the image ({' '.join(str(exc).split())})") from None
    except Exception as exc:  # Pillow's decoders raise many types on corrupt data
        raise ImageFileError(f"{path}: corrupt image ({type(exc).__name__}: {exc})") from None


def _shrink_factor(path: Path, width: int, height: int, max_pixels: int, downscale: bool) -> int:
    if width < 1 or height < 1:
        raise ImageFileError(f"{path}: the header declares a {width}x{height} image")
    if width * height <= max_pixels:
        return 1
    if not downscale:
        raise ImageTooLargeError(f"{path}: {width}x{height} = {width * height:,} pixels, over --max-pixels "
                                 f"{max_pixels:,}: pass --downscale to shrink it, or raise --max-pixels")
    factor = 2
    while (width // factor) * (height // factor) > max_pixels:
        factor += 1
    return factor


def _pixels(img, gray: bool) -> np.ndarray:
    if gray:
        return to_gray_uint8(np.asarray(img if img.mode in ("L", "RGB", "RGBA") else img.convert("RGB")))
    if img.mode in ("L", "RGB", "RGBA"):
        return np.asarray(img)
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    return np.asarray(img.convert("RGB"))


def read_gray_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to ``(H, W)`` uint8 grey (OSError / ``ImageFileError`` if it cannot,
    ``ImageTooLargeError`` over ``max_pixels``)."""
    return read_image_file(path, max_pixels, gray=True)[0]


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


def _is_file(image: Path, where: str) -> bool:
    """``image.is_file()``, with an unusable name (too long, ...) as a SampleFileError naming ``where``."""
    try:
        return image.is_file()
    except OSError as exc:
        raise SampleFileError(f"{where}: cannot use the image path {str(image)[:80]!r}: {exc.strerror}") from None


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
        if not _is_file(image, f"{path}:{number}"):
            raise SampleFileError(f"{path}:{number}: image not found: {image}")
        images.append(image)
    return images
