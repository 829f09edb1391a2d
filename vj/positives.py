"""Positive (face) samples for cascade training, as ``(N, H, W)`` uint8 windows.

Two sources, for any data set:

* a folder of face crops used whole (MIT CBCL's 19 x 19 faces, or any crops framed
  like the detector's boxes), or of larger chips each cut by one face box given as
  fractions of the chip (``read_crop_folder(..., box=...)``), optionally jittered,
  turned and blurred;
* faces cut from photos by their eye points, boxed by a :class:`LandmarkFraming`
  (``read_landmark_faces``), optionally several times each, jittered, turned and blurred
  (:class:`FaceAugmentation`).

Framing. A trained cascade finds faces framed the way its positives were, so a chip box
or a landmark framing should reproduce the boxes of the detector one wants to match.
Both are fitted from data: ``fit_chip_box`` takes the median detector box over chips,
``fit_landmark_framing`` the median box side and centre offset in eye-distance units.
An application holds its data sets' fitted framings (facestack: ``facestack.cascade_data``
for UTKFace chips, ``facestack.webfaces`` for WebFaces photos).

Every sample is converted to grey, cropped, and shrunk to the window as the
detector would see a face twice the window's size (area averaging to twice the
window, then the detector's bilinear resize: ``shrink_to_window``); a sample smaller
than the window is an error (upscaling would invent detail), and unreadable files
are skipped and counted.
"""
from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .image import to_gray_uint8

#: Largest image read_gray decodes, in pixels (about 50 megapixels).
MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".pgm", ".bmp", ".tif", ".tiff", ".gif", ".webp"}

@dataclass(frozen=True)
class LandmarkFraming:
    """A square face box from eye positions, in units of the eye distance ``d``.

    Attributes:
        width_per_eye_distance: box side / ``d``.
        centre_along: box centre offset from the eyes' midpoint along the eye line
            (from the left-image eye to the right-image eye), in ``d``.
        centre_across: offset perpendicular to the eye line, towards the mouth, in ``d``.
    """

    width_per_eye_distance: float
    centre_along: float
    centre_across: float

    def box(self, left_eye: np.ndarray, right_eye: np.ndarray) -> np.ndarray:
        """``(4,)`` float64 box ``x, y, w, h`` (image pixels) for one face's eye points ``(2,)``."""
        left_eye, right_eye = np.asarray(left_eye, float), np.asarray(right_eye, float)
        axis = right_eye - left_eye
        distance = float(np.hypot(*axis))
        if distance <= 0:
            raise ValueError("the two eye points coincide")
        along = axis / distance
        across = np.array([-along[1], along[0]])  # image y points down, so this turns towards the mouth
        centre = (left_eye + right_eye) / 2 + distance * (self.centre_along * along + self.centre_across * across)
        side = self.width_per_eye_distance * distance
        return np.array([centre[0] - side / 2, centre[1] - side / 2, side, side])


@dataclass
class SampleReport:
    """What a reader did with a source.

    Attributes:
        source: the folder or annotation file read.
        used: number of samples produced (before mirroring).
        unreadable: files that could not be decoded as images.
        odd_sized: files whose size differs from the source's common size (crop folders
            only: a folder of crops is expected to hold one size).
    """

    source: str
    used: int = 0
    unreadable: list[str] = field(default_factory=list)
    odd_sized: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: used / skipped counts."""
        return (f"{self.source}: {self.used} samples, {len(self.unreadable)} unreadable and "
                f"{len(self.odd_sized)} odd-sized files skipped")


def read_gray(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to ``(H, W)`` uint8 grey with OpenCV's luma weights.

    Raises OSError or ValueError if it cannot, and ValueError before decoding when the
    header declares more than ``max_pixels`` pixels (so one huge file costs nothing).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ValueError(f"{path}: {width}x{height} = {width * height:,} pixels, over the limit of "
                                 f"{max_pixels:,}")
            img.load()
            if img.mode not in ("L", "RGB", "RGBA"):
                img = img.convert("RGB")
            return to_gray_uint8(np.asarray(img))
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image: {path} ({exc})") from exc


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files (by suffix) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"positive folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _border_index(index: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Indices outside ``[0, size)`` mapped inside: ``edge`` repeats the border pixel,
    ``reflect`` mirrors about it (NumPy's ``pad`` mode of that name: -1 -> 1, size -> size - 2)."""
    if mode == "edge" or size == 1:
        return np.clip(index, 0, size - 1)
    if mode != "reflect":
        raise ValueError(f"unknown border mode {mode!r}: expected 'edge' or 'reflect'")
    period = 2 * size - 2
    folded = np.abs(index) % period
    return np.where(folded >= size, period - folded, folded)


