"""Synthetic "faces" and face-free backgrounds made in the tests (no real data)."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

WINDOW = (12, 12)


def synthetic_faces(count: int, seed: int = 0, size: int = 12) -> np.ndarray:
    """``(count, size, size)`` uint8: a bright oval with two dark eyes and a dark mouth,
    jittered in brightness, contrast, position (+-1 px) and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    faces = np.empty((count, size, size), dtype=np.uint8)
    for i in range(count):
        dx, dy = rng.uniform(-1, 1, 2) / size
        base = rng.uniform(90, 160)
        contrast = rng.uniform(40, 80)
        img = np.full((size, size), base)
        oval = ((xx - 0.5 - dx) / 0.42) ** 2 + ((yy - 0.5 - dy) / 0.5) ** 2 < 1
        img[oval] += contrast * 0.4
        for ex in (0.3, 0.7):
            img[(np.abs(xx - ex - dx) < 0.12) & (np.abs(yy - 0.35 - dy) < 0.07)] -= contrast
        img[(np.abs(xx - 0.5 - dx) < 0.18) & (np.abs(yy - 0.75 - dy) < 0.06)] -= contrast * 0.8
        img += rng.normal(0, 6, img.shape)
        faces[i] = np.clip(img, 0, 255).astype(np.uint8)
    return faces


def synthetic_backgrounds(count: int, seed: int = 1, shape: tuple[int, int] = (60, 80)) -> list[np.ndarray]:
    """Face-free grey images: smoothed noise at random scales plus random bars and edges."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        img = gaussian_filter(rng.normal(0, 1, shape), rng.uniform(0.5, 3.0))
        img = (img - img.mean()) / (img.std() + 1e-9) * rng.uniform(20, 60) + rng.uniform(80, 170)
        for _ in range(rng.integers(2, 6)):
            y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
            img[y:y + rng.integers(2, 12), x:x + rng.integers(2, 20)] += rng.uniform(-80, 80)
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    return images
