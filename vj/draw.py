"""Drawing detections on images (for the command line and figures)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB copy of a grey/RGB/RGBA uint8, uint16 or 0..1 float image."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        arr = arr[:, :, :3]
    if arr.dtype == np.uint16:
        arr = np.rint(arr.astype(np.float64) * (255.0 / 65535.0))
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.rint(np.nan_to_num(arr.astype(np.float64)) * 255.0)
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None = None,
               colour: tuple[int, int, int] = (0, 255, 0), width: int | None = None) -> np.ndarray:
    """Return an RGB uint8 copy of ``image`` with ``x, y, w, h`` boxes (and scores) drawn.

    Args:
        image: any image accepted by ``to_rgb_uint8``.
        boxes: ``(N, 4)`` ``x, y, w, h`` in pixels.
        scores: optional ``(N,)`` scores written above each box.
        colour: RGB line colour.
        width: line width in pixels (default: about 1/250 of the image size, at least 2).
    """
    rgb = to_rgb_uint8(image)
    canvas = Image.fromarray(rgb)
    pen = ImageDraw.Draw(canvas)
    line = width if width is not None else max(2, round(max(rgb.shape[:2]) / 250))
    for i, (x, y, w, h) in enumerate(np.asarray(boxes, dtype=np.int64).reshape(-1, 4)):
        pen.rectangle([int(x), int(y), int(x + w - 1), int(y + h - 1)], outline=colour, width=line)
        if scores is not None:
            pen.text((int(x) + line, max(0, int(y) - 12)), f"{float(scores[i]):.2f}", fill=colour)
    return np.asarray(canvas)
