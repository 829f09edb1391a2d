"""vj: Viola-Jones face detection in Python (Numba), compatible with OpenCV's Haar and LBP cascades.

A drop-in for the ``cv2.CascadeClassifier`` that OpenCV 5 removed (same API, same boxes)::

    faces = vj.CascadeClassifier(vj.data.haarcascades + "haarcascade_frontalface_default.xml") \\
        .detectMultiScale(bgr_frame, 1.1, 3)          # (N, 4) int32, or () when nothing is found

vj's own functions::

    cascade = vj.load_cascade("haarcascade_frontalface_default.xml")  # or vj.load_cascade(): vj's own
    boxes, scores = vj.detect_multi_scale(image, cascade, scale_factor=1.1, min_neighbors=3)
    vj.save_cascade(cascade, "copy.xml")

``boxes`` is an ``(N, 4)`` int64 array of ``x, y, w, h`` (OpenCV's order) and ``scores``
the last-stage sums (as OpenCV's ``detectMultiScale3``). ``image`` colour is read as RGB
here (BGR in the class, as OpenCV). The packed form of a cascade is kept with the
cascade object, so passing the same cascade for every video frame packs it once.
"""
from . import data
from .cascade import Cascade, HaarFeature, Stage, WeakClassifier
from .classifier import (CASCADE_DO_CANNY_PRUNING, CASCADE_DO_ROUGH_SEARCH, CASCADE_FIND_BIGGEST_OBJECT,
                         CASCADE_SCALE_IMAGE, CascadeClassifier, EmptyClassifierError)
from .detect import PreparedCascade, detect_multi_scale, detect_raw, prepare_cascade
from .lbp import LbpCascade, LbpStage, LbpWeakClassifier, PreparedLbpCascade
from .opencv_xml import CascadeFormatError, UnsupportedCascadeError, load_cascade, save_cascade

__all__ = [
    "CASCADE_DO_CANNY_PRUNING",
    "CASCADE_DO_ROUGH_SEARCH",
    "CASCADE_FIND_BIGGEST_OBJECT",
    "CASCADE_SCALE_IMAGE",
    "Cascade",
    "CascadeClassifier",
    "CascadeFormatError",
    "EmptyClassifierError",
    "HaarFeature",
    "LbpCascade",
    "LbpStage",
    "LbpWeakClassifier",
    "PreparedCascade",
    "PreparedLbpCascade",
    "Stage",
    "UnsupportedCascadeError",
    "WeakClassifier",
    "data",
    "detect_multi_scale",
    "detect_raw",
    "load_cascade",
    "prepare_cascade",
    "save_cascade",
]
