"""The cascade files vj ships, as folder paths in the style of ``cv2.data.haarcascades``.

``haarcascades`` holds the 17 Haar cascades OpenCV 4 shipped (``haarcascade_*.xml``,
unmodified, each with its licence header) and vj's own ``frontalface_vj.xml``;
``lbpcascades`` holds OpenCV's LBP frontal-face cascade. Both strings end in a path
separator, so ``vj.data.haarcascades + "haarcascade_frontalface_default.xml"`` is a file
path, exactly as with OpenCV 4. The README.md in each folder gives source and licence.
"""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))

#: Folder of the Haar cascades (ends in a separator).
haarcascades: str = os.path.join(_HERE, "haarcascades", "")
#: Folder of the LBP cascades (ends in a separator).
lbpcascades: str = os.path.join(_HERE, "lbpcascades", "")

__all__ = ["haarcascades", "lbpcascades"]
