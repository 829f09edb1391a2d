"""``vj.CascadeClassifier``: a drop-in for the ``cv2.CascadeClassifier`` that OpenCV 5 removed.

Same Python API as OpenCV 4's class, same results: for OpenCV's own cascade files
(``vj.data.haarcascades``, ``vj.data.lbpcascades``) the boxes are identical, as are
their types (an ``(N, 4)`` int32 array, or the empty tuple ``()`` when nothing is
found), ``numDetections``, ``rejectLevels`` and ``levelWeights``. Client code written
for OpenCV 4 needs only its import changed::

    import vj
    face_cascade = vj.CascadeClassifier(vj.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = face_cascade.detectMultiScale(gray, 1.3, 5)

Inputs are taken as OpenCV takes them: ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 3)``
BGR or ``(H, W, 4)`` BGRA uint8 arrays (colour converted exactly as
``cv2.cvtColor(COLOR_BGR2GRAY)``); anything else raises ``TypeError`` or
``ValueError`` naming what was expected. Where OpenCV 4 silently accepts a doubtful
input vj refuses it too: an empty image or ``None`` (OpenCV returns ``()``), a negative
``minNeighbors`` (OpenCV treats it as 0). The ``flags`` are accepted and, as in
OpenCV 4 for every current-format cascade, do not change the result.
"""
from __future__ import annotations

import numbers
import os
from typing import Any, Sequence, Union

import numpy as np

from .cascade import Cascade
from .detect import GROUP_EPS, cached_prepared, detect_raw
from .grouping import clip_to_image, group_rectangles_with_counts
from .image import bgr_to_gray
from .lbp import LbpCascade
from .opencv_xml import CascadeFormatError, load_cascade

CASCADE_DO_CANNY_PRUNING = 1
CASCADE_SCALE_IMAGE = 2
CASCADE_FIND_BIGGEST_OBJECT = 4
CASCADE_DO_ROUGH_SEARCH = 8

HAAR = 0  # getFeatureType() values, OpenCV's FeatureEvaluator::HAAR / LBP
LBP = 1

Objects = Union[np.ndarray, tuple]  # (N, 4) int32, or () when nothing is found


class EmptyClassifierError(RuntimeError):
    """``detectMultiScale`` called on a classifier without a cascade (OpenCV: ``!empty()`` assertion)."""