def crop_padded(gray: np.ndarray, box: np.ndarray, mode: str = "edge") -> np.ndarray:
    """The pixels of ``box`` (``x, y, w, h``, rounded to integers); where the box reaches
    outside the image, ``mode="edge"`` repeats the image's border and ``"reflect"``
    mirrors the image about it."""
    x, y, w, h = (int(round(v)) for v in box)
    if w < 1 or h < 1:
        raise ValueError(f"empty crop box {box}")
    rows = _border_index(np.arange(y, y + h), gray.shape[0], mode)
    cols = _border_index(np.arange(x, x + w), gray.shape[1], mode)
    return gray[np.ix_(rows, cols)]


def shrink_to_window(crop: np.ndarray, window_size: tuple[int, int], detector_scale: float = 2.0) -> np.ndarray:
    """Shrink ``crop (h, w)`` uint8 to ``window_size = (width, height)`` the way the
    detector would see the face at pyramid scale ``detector_scale``: area-average to
    ``detector_scale`` times the window, then the detector's bilinear resize
    (``vj.image.resize_bilinear``) to the window. A crop smaller than that
    intermediate size goes straight to the bilinear step."""
    from PIL import Image

    from .image import resize_bilinear

    width, height = window_size
    if crop.shape[1] < width or crop.shape[0] < height:
        raise ValueError(f"sample of {crop.shape[1]}x{crop.shape[0]} px is smaller than the "
                         f"{width}x{height} window")
    crop = np.ascontiguousarray(crop, dtype=np.uint8)
    if crop.shape == (height, width):
        return crop
    mid_w, mid_h = int(round(detector_scale * width)), int(round(detector_scale * height))
    if crop.shape[1] > mid_w and crop.shape[0] > mid_h:
        crop = np.asarray(Image.fromarray(crop).resize((mid_w, mid_h), Image.BOX), dtype=np.uint8)
    return resize_bilinear(crop, width, height)


def jittered_box(box: np.ndarray, image_size: tuple[int, int], jitter: float,
                 rng: np.random.Generator, grow: float = 0.0) -> np.ndarray:
    """``box`` (``x, y, w, h``) moved by up to ``jitter`` of its side in x and y and
    scaled by a factor in ``[1 - jitter, 1 + grow]``, then shifted back inside the image
    ``(width, height)`` where it can be (so no padded rows appear unless it outgrows the
    image)."""
    x, y, w, h = (float(v) for v in box)
    factor = rng.uniform(1.0 - jitter, 1.0 + grow)
    cx, cy = x + w / 2 + rng.uniform(-jitter, jitter) * w, y + h / 2 + rng.uniform(-jitter, jitter) * h
    w, h = w * factor, h * factor
    x = min(max(cx - w / 2, 0.0), max(image_size[0] - w, 0.0))
    y = min(max(cy - h / 2, 0.0), max(image_size[1] - h, 0.0))
    return np.array([x, y, w, h])


def rotated_about(gray: np.ndarray, centre: tuple[float, float], degrees: float) -> np.ndarray:
    """``gray (H, W)`` uint8 turned ``degrees`` anticlockwise about ``centre = (x, y)``
    (bilinear), same size. ``centre`` is in the boxes' continuous coordinates: pixel
    ``(row i, column j)`` covers ``[j, j + 1) x [i, i + 1)``, so its middle is
    ``(j + 0.5, i + 0.5)``. The image is mirrored at its borders first, so corners turned
    in from outside show mirrored face/background texture, not constant pixels that
    boosting would learn as an artefact."""
    from PIL import Image

    pad = (max(gray.shape) + 1) // 2
    padded = np.pad(gray, pad, mode="reflect")
    turned = Image.fromarray(np.ascontiguousarray(padded, dtype=np.uint8)).rotate(
        degrees, resample=Image.BILINEAR, center=(centre[0] + pad, centre[1] + pad))
    return np.asarray(turned, dtype=np.uint8)[pad:pad + gray.shape[0], pad:pad + gray.shape[1]]


