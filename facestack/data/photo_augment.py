"""Augmentation for what real photos vary and UTKFace chips do not: framing, tilt, focus, compression, light.

A face found by the detector in a photo is framed by the detector's box (its size and
position jitter by several per cent from frame to frame and face to face), is seldom
exactly upright, is often soft (small faces upscaled to 128 x 128), JPEG-compressed, and
lit unevenly. UTKFace's aligned chips are none of these. :class:`PhotoAugment` draws,
per training image:

* one affine warp about the image centre: a zoom factor in ``[1 - zoom, 1 + zoom]``
  (the detector's box size jitter), a shift of up to ``shift`` of the side on each axis
  (its position jitter) and an in-plane rotation in ``[-rotate, rotate]`` degrees;
  parts outside the chip repeat its edge pixels, as the pipeline's crops do;
* with probability ``p_blur``, a Gaussian blur of sigma in ``[0.3, blur]`` pixels;
* with probability ``p_jpeg``, a JPEG round trip at a quality in ``[jpeg_quality, 95]``;
* a contrast factor in ``[1 - contrast, 1 + contrast]`` about the image mean and a
  gamma in ``[1 / (1 + gamma), 1 + gamma]``.

All work on uint8 ``(B, 1, H, W)`` batches, one image at a time (scipy's affine
transform and Pillow's JPEG codec have no batch form); about 1.5 ms an image, done in
the loader's prefetch thread while the network trains.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhotoAugment:
    """Ranges of the per-image photo augmentations (see the module doc); 0 switches one off."""

    zoom: float = 0.12
    shift: float = 0.06
    rotate: float = 12.0
    blur: float = 1.5
    p_blur: float = 0.3
    jpeg_quality: int = 30
    p_jpeg: float = 0.3
    contrast: float = 0.3
    gamma: float = 0.3

    def __post_init__(self) -> None:
        for name in ("zoom", "shift", "contrast"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("p_blur", "p_jpeg"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.rotate <= 45:
            raise ValueError(f"rotate must be in [0, 45] degrees, got {self.rotate}")
        if not (0 <= self.blur <= 10 and 0 <= self.gamma <= 2):
            raise ValueError(f"blur must be in [0, 10] px and gamma in [0, 2], got {self.blur}, {self.gamma}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"jpeg_quality must be in [1, 95], got {self.jpeg_quality}")


def warp_about_centre(image: np.ndarray, zoom: float, shift_xy: tuple[float, float], degrees: float) -> np.ndarray:
    """One face image seen through a box ``zoom`` times as large, shifted and turned by ``degrees``.

    Args:
        image: uint8 (H, W).
        zoom: > 1 shows more of the surroundings (the face looks smaller), as a larger box.
        shift_xy: the box centre's shift in pixels (x, y).
        degrees: counter-clockwise turn of the content.
    Returns:
        uint8 (H, W), bilinear, the edge pixels repeated outside the image.
    """
    from scipy import ndimage

    h, w = image.shape
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    # output pixel (r, c) reads input centre + zoom * R(angle) @ ((r, c) - centre) + shift
    matrix = zoom * np.array([[cos, -sin], [sin, cos]])
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    offset = centre + np.array([shift_xy[1], shift_xy[0]]) - matrix @ centre
    out = ndimage.affine_transform(image.astype(np.float32), matrix, offset=offset, order=1, mode="nearest")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (uint8 (H, W)) encoded as a JPEG of ``quality`` and decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"), dtype=np.uint8)


def light_change(image: np.ndarray, contrast: float, gamma: float) -> np.ndarray:
    """Contrast about the mean, then a gamma curve, on uint8 (H, W); returns uint8."""
    x = image.astype(np.float32) / 255.0
    x = (x - x.mean()) * contrast + x.mean()
    x = np.clip(x, 0.0, 1.0) ** gamma
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def photo_augment(batch: np.ndarray, augment: PhotoAugment, rng: np.random.Generator) -> np.ndarray:
    """Apply :class:`PhotoAugment` to every image of a uint8 ``(B, 1, H, W)`` batch; returns a new array."""
    from scipy import ndimage

    if batch.ndim != 4 or batch.shape[1] != 1:
        raise ValueError(f"photo augmentation needs grey (B, 1, H, W) images, got shape {batch.shape}")
    out = np.empty_like(batch)
    n, _, h, w = batch.shape
    zooms = 1.0 + rng.uniform(-augment.zoom, augment.zoom, n)
    shifts = rng.uniform(-augment.shift, augment.shift, (n, 2)) * np.array([w, h])
    turns = rng.uniform(-augment.rotate, augment.rotate, n)
    blurs = np.where(rng.random(n) < augment.p_blur, rng.uniform(0.3, max(augment.blur, 0.3), n), 0.0)
    qualities = np.where(rng.random(n) < augment.p_jpeg, rng.integers(augment.jpeg_quality, 96, n), 0)
    contrasts = 1.0 + rng.uniform(-augment.contrast, augment.contrast, n)
    gammas = np.exp(rng.uniform(-np.log1p(augment.gamma), np.log1p(augment.gamma), n))
    for i in range(n):
        image = batch[i, 0]
        if augment.zoom or augment.shift or augment.rotate:
            image = warp_about_centre(image, zooms[i], (shifts[i, 0], shifts[i, 1]), turns[i])
        if augment.blur and blurs[i] > 0:
            image = np.clip(np.rint(ndimage.gaussian_filter(image.astype(np.float32), blurs[i])), 0, 255)
            image = image.astype(np.uint8)
        if qualities[i]:
            image = jpeg_round_trip(image, int(qualities[i]))
        if augment.contrast or augment.gamma:
            image = light_change(image, contrasts[i], gammas[i])
        out[i, 0] = image
    return out
