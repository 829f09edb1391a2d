"""One image file -> one uint8 array of the network's input size and colour.

The paper's input is 128x128 grayscale; :class:`PreprocessSettings` allows any
size and either colour. For JPEG, Pillow's ``draft`` mode lets the decoder
produce grayscale directly from the luma channel and, for large photos,
decode at 1/2, 1/4 or 1/8 scale, never below the size the resize needs.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
COLORS = {"gray": ("L", 1), "rgb": ("RGB", 3)}
#: The most pixels an image may decode to (facestack.analysis.MAX_PIXELS); a JPEG is decoded at
#: down to 1/8 scale (1/64 of the pixels), so a JPEG may declare up to 64 times as many.
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class PreprocessSettings:
    """How images are turned into cached arrays. Every field is part of the cache key.

    Attributes:
        size: output ``(height, width)`` in pixels (an int means square).
        color: ``"gray"`` (1 channel, ITU-R 601 luma as in Pillow's "L") or ``"rgb"`` (3 channels).
        crop_to_box: crop to the dataset's face box (IMDB-WIKI face_location) where it has one.
        box_margin: enlarge the box by this fraction of its width/height on every side.
        stretch: min-max stretch each image to 0..255 (the authors' code did).
        resample: ``"bilinear"`` (the authors'), ``"bicubic"``, ``"lanczos"``, ``"box"`` or ``"nearest"``.
        draft: let the JPEG decoder produce the colour mode and a reduced scale directly.
    """

    size: tuple[int, int] = (128, 128)
    color: str = "gray"
    crop_to_box: bool = True
    box_margin: float = 0.0
    stretch: bool = False
    resample: str = "bilinear"
    draft: bool = True

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, int):
            size = (size, size)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be (height, width) of positive ints, got {self.size!r}")
        object.__setattr__(self, "size", size)
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {sorted(COLORS)}, got {self.color!r}")
        if self.resample not in RESAMPLE:
            raise ValueError(f"resample must be one of {sorted(RESAMPLE)}, got {self.resample!r}")
        if self.box_margin < 0:
            raise ValueError(f"box_margin must be >= 0, got {self.box_margin}")

    @property
    def channels(self) -> int:
        """1 for gray, 3 for rgb."""
        return COLORS[self.color][1]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one preprocessed image."""
        return (self.channels, *self.size)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (used in the cache key)."""
        d = asdict(self)
        d["size"] = list(self.size)
        return d


def _expanded_box(box: np.ndarray, margin: float, width: int, height: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = (float(v) for v in box)
    dx, dy = (right - left) * margin, (bottom - top) * margin
    return (max(0.0, left - dx), max(0.0, top - dy), min(float(width), right + dx), min(float(height), bottom + dy))


def load_face_image(path: str | os.PathLike, settings: PreprocessSettings, box: np.ndarray | None = None) -> np.ndarray:
    """Decode, crop, convert and resize one image.

    Args:
        path: image file (anything Pillow reads).
        settings: output size, colour, crop and resampling.
        box: optional ``(left, top, right, bottom)`` face box in the file's pixels
            (0-based, right/bottom exclusive); NaN or None = the whole image.
    Returns:
        uint8 array ``(C, H, W)`` = ``settings.shape``.
    Raises:
        OSError / ValueError (Pillow's) for unreadable, truncated or empty files; ValueError for
        an image over :data:`MAX_PIXELS` (checked from the header, before decoding).
    """
    mode, _ = COLORS[settings.color]
    out_h, out_w = settings.size
    use_box = settings.crop_to_box and box is not None and not np.isnan(np.asarray(box, dtype=float)).any()
    with warnings.catch_warnings():  # Pillow's bomb warning: the budget below is the check that counts
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(path)
    with opened as image:
        full_w, full_h = image.size
        draftable = settings.draft and image.format == "JPEG"
        if full_w * full_h > MAX_PIXELS * (64 if draftable else 1):
            raise ValueError(f"{full_w}x{full_h} = {full_w * full_h:,} pixels, over the budget of {MAX_PIXELS:,}")
        crop = _expanded_box(box, settings.box_margin, full_w, full_h) if use_box else None
        if crop is not None and (crop[2] - crop[0] < 1 or crop[3] - crop[1] < 1):
            crop = None  # the box lies outside the image: use the whole image
        if draftable:
            region_w = crop[2] - crop[0] if crop else full_w
            region_h = crop[3] - crop[1] if crop else full_h
            want = (int(np.ceil(out_w * full_w / region_w)), int(np.ceil(out_h * full_h / region_h)))
            image.draft(mode, want)
        scale_x, scale_y = image.size[0] / full_w, image.size[1] / full_h
        image = image.convert(mode)
        if crop is not None:
            left, top, right, bottom = crop
            image = image.crop(
                (round(left * scale_x), round(top * scale_y), round(right * scale_x), round(bottom * scale_y))
            )
        if image.size != (out_w, out_h):
            image = image.resize((out_w, out_h), RESAMPLE[settings.resample])
        array = np.asarray(image, dtype=np.uint8)
    if settings.stretch:
        array = stretch_to_full_range(array)
    return array.reshape(out_h, out_w, -1).transpose(2, 0, 1)


def stretch_to_full_range(image: np.ndarray) -> np.ndarray:
    """Min-max stretch a uint8 image to 0..255 (a constant image stays as it is)."""
    low, high = int(image.min()), int(image.max())
    if high <= low:
        return image
    scaled = (image.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
