"""Input images for the detector: grey-level conversion and OpenCV's bit-exact bilinear resize.

``to_gray_uint8`` turns any common image array into the 8-bit grey image the cascade
works on (colour read as RGB); ``bgr_to_gray`` is OpenCV's ``cvtColor(COLOR_BGR2GRAY)``
for the BGR(A) frames ``cv2.imread`` and ``cv2.VideoCapture`` give, bit for bit.
``resize_bilinear`` shrinks it exactly as OpenCV 4's
``cv2.resize(..., interpolation=cv2.INTER_LINEAR_EXACT)`` does (the interpolation the
OpenCV cascade detector uses for its image pyramid), so that vj and OpenCV see the
very same pixels at every scale:

- source coordinate of destination pixel ``d``: ``f = (d + 0.5) * (src / dst) - 0.5``
  in double precision, ``i = floor(f)``;
- weights ``(256 - c, c)`` with ``c = round_half_even((f - i) * 256)`` (8 fractional bits);
- a horizontal pass gives 16-bit values with 8 fractional bits, a vertical pass
  multiplies those by the row weights (16 fractional bits) and rounds half up;
- destination pixels left of the first source centre copy the first source pixel,
  those right of the last centre copy the last one.
"""
from __future__ import annotations

import numba
import numpy as np

# ITU-R BT.601 luma weights in the 15-bit fixed point of OpenCV 4's cvtColor RGB2GRAY on uint8.
_LUMA_SHIFT = 15
_LUMA_R, _LUMA_G, _LUMA_B = 9798, 19235, 3735
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Largest value accepted in a float (0..1) image: slight overshoot (filtering) is clipped,
# anything larger means the image is not in 0..1 (most often 0..255).
FLOAT_IMAGE_MAX = 1.5


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an image to a C-contiguous ``(H, W)`` uint8 grey image.

    Args:
        image: ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA
            (alpha ignored). dtype uint8 (0..255), uint16 (0..65535, scaled by 255/65535
            and rounded), or float (0..1, scaled by 255, rounded and clipped); other
            integer types must already hold 0..255.

    Returns:
        ``(H, W)`` uint8. Colour uses the BT.601 luma weights 0.299 R + 0.587 G + 0.114 B
        with OpenCV's fixed-point rounding, so uint8 RGB gives the same grey image as
        ``cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)``.

    Raises:
        TypeError: for non-numeric dtypes (bool, complex, object, strings).
        ValueError: for a wrong number of dimensions or channels, NaN/inf values, or a
            float image with values above ``FLOAT_IMAGE_MAX`` (a float image holding
            0..255 would otherwise turn white and silently give no detections).
    """
    arr = np.asarray(image)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"image dtype must be an integer or float type, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        if arr.shape[2] not in (3, 4):
            raise ValueError(f"a colour image needs 3 (RGB) or 4 (RGBA) channels, got shape {arr.shape}")
        arr = arr[:, :, :3]
    elif arr.ndim != 2:
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.size == 0:
        return np.zeros(arr.shape[:2], dtype=np.uint8)
    arr8 = _to_uint8_levels(arr)
    if arr8.ndim == 2:
        return np.ascontiguousarray(arr8)
    r, g, b = (arr8[:, :, c].astype(np.int32) for c in range(3))
    gray = (r * _LUMA_R + g * _LUMA_G + b * _LUMA_B + (1 << (_LUMA_SHIFT - 1))) >> _LUMA_SHIFT
    return np.ascontiguousarray(gray.astype(np.uint8))


def _to_uint8_levels(arr: np.ndarray) -> np.ndarray:
    """Map pixel values of any supported dtype to uint8 grey levels (shape kept)."""
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            raise ValueError(f"image has {arr.size - int(finite.sum())} NaN or infinite values")
        high = float(arr.max())
        if high > FLOAT_IMAGE_MAX:
            raise ValueError(f"a float image must hold values in 0..1, got a maximum of {high:g}; for an image "
                             f"in 0..255 pass image.astype(np.uint8) (or divide it by 255)")
        return np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if arr.dtype == np.uint16:
        return np.rint(arr.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def bgr_to_gray(image: np.ndarray) -> np.ndarray:
    """OpenCV's ``cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)`` for uint8 BGR or BGRA, bit for bit.

    Args:
        image: ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8 (any strides).

    Returns:
        ``(H, W)`` uint8 ``(B * 3735 + G * 19235 + R * 9798 + 2**14) >> 15``: BT.601 luma
        in OpenCV 4's 15-bit fixed point, alpha ignored.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"bgr_to_gray needs an (H, W, 3) or (H, W, 4) uint8 image, got {image.shape} {image.dtype}")
    out = np.empty(image.shape[:2], dtype=np.uint8)
    _bgr_to_gray_kernel(image, out)
    return out