def blurred(window: np.ndarray, sigma: float) -> np.ndarray:
    """``window`` uint8 smoothed by a Gaussian of standard deviation ``sigma`` pixels
    (Pillow's ``GaussianBlur``; edges extended); ``sigma <= 0`` returns it unchanged."""
    from PIL import Image, ImageFilter

    if sigma <= 0:
        return window
    image = Image.fromarray(np.ascontiguousarray(window, dtype=np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius=float(sigma))), dtype=np.uint8)


def read_crop_folder(folder: str | os.PathLike, window_size: tuple[int, int],
                     box: tuple[float, float, float, float] | None = None,
                     limit: int | None = None, jitter: float = 0.0,
                     seed: int = 0, rotate: float = 0.0, blur: float = 0.0,
                     grow: float = 0.0) -> tuple[np.ndarray, SampleReport]:
    """Face crops of one folder, shrunk to the window.

    The folder's common image size (the most frequent) is taken as its crop size;
    images of another size and unreadable files are skipped and counted.

    Args:
        folder: directory of image files.
        window_size: ``(width, height)`` of the training window.
        box: optional face box as fractions ``(x, y, w, h)`` of each image's size
            (e.g. facestack's ``UTKFACE_CHIP_BOX``); parts outside the image replicate its edge.
        limit: read at most this many files (the first, by name).
        jitter: with a ``box``, move and shrink each sample's box at random by up to
            this fraction of its side (``jittered_box``), so the cascade learns faces
            framed a little off-centre, as the detector's 2 px / 1.1x grid sees them.
        seed: random seed of the jitter, rotation and blur.
        rotate: turn each sample by a random angle in ``[-rotate, rotate]`` degrees about
            its box centre (``rotated_about``), for faces not upright in the photo
            (aligned chips are all upright).
        blur: smooth each window by a Gaussian of random sigma in ``[0, blur]`` window
            pixels (``blurred``), for small, soft faces; 0 keeps the sharp shrink.
        grow: with a ``box``, let the jitter also enlarge the box, by up to this fraction
            of its side, so faces a little smaller than the window are learnt too (the
            detector's 1.1x pyramid then fires at more neighbouring scales); parts of an
            enlarged box outside the chip are mirrored from inside it.

    Returns:
        ``(windows, report)``: ``(N, height, width)`` uint8 and what was skipped.

    Raises:
        FileNotFoundError: no such folder. ValueError: no readable image, or the
        crops are smaller than the window.
    """
    files = image_files(folder)[:limit]
    report = SampleReport(str(folder))
    images: list[tuple[Path, np.ndarray]] = []
    with ThreadPoolExecutor(_reader_threads()) as pool:  # Pillow decodes, turns and blurs outside the GIL
        for path, gray in zip(files, pool.map(_read_or_none, files)):
            if gray is None:
                report.unreadable.append(path.name)
            else:
                images.append((path, gray))
    if not images:
        raise ValueError(f"no readable images in {folder} ({len(files)} files, {len(report.unreadable)} unreadable)")
    common = Counter(g.shape for _, g in images).most_common(1)[0][0]
    crop_h, crop_w = common
    if box is not None:
        crop_w, crop_h = int(round(box[2] * common[1])), int(round(box[3] * common[0]))
    width, height = window_size
    if crop_w < width or crop_h < height:
        raise ValueError(f"the window {width}x{height} is larger than the samples of {folder} "
                         f"({crop_w}x{crop_h}); choose a window of at most {crop_w}x{crop_h}")
    # every random draw in file order first, so the windows do not depend on the threads
    plans = []
    rng = np.random.default_rng(seed)
    for path, gray in images:
        if gray.shape != common:
            report.odd_sized.append(path.name)
            continue
        h, w = gray.shape
        pixels = np.array([0.0, 0.0, w, h]) if box is None else \
            np.array([box[0] * w, box[1] * h, box[2] * w, box[3] * h])
        if box is not None and (jitter > 0 or grow > 0):
            pixels = jittered_box(pixels, (w, h), jitter, rng, grow)
        degrees = rng.uniform(-rotate, rotate) if rotate > 0 else 0.0
        sigma = rng.uniform(0.0, blur) if blur > 0 else 0.0
        plans.append((gray, pixels, degrees, sigma))

    def window_of(plan: tuple[np.ndarray, np.ndarray, float, float]) -> np.ndarray:
        gray, pixels, degrees, sigma = plan
        if rotate > 0:
            gray = rotated_about(gray, (pixels[0] + pixels[2] / 2, pixels[1] + pixels[3] / 2), degrees)
        if box is not None:
            gray = crop_padded(gray, pixels, mode="reflect" if grow > 0 else "edge")
        window = shrink_to_window(gray, window_size)
        return blurred(window, sigma) if blur > 0 else window

    with ThreadPoolExecutor(_reader_threads()) as pool:
        windows = list(pool.map(window_of, plans))
    report.used = len(windows)
    return np.stack(windows), report


