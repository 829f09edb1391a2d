"""Caltech WebFaces: its landmark annotations, its face framing, and the faces cut from its photos.

``WebFaces_GroundThruth.txt`` has one line per face,
``IMAGE leye_x leye_y reye_x reye_y nose_x nose_y mouth_x mouth_y`` (pixels). vj knows no
data set: it trains on face windows and frames a face from its eyes with any
:class:`vj.positives.LandmarkFraming`; this module supplies WebFaces' annotations and the
framing fitted on them (``WEBFACES_FRAMING``: over the faces with exactly one matching
detection of OpenCV's ``haarcascade_frontalface_default.xml``, run by vj at scale 1.1,
min_neighbors 3, the box side is 2.75 eye distances, its centre 0.27 eye distances below the
eyes' midpoint and 0.03 towards the left-image eye). It was first fitted on the 1,225 such
faces of ``webfaces/``, before ``webfaces-train/`` existed; ``vj.positives.fit_landmark_framing``
over the 2,120 such faces of ``webfaces-train/`` gives 2.73, 0.27 and 0.03, the same framing
within 0.02 eye distances, so the constant (and every cascade trained with it) stands, and
``tests/vj_cascade`` refits it on ``webfaces-train/`` photos.

Two splits live in ``$FACESTACK_DATA``: ``webfaces-train/`` (2,000 photos, for training
and for every choice of settings) and ``webfaces/`` (1,000 photos, final evaluation only).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vj.positives import FaceAugmentation, LandmarkFraming, SampleReport, read_landmark_faces

ANNOTATION_FILE = "WebFaces_GroundThruth.txt"
#: Largest coordinate magnitude accepted, in pixels (a photo is far smaller).
MAX_COORDINATE = 1e6
#: Framing of WebFaces landmark crops like OpenCV's frontal-face boxes (module doc).
WEBFACES_FRAMING = LandmarkFraming(width_per_eye_distance=2.75, centre_along=-0.03, centre_across=0.27)


def default_webfaces_dir(split: str = "webfaces") -> Path:
    """``$FACESTACK_DATA/<split>``, else ``../shared/data/<split>`` from the current folder (a clone's layout)."""
    env = os.environ.get("FACESTACK_DATA")
    return (Path(env) if env else Path("..") / "shared" / "data") / split


def read_webfaces_annotations(annotation_file: str | os.PathLike) -> dict[str, np.ndarray]:
    """WebFaces ground truth: image name -> ``(K, 4, 2)`` float64 landmarks per face
    (left eye, right eye, nose, mouth; image pixels).

    Lines are ``IMAGE leye_x leye_y reye_x reye_y nose_x nose_y mouth_x mouth_y``.

    Raises:
        OSError: the file cannot be read. ValueError: a line (named ``FILE:LINE``) has another
        field count, a number that does not parse, or a coordinate that is not finite or is
        beyond +-1e6 pixels; or the file is not UTF-8 text.
    """
    faces: dict[str, list[np.ndarray]] = {}
    try:
        with open(annotation_file, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                parts = line.split()
                if not parts:
                    continue
                where = f"{annotation_file}:{number}"
                if len(parts) != 9:
                    raise ValueError(f"{where}: expected an image name and 8 numbers, got {len(parts)} fields")
                try:
                    values = np.array([float(v) for v in parts[1:]])
                except ValueError:
                    raise ValueError(f"{where}: expected 8 numbers after the image name, got "
                                     f"{' '.join(parts[1:])!r}") from None
                if not (np.all(np.isfinite(values)) and np.all(np.abs(values) <= MAX_COORDINATE)):
                    raise ValueError(f"{where}: coordinates must be finite pixels within +-{MAX_COORDINATE:g}, "
                                     f"got {' '.join(parts[1:])}")
                faces.setdefault(parts[0], []).append(values.reshape(4, 2))
    except UnicodeDecodeError as error:
        raise ValueError(f"{annotation_file}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return {name: np.stack(marks) for name, marks in faces.items()}


def read_webfaces_faces(annotation_file: str | os.PathLike, window_size: tuple[int, int],
                        image_dir: str | os.PathLike | None = None,
                        framing: LandmarkFraming = WEBFACES_FRAMING,
                        min_eye_distance: float = 0.0,
                        augmentation: FaceAugmentation | None = None) -> tuple[np.ndarray, SampleReport]:
    """Faces cut from WebFaces photos with ``framing`` and shrunk to the window (vj's cascade positives).

    Args:
        annotation_file: ``WebFaces_GroundThruth.txt``.
        window_size: ``(width, height)``.
        image_dir: folder of the photos (default: ``images`` beside the annotation file).
        framing: box from the eye points.
        min_eye_distance: skip faces whose eyes are closer than this (pixels), or whose box
            would be smaller than the window; skipped faces count as odd-sized.
        augmentation: several jittered, turned, blurred copies of each face
            (``vj.positives.FaceAugmentation``); None: each face once, as framed.

    Returns:
        ``(windows, report)``.
    """
    annotation_file = Path(annotation_file)
    image_dir = Path(image_dir) if image_dir is not None else annotation_file.parent / "images"
    return read_landmark_faces(read_webfaces_annotations(annotation_file), image_dir, window_size, framing,
                               min_eye_distance, source=str(annotation_file), augmentation=augmentation)


def face_free_photo(gray: np.ndarray, marks_of_faces: np.ndarray, framing: LandmarkFraming = WEBFACES_FRAMING,
                    margin: float = 1.6, seed: int = 0) -> np.ndarray:
    """A WebFaces photo with every annotated face hidden, for mining negatives from real photos.

    Each face's box (``framing`` from its eyes, grown ``margin`` times about its centre to
    cover hair and chin) is filled with smoothed noise of the box's own mean and standard
    deviation: no face remains, and the fill has no structure a cascade could take for one,
    so the windows a miner draws from it are the photo's real non-face content (bodies,
    clothes, text, scenery: what false detections in such photos are made of).

    Args:
        gray: ``(H, W)`` uint8 photo.
        marks_of_faces: ``(K, P, 2)`` points per face, the two eyes first (``read_webfaces_annotations``).
        framing: box from the eye points.
        margin: box growth factor (>= 1).
        seed: random seed of the noise.

    Returns:
        ``(H, W)`` uint8, a copy.
    """
    from PIL import Image, ImageFilter

    if margin < 1:
        raise ValueError(f"margin must be at least 1, got {margin}")
    rng = np.random.default_rng(seed)
    out = np.array(gray, dtype=np.uint8, copy=True)
    height, width = out.shape
    for marks in np.asarray(marks_of_faces, dtype=np.float64):
        if np.hypot(*(marks[1] - marks[0])) > 0:
            x, y, w, h = framing.box(marks[0], marks[1])
        else:  # no eye distance: the landmarks' own extent, at least 8 px
            (x0, y0), (x1, y1) = marks.min(axis=0), marks.max(axis=0)
            x, y, w, h = x0, y0, max(x1 - x0, 8.0), max(y1 - y0, 8.0)
        cx, cy, w, h = x + w / 2, y + h / 2, w * margin, h * margin
        left, top = max(int(np.floor(cx - w / 2)), 0), max(int(np.floor(cy - h / 2)), 0)
        right, bottom = min(int(np.ceil(cx + w / 2)), width), min(int(np.ceil(cy + h / 2)), height)
        if right <= left or bottom <= top:
            continue
        region = out[top:bottom, left:right].astype(np.float64)
        noise = rng.normal(region.mean(), region.std() + 1.0, region.shape).clip(0, 255).astype(np.uint8)
        out[top:bottom, left:right] = np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1.0)))
    return out
