"""How a detector box maps onto the framing of the faces the age/gender networks were trained on.

The networks learn from UTKFace's "aligned & cropped" 200 x 200 chips, resized whole to
128 x 128. A Viola-Jones box frames a face differently (it is smaller than a chip and sits
a little higher), so the detect-then-classify pipeline turns each detection into a crop framed
like a chip before resizing it. :class:`FaceFraming` says how, in units of the detector box:

    crop side   = scale * box side
    crop centre = box centre + (dx, dy) * box side

:func:`measure_framing` fits the three numbers on UTKFace itself: it runs the detector on
chips (each padded with 60 px of replicated border, as ``vj.positives.fit_chip_box``'s
fit did, so a box reaching past the chip can still be found), keeps the chips with exactly
one detection, and takes the median of each chip's ``scale``, ``dx`` and ``dy`` (the detector
runs with scale factor 1.1, 3 neighbours and boxes of at least half the chip's side).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import vj
from vj.positives import crop_padded, image_files, read_gray

#: Border added around each chip before detection (pixels; replicated edge).
MEASURE_PAD = 60
#: Detector settings of the measurement: a finer pyramid than real time, so box sizes are
#: not quantised to the 1.2 steps; boxes under half the chip's side are not looked for (the
#: face boxes are 120 px or more on a 200 px chip, and the small windows are most of the work).
MEASURE_SCALE_FACTOR = 1.1
MEASURE_MIN_NEIGHBORS = 3


@dataclass(frozen=True)
class FaceFraming:
    """Chip-like crop of a detector box (see the module doc).

    Attributes:
        scale: crop side / box side.
        dx, dy: crop centre minus box centre, in box sides (x right, y down).
        chips_used: chips with exactly one detection that the medians come from (0 = not measured).
        chips_tried: chips the detector was run on.
    """

    scale: float
    dx: float
    dy: float
    chips_used: int = 0
    chips_tried: int = 0

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Crops framed like a chip, for detector boxes.

        Args:
            boxes: ``(N, 4)`` ``x, y, w, h`` in image pixels.
        Returns:
            ``(N, 4)`` int64 ``x, y, w, h`` (rounded; may reach outside the image).
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        w, h = boxes[:, 2], boxes[:, 3]
        centre_x = boxes[:, 0] + w / 2 + self.dx * w
        centre_y = boxes[:, 1] + h / 2 + self.dy * h
        side_w, side_h = np.maximum(np.rint(self.scale * w), 1), np.maximum(np.rint(self.scale * h), 1)
        return np.stack([np.rint(centre_x - side_w / 2), np.rint(centre_y - side_h / 2), side_w, side_h],
                        axis=1).astype(np.int64)

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready copy."""
        return asdict(self)


# Measured for vj's shipped cascade (vj.load_cascade(None)) by measure_framing on 500 UTKFace chips:
#     python experiments/detect_and_classify.py --measure-framing ../shared/data/utkface --chips 500
# tests/facestack/experiments/test_detect_and_classify.py refits them on 100 chips.
SHIPPED_CASCADE_FRAMING = FaceFraming(scale=1.1696, dx=0.0084, dy=0.0449, chips_used=493, chips_tried=500)


def chip_framing(box: np.ndarray, chip_size: tuple[int, int]) -> tuple[float, float, float]:
    """``(scale, dx, dy)`` of one detection ``x, y, w, h`` on a chip of ``(width, height)`` pixels."""
    x, y, w, h = (float(v) for v in box)
    width, height = chip_size
    return width / w, (width / 2 - (x + w / 2)) / w, (height / 2 - (y + h / 2)) / h


def measure_framing(utkface_dir: str | os.PathLike, n: int = 500,
                    cascade: vj.Cascade | vj.PreparedCascade | None = None) -> FaceFraming:
    """Median framing of UTKFace chips relative to the detector's box on them.

    Args:
        utkface_dir: the UTKFace folder (or the folder holding ``UTKFace/``).
        n: chips to run the detector on, spread evenly over the sorted file names.
        cascade: the detector (default: vj's shipped cascade).
    Returns:
        The medians, with the counts of chips used and tried.
    Raises:
        FileNotFoundError: no such folder. ValueError: no chip gave exactly one detection.
    """
    folder = Path(utkface_dir)
    if (folder / "UTKFace").is_dir():
        folder = folder / "UTKFace"
    files = image_files(folder)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    chosen = files[:: max(1, len(files) // n)][:n]
    prepared = vj.prepare_cascade(cascade if cascade is not None else vj.load_cascade(None))
    rows = []
    for path in chosen:
        chip = read_gray(path)
        height, width = chip.shape
        padded = crop_padded(chip, np.array([-MEASURE_PAD, -MEASURE_PAD, width + 2 * MEASURE_PAD,
                                             height + 2 * MEASURE_PAD]))
        found, _ = vj.detect_multi_scale(padded, prepared, MEASURE_SCALE_FACTOR, MEASURE_MIN_NEIGHBORS,
                                         min_size=min(width, height) // 2)
        if len(found) == 1:
            box = found[0] - np.array([MEASURE_PAD, MEASURE_PAD, 0, 0])
            rows.append(chip_framing(box, (width, height)))
    if not rows:
        raise ValueError(f"the detector found exactly one face in none of the {len(chosen)} chips of {folder}")
    scale, dx, dy = np.median(np.asarray(rows), axis=0)
    return FaceFraming(round(float(scale), 4), round(float(dx), 4), round(float(dy), 4), len(rows), len(chosen))