def _reader_threads() -> int:
    """Threads that read and cut sample images: one per CPU this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _read_or_none(path: Path) -> np.ndarray | None:
    """``read_gray(path)``, or None for an unreadable file."""
    try:
        return read_gray(path)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class FaceAugmentation:
    """Random changes drawn for each copy of a face cut from a photo (``read_landmark_faces``),
    the same kinds as ``read_crop_folder``'s: real-photo faces are few, so each is cut several
    times, each copy framed, turned and blurred differently, as the detector's grid and real
    photos vary them.

    Attributes:
        copies: windows cut per face (1 or more).
        jitter: move and shrink the box at random by up to this fraction of its side
            (``jittered_box``; a box shrunk below the window is widened back to it).
        grow: let the jitter also enlarge the box by up to this fraction of its side.
        rotate: turn the face by a random angle in ``[-rotate, rotate]`` degrees about the
            box centre (only a square around the face is turned, mirrored at the photo's border).
        blur: Gaussian blur of random sigma in ``[0, blur]`` window pixels.
        seed: random seed of the draws (made in face order, so the windows are reproducible).
    """

    copies: int = 1
    jitter: float = 0.0
    grow: float = 0.0
    rotate: float = 0.0
    blur: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ValueError(f"copies must be at least 1, got {self.copies}")
        for name in ("jitter", "grow", "rotate", "blur"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")


def _augmented_window(gray: np.ndarray, box: np.ndarray, window_size: tuple[int, int],
                      augmentation: FaceAugmentation, rng: np.random.Generator) -> np.ndarray:
    """One window of the face in ``box`` (``x, y, w, h`` photo pixels) with ``augmentation``'s
    random jitter, rotation and blur drawn from ``rng``: ``(height, width)`` uint8."""
    a = augmentation
    image_size = (gray.shape[1], gray.shape[0])
    if a.jitter > 0 or a.grow > 0:
        box = jittered_box(box, image_size, a.jitter, rng, a.grow)
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    w, h = max(w, window_size[0]), max(h, window_size[1])   # shrunk below the window: widen back to it
    box = np.array([cx - w / 2, cy - h / 2, w, h])
    degrees = rng.uniform(-a.rotate, a.rotate) if a.rotate > 0 else 0.0
    sigma = rng.uniform(0.0, a.blur) if a.blur > 0 else 0.0
    if degrees:
        # turn only a square around the face (large enough for the turned box's corners)
        side = int(np.ceil(1.5 * max(w, h))) + 2
        left, top = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
        region = crop_padded(gray, np.array([left, top, side, side]), mode="reflect")
        gray = rotated_about(region, (cx - left, cy - top), degrees)
        box = box - np.array([left, top, 0.0, 0.0])
    window = shrink_to_window(crop_padded(gray, box), window_size)
    return blurred(window, sigma) if sigma > 0 else window


def read_landmark_faces(faces: Mapping[str, np.ndarray], image_dir: str | os.PathLike,
                        window_size: tuple[int, int], framing: LandmarkFraming,
                        min_eye_distance: float = 0.0, source: str = "",
                        augmentation: FaceAugmentation | None = None) -> tuple[np.ndarray, SampleReport]:
    """Faces cut from photos by their eye points with ``framing`` and shrunk to the window.

    Args:
        faces: image file name -> ``(K, P, 2)`` points per face, the left-image eye and the
            right-image eye first (image pixels); further points are ignored.
        image_dir: folder of the photos.
        window_size: ``(width, height)``.
        framing: box from the eye points.
        min_eye_distance: skip faces whose box would be smaller than the window, or
            whose eyes are closer than this (pixels); skipped faces count as odd-sized.
        source: the name the report gives the source (default: ``image_dir``).
        augmentation: cut each face ``augmentation.copies`` times, each copy jittered,
            turned and blurred at random; None cuts each face once, exactly as framed.

    Returns:
        ``(windows, report)``: ``(N, height, width)`` uint8, the copies of a face
        consecutive (``report.used`` counts windows, copies included).
    """
    image_dir = Path(image_dir)
    report = SampleReport(source or str(image_dir))
    rng = np.random.default_rng(augmentation.seed) if augmentation is not None else None
    windows = []
    for name, marks_of_faces in sorted(faces.items()):
        try:
            gray = read_gray(image_dir / name)
        except (OSError, ValueError):
            report.unreadable.append(name)
            continue
        for marks in marks_of_faces:
            eye_distance = float(np.hypot(*(marks[1] - marks[0])))
            box = framing.box(marks[0], marks[1]) if eye_distance > 0 else None
            if box is None or eye_distance < min_eye_distance or box[2] < window_size[0] or box[3] < window_size[1]:
                report.odd_sized.append(name)
                continue
            if augmentation is None:
                windows.append(shrink_to_window(crop_padded(gray, box), window_size))
            else:
                windows += [_augmented_window(gray, box, window_size, augmentation, rng)
                            for _ in range(augmentation.copies)]
    if not windows:
        raise ValueError(f"no usable faces in {report.source}")
    report.used = len(windows)
    return np.stack(windows), report


def mirrored(windows: np.ndarray) -> np.ndarray:
    """``windows`` followed by their left-right mirror images: ``(2N, H, W)``."""
    return np.concatenate([windows, windows[:, :, ::-1]])


def fit_chip_box(boxes: np.ndarray, chip_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Median detector box over chips, as fractions of the chip size.

    Args:
        boxes: ``(N, 4)`` one detection ``x, y, w, h`` per chip, in chip pixels.
        chip_size: ``(width, height)`` of the chips.
    """
    median = np.median(np.asarray(boxes, dtype=np.float64), axis=0)
    width, height = chip_size
    return (median[0] / width, median[1] / height, median[2] / width, median[3] / height)


def fit_landmark_framing(boxes: np.ndarray, left_eyes: np.ndarray, right_eyes: np.ndarray) -> LandmarkFraming:
    """Framing that best reproduces detector boxes from eye points (medians).

    Args:
        boxes: ``(N, 4)`` detections ``x, y, w, h``, each matched to one face.
        left_eyes, right_eyes: ``(N, 2)`` that face's eye points.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    left_eyes, right_eyes = np.asarray(left_eyes, float), np.asarray(right_eyes, float)
    axis = right_eyes - left_eyes
    distance = np.hypot(axis[:, 0], axis[:, 1])
    along = axis / distance[:, None]
    across = np.stack([-along[:, 1], along[:, 0]], axis=1)
    offset = boxes[:, :2] + boxes[:, 2:] / 2 - (left_eyes + right_eyes) / 2
    return LandmarkFraming(
        width_per_eye_distance=float(np.median(boxes[:, 2] / distance)),
        centre_along=float(np.median((offset * along).sum(axis=1) / distance)),
        centre_across=float(np.median((offset * across).sum(axis=1) / distance)),
    )
