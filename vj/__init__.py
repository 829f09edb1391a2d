"""vj: Viola-Jones face detection in Python (Numba), compatible with OpenCV's Haar cascades.

Top-level entry points::

    cascade = vj.load_cascade("haarcascade_frontalface_default.xml")  # or vj.load_cascade(): vj's own
    boxes, scores = vj.detect_multi_scale(image, cascade, scale_factor=1.1, min_neighbors=3)
    vj.save_cascade(cascade, "copy.xml")

``boxes`` is an ``(N, 4)`` int64 array of ``x, y, w, h`` (OpenCV's order) and ``scores``
the last-stage sums (as OpenCV's ``detectMultiScale3``). For many images (video), pass
``vj.prepare_cascade(cascade)`` instead of the cascade to skip re-packing it per frame.
"""
from .cascade import Cascade, HaarFeature, Stage, WeakClassifier
from .detect import PreparedCascade, detect_multi_scale, detect_raw, prepare_cascade
from .opencv_xml import CascadeFormatError, UnsupportedCascadeError, load_cascade, save_cascade

__all__ = [
    "Cascade",
    "CascadeFormatError",
    "HaarFeature",
    "PreparedCascade",
    "Stage",
    "UnsupportedCascadeError",
    "WeakClassifier",
    "detect_multi_scale",
    "detect_raw",
    "load_cascade",
    "prepare_cascade",
    "save_cascade",
]
