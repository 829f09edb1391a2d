"""Haar features as weighted rectangles: evaluation on integral images, and drawing.

A ``HaarFeature`` (``vj.cascade``) is what OpenCV's XML stores: up to three
rectangles ``x, y, w, h`` in base-window pixels, each with a weight, upright or
rotated by 45 degrees. Its value on a window is the weighted sum of the rectangles'
pixel sums, read from an integral image with four look-ups per rectangle
(``vj.integral.rect_sum`` / ``tilted_rect_sum``). The classic two-rectangle edge
feature, for instance, is ``[[x, y, w, 2h, -1], [x, y, w, h, 2]]``: the top half
minus the bottom half.

The detector (``vj.evaluate``) computes the same sums in float32 with precomputed
offsets; the functions here are the readable reference, in float64.
"""
from __future__ import annotations

import numpy as np

from .cascade import HaarFeature
from .integral import rect_sum, tilted_rect_sum


def scaled_rects(feature: HaarFeature, scale: float) -> np.ndarray:
    """The feature's rectangles with coordinates multiplied by ``scale`` and rounded.

    Returns:
        ``(R, 5)`` float64 ``x, y, w, h, weight`` (weights unchanged).
    """
    rects = feature.rects.copy()
    rects[:, :4] = np.rint(rects[:, :4] * scale)
    return rects


def feature_value(feature: HaarFeature, sums: np.ndarray, tilted: np.ndarray | None, x: int, y: int,
                  scale: float = 1.0) -> float:
    """Weighted rectangle sum of ``feature`` placed in the window with top-left ``(x, y)``.

    Args:
        feature: the feature (coordinates in base-window pixels).
        sums: ``(H + 1, W + 1)`` upright integral image (``vj.integral.integral_image``).
        tilted: ``(H + 1, W + 1)`` tilted integral, needed for tilted features (else None).
        x, y: window position in the image, pixels.
        scale: window scale; rectangles are scaled and rounded (``scaled_rects``) and the
            sum is divided by ``scale**2``, so a feature on an image enlarged ``k`` times
            at ``scale = k`` gives the value it has on the original at scale 1.

    Returns:
        The un-normalised feature value (OpenCV divides it by the window's standard
        deviation times the inner area before comparing with node thresholds).
    """
    if feature.tilted and tilted is None:
        raise ValueError("a tilted feature needs the tilted integral image")
    total = 0.0
    for rx, ry, rw, rh, weight in scaled_rects(feature, scale):
        ix, iy, iw, ih = int(rx) + x, int(ry) + y, int(rw), int(rh)
        if feature.tilted:
            total += weight * float(tilted_rect_sum(tilted, ix, iy, iw, ih))
        else:
            total += weight * float(rect_sum(sums, ix, iy, iw, ih))
    return total / (scale * scale)


def rect_corners(x: float, y: float, w: float, h: float, tilted: bool) -> np.ndarray:
    """``(4, 2)`` corner points ``(x, y)`` of a rectangle in pixel-edge coordinates.

    Upright: the box ``[x, x + w] x [y, y + h]``. Tilted: top corner ``(x, y)``, then
    ``(x + w, y + w)``, ``(x + w - h, y + w + h)``, ``(x - h, y + h)``.
    """
    if tilted:
        return np.array([[x, y], [x + w, y + w], [x + w - h, y + w + h], [x - h, y + h]], dtype=np.float64)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def draw_feature(feature: HaarFeature, window_size: tuple[int, int], ax=None, window_image: np.ndarray | None = None,
                 title: str | None = None):
    """Draw a feature over its detection window (a figure for the docs).

    Rectangles with positive weight are drawn white, negative ones black, with the
    weight written at their centre; later rectangles are drawn over earlier ones, as
    their weights add up.

    Args:
        feature: the feature.
        window_size: ``(width, height)`` of the base window.
        ax: matplotlib Axes to draw on (a new figure when None).
        window_image: optional ``(height, width)`` grey window shown underneath.
        title: optional Axes title.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    width, height = window_size
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3 * height / width))
    if window_image is not None:
        ax.imshow(window_image, cmap="gray", extent=(0, width, height, 0), interpolation="nearest")
    else:
        ax.add_patch(Polygon(rect_corners(0, 0, width, height, False), facecolor="0.6", edgecolor="none"))
    for x, y, w, h, weight in feature.rects:
        colour = "white" if weight > 0 else "black"
        corners = rect_corners(x, y, w, h, feature.tilted)
        ax.add_patch(Polygon(corners, closed=True, facecolor=colour, edgecolor="tab:red", alpha=0.75, linewidth=1))
        cx, cy = corners.mean(axis=0)
        ax.text(cx, cy, f"{weight:+g}", color="tab:red", ha="center", va="center", fontsize=8)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_aspect("equal")
    ax.set_xticks(range(0, width + 1, max(1, width // 4)))
    ax.set_yticks(range(0, height + 1, max(1, height // 4)))
    if title:
        ax.set_title(title)
    return ax
