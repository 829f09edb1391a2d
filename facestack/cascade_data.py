"""UTKFace chips as positives for vj's cascade trainer: the box that frames them like OpenCV's faces.

A trained cascade finds faces framed the way its positives were, so the positives are
framed like the boxes of OpenCV's ``haarcascade_frontalface_default.xml`` (the cascade vj
is compared with). vj's trainer takes any chip box as fractions of a chip
(``vj.positives.read_crop_folder(..., box=...)``); the UTKFace "aligned & cropped" chips
(200 x 200) get theirs here, fitted with ``vj.positives.fit_chip_box`` on detections of
that cascade (run by vj, scale 1.1, min_neighbors 3): the median box over 191 of 200 chips
(every 100th file, each padded by 60 px of replicated border so the whole face box fits)
is ``x = -4, y = -21, w = h = 206`` (``UTKFACE_OPENCV_BOX``; it reaches above the chip).
``UTKFACE_CHIP_BOX``, the box training uses, stays inside the chip. The WebFaces
positives are in :mod:`facestack.webfaces`.
"""
from __future__ import annotations

#: OpenCV's face box on a UTKFace chip as fitted by ``fit_chip_box``, fractions
#: ``(x, y, w, h)`` of the chip's width and height: it reaches 21 px above the chip.
UTKFACE_OPENCV_BOX = (-4 / 200, -21 / 200, 206 / 200, 206 / 200)
#: The box used for training: the largest square inside the chip with the fitted box's
#: horizontal centre and top edge at the chip's top (90 % of OpenCV's side, its centre
#: 5 % of the side lower). Padding the chip instead gives every positive constant top
#: rows, an artefact boosting picks at once (features on the top two rows with
#: threshold ~0 rejected 75 % of hard negatives with one stump).
UTKFACE_CHIP_BOX = (6 / 200, 0.0, 186 / 200, 186 / 200)


def landmark_framing_like_chip_box(opencv_framing: "LandmarkFraming") -> "LandmarkFraming":
    """``opencv_framing`` moved and shrunk as ``UTKFACE_CHIP_BOX`` is against ``UTKFACE_OPENCV_BOX``.

    ``opencv_framing`` boxes a face from its eyes as OpenCV's frontal-face cascade does
    (``facestack.webfaces.WEBFACES_FRAMING``); the UTKFace positives are cut tighter and lower
    (90 % of that side, its centre 5 % of the side lower). This gives real-photo faces the
    UTKFace positives' framing, so that a cascade trained on both sees one framing, not two.
    """
    from vj.positives import LandmarkFraming

    ox, oy, ow, oh = UTKFACE_OPENCV_BOX
    cx, cy, cw, ch = UTKFACE_CHIP_BOX
    scale = cw / ow  # the chips are square and so are both boxes: one ratio
    right = ((cx + cw / 2) - (ox + ow / 2)) / ow  # centre shift, in OpenCV box sides
    down = ((cy + ch / 2) - (oy + oh / 2)) / oh
    side = opencv_framing.width_per_eye_distance
    return LandmarkFraming(width_per_eye_distance=side * scale,
                           centre_along=opencv_framing.centre_along + right * side,
                           centre_across=opencv_framing.centre_across + down * side)


#: The names ``--webfaces-framing`` takes, the default first.
WEBFACES_FRAMING_CHOICES = ("opencv", "chip")


def webfaces_positive_framing(name: str) -> "LandmarkFraming":
    """The framing real-photo positives are cut with for ``--webfaces-framing name``.

    ``"opencv"``: ``facestack.webfaces.WEBFACES_FRAMING``, OpenCV's box; ``"chip"``: the same
    moved and shrunk as the UTKFace positives are (``landmark_framing_like_chip_box``).
    """
    from .webfaces import WEBFACES_FRAMING

    if name not in WEBFACES_FRAMING_CHOICES:
        raise ValueError(f"unknown WebFaces framing {name!r}; choose from {', '.join(WEBFACES_FRAMING_CHOICES)}")
    return WEBFACES_FRAMING if name == "opencv" else landmark_framing_like_chip_box(WEBFACES_FRAMING)