@numba.njit(cache=True, nogil=True)
def _bgr_to_gray_kernel(image, out):  # pragma: no cover - compiled
    half = 1 << (_LUMA_SHIFT - 1)
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            b, g, r = np.int32(image[y, x, 0]), np.int32(image[y, x, 1]), np.int32(image[y, x, 2])
            out[y, x] = (b * _LUMA_B + g * _LUMA_G + r * _LUMA_R + half) >> _LUMA_SHIFT


def linear_coefficients(src_size: int, dst_size: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Source offsets and 8-bit weights of OpenCV's bit-exact linear resize along one axis.

    Args:
        src_size: source length (pixels, >= 1).
        dst_size: destination length (pixels, >= 1).

    Returns:
        ``(offsets, weights, first, stop)``: ``offsets`` ``(dst_size,)`` int64, the left
        source index; ``weights`` ``(dst_size, 2)`` int64 summing to 256; destination
        pixels ``d < first`` copy source pixel 0 and ``d >= stop`` copy the last source
        pixel, ``first <= d < stop`` interpolate.
    """
    scale = 1.0 / (dst_size / src_size)  # the same two roundings as OpenCV
    d = np.arange(dst_size, dtype=np.float64)
    f = scale * (d + 0.5) - 0.5
    i = np.floor(f)
    left = (i < 0) | (src_size <= 1)
    right = ~left & (i >= src_size - 1)
    first = int(np.nonzero(left)[0].max()) + 1 if left.any() else 0
    stop = int(np.nonzero(right)[0].min()) if right.any() else dst_size
    inside = ~left & ~right
    offsets = np.where(right, src_size - 1, np.where(inside, i, 0)).astype(np.int64)
    c = np.where(inside, np.rint((f - i) * 256.0), 0).astype(np.int64)  # rint: half to even, as cvRound
    weights = np.stack([256 - c, c], axis=1)
    return offsets, weights, first, stop


def resize_bilinear_reference(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Readable NumPy version of ``resize_bilinear`` (same result, slower)."""
    src = np.asarray(gray, dtype=np.uint8)
    xo, xw, x0, x1 = linear_coefficients(src.shape[1], width)
    yo, yw, y0, y1 = linear_coefficients(src.shape[0], height)
    # Horizontal pass: 8 fractional bits.
    wide = src.astype(np.int64)
    rows = np.empty((src.shape[0], width), dtype=np.int64)
    rows[:, :x0] = wide[:, :1] << 8
    mid = slice(x0, x1)
    rows[:, mid] = wide[:, xo[mid]] * xw[mid, 0] + wide[:, np.minimum(xo[mid] + 1, src.shape[1] - 1)] * xw[mid, 1]
    rows[:, x1:] = wide[:, xo[width - 1] : xo[width - 1] + 1] << 8
    # Vertical pass: 16 fractional bits, rounded half up; border rows round the 8-bit values.
    out = np.empty((height, width), dtype=np.int64)
    out[:y0] = (rows[0] + 128) >> 8
    mid = slice(y0, y1)
    lower = np.minimum(yo[mid] + 1, src.shape[0] - 1)
    out[mid] = (rows[yo[mid]] * yw[mid, 0:1] + rows[lower] * yw[mid, 1:2] + (1 << 15)) >> 16
    out[y1:] = (rows[src.shape[0] - 1] + 128) >> 8
    return out.astype(np.uint8)


@numba.njit(cache=True, nogil=True)
def _resize_kernel(src, xo, xw, x0, x1, yo, yw, y0, y1, out):  # pragma: no cover - compiled
    src_h, src_w = src.shape
    height, width = out.shape
    row_a = np.empty(width, dtype=np.int32)
    row_b = np.empty(width, dtype=np.int32)
    loaded_a = -1
    loaded_b = -1
    for dy in range(height):
        if dy < y0:
            sy, weight_b = 0, -1
        elif dy >= y1:
            sy, weight_b = src_h - 1, -1
        else:
            sy, weight_b = yo[dy], yw[dy, 1]
        # Horizontal pass of the one or two source rows this destination row needs.
        if loaded_a != sy:
            if loaded_b == sy:
                row_a, row_b = row_b, row_a
                loaded_a, loaded_b = loaded_b, loaded_a
            else:
                _hline(src, sy, xo, xw, x0, x1, row_a)
                loaded_a = sy
        if weight_b < 0:
            for dx in range(width):
                out[dy, dx] = (row_a[dx] + 128) >> 8
            continue
        if loaded_b != sy + 1:
            _hline(src, sy + 1, xo, xw, x0, x1, row_b)
            loaded_b = sy + 1
        weight_a = yw[dy, 0]
        for dx in range(width):
            out[dy, dx] = (row_a[dx] * weight_a + row_b[dx] * weight_b + 32768) >> 16


@numba.njit(cache=True, nogil=True, inline="always")
def _hline(src, sy, xo, xw, x0, x1, row):  # pragma: no cover - compiled
    width = row.shape[0]
    first = np.int32(src[sy, 0]) << 8
    for dx in range(x0):
        row[dx] = first
    for dx in range(x0, x1):
        i = xo[dx]
        row[dx] = np.int32(src[sy, i]) * xw[dx, 0] + np.int32(src[sy, i + 1]) * xw[dx, 1]
    last = np.int32(src[sy, xo[width - 1]]) << 8
    for dx in range(x1, width):
        row[dx] = last


@numba.njit(cache=True, nogil=True)
def axis_coefficients(src_size, dst_size):  # pragma: no cover - compiled
    """Numba twin of ``linear_coefficients`` (int32 weights)."""
    offsets = np.zeros(dst_size, dtype=np.int64)
    weights = np.zeros((dst_size, 2), dtype=np.int32)
    scale = 1.0 / (dst_size / src_size)
    first, stop = 0, dst_size
    for d in range(dst_size):
        f = scale * (d + 0.5) - 0.5
        i = np.floor(f)
        if i >= 0 and src_size > 1:
            if i < src_size - 1:
                offsets[d] = np.int64(i)
                c = np.int32(np.rint((f - i) * 256.0))
                weights[d, 0] = 256 - c
                weights[d, 1] = c
            else:
                offsets[d] = src_size - 1
                stop = min(stop, d)
        else:
            first = max(first, d + 1)
    return offsets, weights, first, stop


@numba.njit(cache=True, nogil=True)
def resize_into(src, out):  # pragma: no cover - compiled
    """Resize uint8 ``src`` into the uint8 array ``out`` (its shape is the destination size)."""
    height, width = out.shape
    if height == src.shape[0] and width == src.shape[1]:
        out[:, :] = src
        return
    xo, xw, x0, x1 = axis_coefficients(src.shape[1], width)
    yo, yw, y0, y1 = axis_coefficients(src.shape[0], height)
    _resize_kernel(src, xo, xw, x0, x1, yo, yw, y0, y1, out)


def resize_bilinear(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a grey uint8 image exactly as OpenCV's ``INTER_LINEAR_EXACT`` (Numba).

    Args:
        gray: ``(H, W)`` uint8 source, H, W >= 1.
        width, height: destination size in pixels (>= 1).

    Returns:
        ``(height, width)`` uint8.
    """
    src = np.ascontiguousarray(gray, dtype=np.uint8)
    if src.ndim != 2 or src.size == 0:
        raise ValueError(f"resize_bilinear needs a non-empty (H, W) image, got shape {src.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"destination size must be positive, got {width}x{height}")
    out = np.empty((height, width), dtype=np.uint8)
    resize_into(src, out)
    return out