class CascadeClassifier:
    """OpenCV 4's ``cv2.CascadeClassifier`` on vj's detector (Haar and LBP cascades).

    Args:
        filename: a cascade XML file to load now (``load``); None leaves it empty.
    """

    CASCADE_DO_CANNY_PRUNING = CASCADE_DO_CANNY_PRUNING
    CASCADE_SCALE_IMAGE = CASCADE_SCALE_IMAGE
    CASCADE_FIND_BIGGEST_OBJECT = CASCADE_FIND_BIGGEST_OBJECT
    CASCADE_DO_ROUGH_SEARCH = CASCADE_DO_ROUGH_SEARCH

    def __init__(self, filename: str | os.PathLike | None = None) -> None:
        self._cascade: Cascade | LbpCascade | None = None
        self.load_error: str | None = None  # why the last load failed (OpenCV logs it instead)
        if filename is not None:
            self.load(filename)

    # ------------------------------------------------------------------ loading

    def load(self, filename: str | os.PathLike) -> bool:
        """Load a cascade XML file (Haar or LBP, current or old layout), replacing any loaded one.

        Returns:
            True on success; False (the classifier is then empty, as OpenCV leaves it)
            when the file is missing, malformed or of an unsupported kind, the reason
            being kept in ``load_error``.
        """
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a str or path, got {type(filename).__name__}")
        self._cascade = None
        self.load_error = None
        try:
            cascade = load_cascade(filename)
        except (FileNotFoundError, IsADirectoryError, PermissionError, CascadeFormatError) as exc:
            self.load_error = str(exc)
            return False
        self.set_cascade(cascade)
        return True

    def set_cascade(self, cascade: Cascade | LbpCascade) -> None:
        """Use an in-memory vj cascade (one just trained, say) instead of loading a file."""
        if not isinstance(cascade, (Cascade, LbpCascade)):
            raise TypeError(f"expected a vj Cascade or LbpCascade, got {type(cascade).__name__}")
        cached_prepared(cascade)  # validates and packs now rather than at the first frame
        self._cascade = cascade

    @property
    def cascade(self) -> Cascade | LbpCascade | None:
        """The loaded vj cascade (None when empty)."""
        return self._cascade

    def empty(self) -> bool:
        """Whether no cascade is loaded."""
        return self._cascade is None

    def getOriginalWindowSize(self) -> tuple[int, int]:
        """``(width, height)`` of the cascade's base window; ``(0, 0)`` when empty."""
        return (0, 0) if self._cascade is None else tuple(self._cascade.window_size)

    def getFeatureType(self) -> int:
        """0 for a Haar cascade, 1 for LBP (OpenCV's codes); 0 when empty, as OpenCV."""
        return LBP if isinstance(self._cascade, LbpCascade) else HAAR

    def isOldFormatCascade(self) -> bool:
        """Always False: OpenCV 4 converts old-layout files on loading, and so does vj."""
        return False

    # ------------------------------------------------------------------ detection

    def detectMultiScale(self, image: np.ndarray, scaleFactor: float = 1.1, minNeighbors: int = 3, flags: int = 0,
                         minSize: Sequence[int] = (0, 0), maxSize: Sequence[int] = (0, 0)) -> Objects:
        """Detect objects at all scales, as OpenCV 4.

        Args:
            image: ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8.
            scaleFactor: ratio between pyramid levels, > 1.
            minNeighbors: a group of raw windows needs more than this many members
                (0 keeps every raw window).
            flags: ``CASCADE_*`` flags; accepted and without effect, as in OpenCV 4.
            minSize, maxSize: ``(width, height)`` limits of the object size;
                ``(0, 0)`` means none (max: the image).

        Returns:
            ``(N, 4)`` int32 ``x, y, w, h``, or ``()`` when nothing is found.
        """
        boxes, _, _, _ = self._detect(image, scaleFactor, minNeighbors, flags, minSize, maxSize)
        return _objects(boxes)

    def detectMultiScale2(self, image: np.ndarray, scaleFactor: float = 1.1, minNeighbors: int = 3, flags: int = 0,
                          minSize: Sequence[int] = (0, 0),
                          maxSize: Sequence[int] = (0, 0)) -> tuple[Objects, np.ndarray | tuple]:
        """``detectMultiScale`` plus ``numDetections``: the ``(N,)`` int32 size of each box's group.

        Returns:
            ``(objects, numDetections)``; ``((), ())`` when nothing is found. With
            ``minNeighbors == 0`` every count is 1.
        """
        boxes, _, counts, _ = self._detect(image, scaleFactor, minNeighbors, flags, minSize, maxSize)
        if boxes.shape[0] == 0:
            return (), ()
        return _objects(boxes), counts.astype(np.int32)

    def detectMultiScale3(self, image: np.ndarray, scaleFactor: float = 1.1, minNeighbors: int = 3, flags: int = 0,
                          minSize: Sequence[int] = (0, 0), maxSize: Sequence[int] = (0, 0),
                          outputRejectLevels: bool = False) -> tuple[Objects, np.ndarray | tuple, np.ndarray | tuple]:
        """``detectMultiScale`` plus each box's reject level and level weight.

        With ``outputRejectLevels=True``: ``rejectLevels`` ``(N,)`` int32 is the number of
        stages the box passed (all of them: only windows passing every stage are
        detections) and ``levelWeights`` ``(N,)`` float64 the highest last-stage sum of
        its group (of the window itself with ``minNeighbors == 0``): a confidence.
        Without it both are ``()`` (OpenCV 4 raises an assertion error there whenever
        something is found; vj returns the objects).

        Returns:
            ``(objects, rejectLevels, levelWeights)``; ``((), (), ())`` when nothing is found.
        """
        boxes, scores, _, n_stages = self._detect(image, scaleFactor, minNeighbors, flags, minSize, maxSize)
        if boxes.shape[0] == 0:
            return (), (), ()
        if not outputRejectLevels:
            return _objects(boxes), (), ()
        return _objects(boxes), np.full(boxes.shape[0], n_stages, dtype=np.int32), scores.astype(np.float64)

    def _detect(self, image: Any, scale_factor: Any, min_neighbors: Any, flags: Any, min_size: Any,
                max_size: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Check the arguments as OpenCV would, detect, group and clip.

        Returns:
            ``(boxes (N, 4) int64, scores (N,) float64, counts (N,) int64, number of stages)``.
        """
        if self._cascade is None:
            reason = f" (the last load failed: {self.load_error})" if self.load_error else ""
            raise EmptyClassifierError(f"the classifier is empty: load a cascade first{reason}")
        gray = opencv_gray(image)
        scale_factor = _real(scale_factor, "scaleFactor")
        if not scale_factor > 1.0 or not np.isfinite(scale_factor):
            raise ValueError(f"scaleFactor must be a finite number > 1, got {scale_factor}")
        min_neighbors = _integer(min_neighbors, "minNeighbors")
        if min_neighbors < 0:
            raise ValueError(f"minNeighbors must be >= 0, got {min_neighbors}")
        _integer(flags, "flags")
        min_wh, max_wh = _size(min_size, "minSize"), _size(max_size, "maxSize")
        prepared = cached_prepared(self._cascade)
        raw_boxes, raw_scores = detect_raw(gray, prepared, scale_factor, min_wh, max_wh)
        boxes, scores, counts = group_rectangles_with_counts(raw_boxes, raw_scores, min_neighbors, GROUP_EPS)
        clipped, keep = clip_to_image(boxes, gray.shape[1], gray.shape[0])
        return clipped, scores[keep], counts[keep], len(self._cascade.stages)


def opencv_gray(image: Any) -> np.ndarray:
    """The ``(H, W)`` uint8 grey image OpenCV 4's detector would work on, or a clear error.

    Args:
        image: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8
            numpy array (any strides: a region-of-interest slice is fine).

    Raises:
        TypeError: not a numpy array, or not uint8 (float images included, which
            OpenCV refuses too).
        ValueError: an empty image, or a shape other than those above.
    """
    if not isinstance(image, np.ndarray):
        hint = " (an empty frame? check what cv2.imread or VideoCapture.read returned)" if image is None else ""
        raise TypeError(f"image must be a numpy uint8 array, got {type(image).__name__}{hint}")
    if image.dtype != np.uint8:
        hint = ""
        if image.dtype.kind == "f":
            hint = ("; for a float image in 0..1 use (image * 255).round().astype(np.uint8), for one in 0..255 "
                    "image.round().astype(np.uint8)")
        raise TypeError(f"image must be uint8 (8-bit grey, BGR or BGRA), got {image.dtype}{hint}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must have shape (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA, "
                         f"got {image.shape}")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if image.ndim == 3:
        return bgr_to_gray(image)
    return np.ascontiguousarray(image)


def _objects(boxes: np.ndarray) -> Objects:
    """OpenCV's Python return value for a list of rectangles: ``(N, 4)`` int32, or ``()``."""
    return boxes.astype(np.int32).reshape(-1, 4) if boxes.shape[0] else ()


def _real(value: Any, name: str) -> float:
    """A real number argument (bool and non-numbers refused, as OpenCV's binding)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _integer(value: Any, name: str) -> int:
    """An integer argument (floats refused, as OpenCV's binding)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _size(value: Any, name: str) -> tuple[int, int]:
    """A ``(width, height)`` pair of non-negative integers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a (width, height) pair of integers, got {value!r}")
    width, height = (_integer(v, name) for v in value)
    if width < 0 or height < 0:
        raise ValueError(f"{name} must not be negative, got {(width, height)}")
    return width, height
