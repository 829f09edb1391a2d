"""``facestack.analyze(image)`` (module facestack.analysis): every face in a photo, gender and age bin.

    import facestack
    for face in facestack.analyze("photo.jpg"):
        print(face["box"], face["gender"], face["gender_prob"], face["age_bin"])

The photo goes through the same steps as ``facestack classify``: Pillow's "L" grey, vj's
shipped frontal-face cascade (or the one given), each box re-framed as the UTKFace chips
the network learnt from (:mod:`facestack.framing`), the crops prepared as training
prepared its images, and one forward pass of the shipped multi-task network (or the
classifier given) for all faces. The model and cascade are loaded once per process and
kept (:func:`default_classifier`, :func:`default_cascade`).
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

import vj

from .framing import SHIPPED_CASCADE_FRAMING, FaceFraming
from .pipeline import FaceClassifier, face_batch

#: Detector settings of ``analyze`` and of ``facestack classify`` on still images. A still is
#: searched down to the cascade's own window (``min_size`` None: 20 px for the shipped one),
#: because most faces of web and group photos are smaller than 60 px and the labels hold up
#: that small (docs/model_card.md, "Small faces").
DETECTOR_DEFAULTS = {"scale_factor": 1.2, "min_neighbors": 5, "min_size": None}
#: ``min_size`` of video and camera frames: the real-time pipeline skips the small windows,
#: which are most of the detector's work.
VIDEO_MIN_SIZE = 60
#: The largest image analyze accepts, in pixels (about 50 megapixels), checked before decoding.
MAX_PIXELS = 50_000_000


@lru_cache(maxsize=1)
def default_classifier() -> FaceClassifier:
    """The shipped age/gender network (loaded and checksum-verified once)."""
    from .shipped import load_shipped_classifier

    return load_shipped_classifier()


@lru_cache(maxsize=1)
def default_cascade() -> vj.PreparedCascade:
    """vj's shipped frontal-face cascade, prepared once."""
    return vj.prepare_cascade(vj.load_cascade(None))


def as_gray(image: Any) -> np.ndarray:
    """A photo as Pillow's "L" grey, ``(H, W)`` uint8.

    Args:
        image: a path (str or PathLike), a PIL image, or a uint8 array, grey ``(H, W)`` or
            RGB ``(H, W, 3)``.
    Raises:
        TypeError: another type or dtype. ValueError: another shape, an empty or too large image.
        FileNotFoundError: the path does not exist. IsADirectoryError: it is a folder.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder, not an image (analyze takes one image)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such image: {path}")
        try:
            with Image.open(path) as source:
                _check_pixels(source.size, path)
                return np.asarray(source.convert("L"))
        except (OSError, Image.DecompressionBombError) as error:
            raise ValueError(f"cannot read image {path}: {error}") from None
    if isinstance(image, Image.Image):
        _check_pixels(image.size, "the image")
        return np.asarray(image.convert("L"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"analyze takes a path, a PIL image or a uint8 array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"analyze takes uint8 pixel arrays (0..255), got dtype {image.dtype}")
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = np.asarray(Image.fromarray(np.ascontiguousarray(image), mode="RGB").convert("L"))
    else:
        raise ValueError(f"analyze takes grey (H, W) or RGB (H, W, 3) arrays, got shape {image.shape}")
    if gray.size == 0:
        raise ValueError(f"the image is empty: shape {image.shape}")
    _check_pixels((gray.shape[1], gray.shape[0]), "the image")
    return np.ascontiguousarray(gray)


def _check_pixels(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ValueError(f"{name} has {width}x{height} = {width * height:,} pixels, over the limit of "
                         f"{MAX_PIXELS:,}: downscale it first")


def analyze(image: Any, classifier: FaceClassifier | None = None, cascade: Any = None,
            framing: FaceFraming = SHIPPED_CASCADE_FRAMING, **detector: Any) -> list[dict[str, Any]]:
    """Detect the faces of ``image`` and label each with a gender and an age bin.

    Args:
        image: a path, a PIL image, or a uint8 array (grey ``(H, W)`` or RGB ``(H, W, 3)``).
        classifier: a :class:`~facestack.pipeline.FaceClassifier` (default: the shipped model;
            ``facestack.pipeline.load_classifier(run_dir)`` gives your own run's).
        cascade: a vj cascade or prepared cascade (default: vj's shipped frontal-face one). A
            custom cascade frames faces differently: measure its framing with
            ``facestack classify --measure-framing`` and pass it as ``framing``.
        framing: how a detector box becomes a chip-like crop.
        **detector: ``vj.detect_multi_scale`` settings (default :data:`DETECTOR_DEFAULTS`).
    Returns:
        One record per face, left to right as the detector orders them: ``box`` (x, y, w, h),
        ``gender`` ("male" / "female"), ``gender_prob``, ``age_bin`` ("0-30", "31-45",
        "46-60", "61-100" for the shipped model), ``age_probs`` (bin -> probability) and
        ``detection_score`` (the cascade's last-stage sum).
    """
    gray = as_gray(image)
    classifier = classifier if classifier is not None else default_classifier()
    if cascade is None:
        prepared = default_cascade()
    else:
        prepared = cascade if isinstance(cascade, vj.PreparedCascade) else vj.prepare_cascade(cascade)
    settings = {**DETECTOR_DEFAULTS, **detector}
    boxes, scores = vj.detect_multi_scale(gray, prepared, **settings)
    crops = framing.crop_boxes(boxes)
    gender_probs, age_probs = classifier.classify(face_batch(gray, crops, classifier.preprocess))
    faces = []
    for k in range(len(boxes)):
        g = int(np.argmax(gender_probs[k]))
        a = int(np.argmax(age_probs[k]))
        faces.append({
            "box": tuple(int(v) for v in boxes[k]),
            "gender": classifier.gender_names[g],
            "gender_prob": float(gender_probs[k, g]),
            "age_bin": classifier.age_names[a],
            "age_probs": {name: float(p) for name, p in zip(classifier.age_names, age_probs[k])},
            "detection_score": float(scores[k]),
        })
    return faces
