"""Batch augmentation, vectorised over the batch (no per-image Python loop).

* random crop with padding: pad every image by ``p`` pixels, then cut an
  ``H x W`` window at a random offset in ``0..2p`` per image. The windows are
  read through one strided view of the padded batch (``sliding_window_view``)
  indexed by the per-image offsets;
* horizontal flip with probability 1/2 per image;
* brightness jitter: add one uniform value in ``[-b, b]`` per image on the
  [0, 1] scale, then clip to [0, 1].

Crop and flip work on uint8 (fewer bytes to move); brightness on float32. For what real
photos vary beyond that (framing, tilt, blur, JPEG, light), ``Augment.photo`` adds the
per-image :class:`~facestack.data.photo_augment.PhotoAugment`, applied first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .photo_augment import PhotoAugment, photo_augment


@dataclass(frozen=True)
class Augment:
    """Which augmentations to apply.

    Attributes:
        crop_padding: pixels of padding for the random crop (0 = no crop).
        pad_mode: ``"constant"`` (zeros), ``"edge"`` or ``"reflect"`` (as ``numpy.pad``).
        flip: flip horizontally with probability 1/2.
        brightness: half-width of the additive brightness jitter on the [0, 1] scale (0 = none).
        photo: the photo augmentations (zoom, shift, rotation, blur, JPEG, contrast, gamma), or None.
    """

    crop_padding: int = 8
    pad_mode: str = "constant"
    flip: bool = True
    brightness: float = 0.1
    photo: PhotoAugment | None = None

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if self.pad_mode not in ("constant", "edge", "reflect"):
            raise ValueError(f"pad_mode must be 'constant', 'edge' or 'reflect', got {self.pad_mode!r}")
        if not 0 <= self.brightness <= 1:
            raise ValueError(f"brightness must be in [0, 1], got {self.brightness}")


def random_crop(batch: np.ndarray, padding: int, rng: np.random.Generator, pad_mode: str = "constant") -> np.ndarray:
    """Pad by ``padding`` and cut a window of the original size at a random offset per image.

    Args:
        batch: (B, C, H, W) any dtype.
        padding: p >= 0; offsets are drawn uniformly from 0..2p on each axis.
    Returns:
        (B, C, H, W) new array; image i is shifted by (p - dy_i, p - dx_i).
    """
    if padding == 0:
        return batch.copy()
    n, _, h, w = batch.shape
    widths = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    padded = np.pad(batch, widths, mode=pad_mode)
    dy = rng.integers(0, 2 * padding + 1, size=n)
    dx = rng.integers(0, 2 * padding + 1, size=n)
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (B, C, 2p+1, 2p+1, H, W), no copy
    return windows[np.arange(n), :, dy, dx]


def random_flip(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip a random half (in expectation) of the images left-right, in place; returns ``batch``."""
    chosen = rng.random(len(batch)) < 0.5
    batch[chosen] = batch[chosen, ..., ::-1]
    return batch


def random_brightness(x: np.ndarray, amount: float, rng: np.random.Generator, upper: float = 1.0) -> np.ndarray:
    """Add U(-amount, amount) per image to float images on [0, upper] and clip to it, in place."""
    delta = rng.uniform(-amount, amount, size=len(x)).astype(x.dtype)
    x += delta.reshape(-1, *([1] * (x.ndim - 1)))
    np.clip(x, 0.0, upper, out=x)
    return x


def augment_uint8(batch: np.ndarray, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """The uint8 part (photo augmentations, crop, flip) on a (B, C, H, W) batch; returns a new array."""
    if augment.photo is not None:
        batch = photo_augment(batch, augment.photo, rng)
    out = random_crop(batch, augment.crop_padding, rng, augment.pad_mode)
    if augment.flip:
        random_flip(out, rng)
    return out
