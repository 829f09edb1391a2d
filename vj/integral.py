"""Integral images: upright, squared and 45-degree tilted, with their rectangle sums.

For an ``(H, W)`` image ``I`` every integral image here has shape ``(H + 1, W + 1)``
with a zero first row and column (OpenCV's layout), indexed ``[Y, X]``:

- ``sum[Y, X]    = sum of I[y, x] for y < Y, x < X``
- ``sqsum[Y, X]  = sum of I[y, x]**2 for y < Y, x < X``
- ``tilted[Y, X] = sum of I[y, x] for y < Y, |x - (X - 1)| <= Y - 1 - y``: the pixels of
  an upward-opening 45-degree triangle whose apex is pixel ``(X - 1, Y - 1)``.

Integer images give int64 integrals (exact up to 2**63, far beyond 255**2 * 4000**2);
float images give float64 integrals.

The four-corner rectangle sums:

- upright rectangle ``(x, y, w, h)``: ``S[y, x] - S[y, x+w] - S[y+h, x] + S[y+h, x+w]``;
- tilted rectangle ``(x, y, w, h)`` (top corner ``(x, y)``, ``w`` going down-right, ``h``
  going down-left, OpenCV's convention): ``T[y, x] - T[y+h, x-h] - T[y+w, x+w]
  + T[y+w+h, x+w-h]``.

Each builder has a readable NumPy version and a Numba version (``*_fast``) that the
hot loops use; the tests check that they are equal.
"""
from __future__ import annotations

import numba
import numpy as np


def _accumulator_dtype(image: np.ndarray) -> type:
    """int64 for integer/bool images, float64 for float images."""
    if np.issubdtype(image.dtype, np.floating):
        return np.float64
    if np.issubdtype(image.dtype, np.integer) or image.dtype == np.bool_:
        return np.int64
    raise TypeError(f"integral images need an integer or float image, got dtype {image.dtype}")


def _check_2d(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"integral images need a 2-D (H, W) image, got shape {arr.shape}")
    return arr


def integral_image(image: np.ndarray) -> np.ndarray:
    """Upright integral image ``(H, W) -> (H + 1, W + 1)`` (int64 or float64)."""
    arr = _check_2d(image)
    out = np.zeros((arr.shape[0] + 1, arr.shape[1] + 1), dtype=_accumulator_dtype(arr))
    np.cumsum(np.cumsum(arr, axis=0, dtype=out.dtype), axis=1, out=out[1:, 1:])
    return out


def squared_integral_image(image: np.ndarray) -> np.ndarray:
    """Integral of squared pixels ``(H, W) -> (H + 1, W + 1)`` (int64 or float64)."""
    arr = _check_2d(image)
    dtype = _accumulator_dtype(arr)
    wide = arr.astype(dtype)
    return integral_image(wide * wide)


def tilted_integral_image(image: np.ndarray) -> np.ndarray:
    """45-degree tilted integral ``(H, W) -> (H + 1, W + 1)`` (int64 or float64).

    Built row by row from the row prefix sums ``P[y, k] = sum(I[y, :k])`` (``k`` clipped
    to ``0..W``): the triangle of ``tilted[Y, X]`` covers, in row ``y``, the columns
    ``X - Y + y .. X + Y - 2 - y``, so ``tilted[Y, X] = A[Y, X] - B[Y, X]`` with
    ``A[Y, X] = sum_y P[y, X + Y - 1 - y]`` and ``B[Y, X] = sum_y P[y, X - Y + y]``.
    ``A`` accumulates along anti-diagonals (``A[Y, X] = A[Y-1, X+1] + P[Y-1, X]``),
    ``B`` along diagonals (``B[Y, X] = B[Y-1, X-1] + P[Y-1, X-1]``).
    """
    arr = _check_2d(image)
    height, width = arr.shape
    dtype = _accumulator_dtype(arr)
    prefix = np.zeros((height, width + 1), dtype=dtype)  # P[y, k], k = 0..W
    np.cumsum(arr, axis=1, dtype=dtype, out=prefix[:, 1:])
    out = np.zeros((height + 1, width + 1), dtype=dtype)
    a_prev = np.zeros(width + 1, dtype=dtype)
    b_prev = np.zeros(width + 1, dtype=dtype)
    rows_above = dtype(0)  # sum of all rows y < Y - 1: A beyond the right edge
    for y_end in range(1, height + 1):
        p = prefix[y_end - 1]
        a = np.empty_like(a_prev)
        a[:-1] = a_prev[1:] + p[:-1]
        a[-1] = rows_above + p[-1]
        b = np.zeros_like(b_prev)
        b[1:] = b_prev[:-1] + p[:-1]
        out[y_end] = a - b
        rows_above += p[-1]
        a_prev, b_prev = a, b
    return out


def rect_sum(integral: np.ndarray, x: int, y: int, w: int, h: int) -> int | float:
    """Sum of the pixels in the upright rectangle ``x <= col < x + w``, ``y <= row < y + h``."""
    return integral[y, x] - integral[y, x + w] - integral[y + h, x] + integral[y + h, x + w]


def tilted_rect_sum(tilted: np.ndarray, x: int, y: int, w: int, h: int) -> int | float:
    """Sum over the 45-degree rectangle with top corner ``(x, y)``, sides ``w`` (down-right) and ``h`` (down-left)."""
    return tilted[y, x] - tilted[y + h, x - h] - tilted[y + w, x + w] + tilted[y + w + h, x + w - h]


# ----------------------------------------------------------------------------- Numba twins


@numba.njit(cache=True, nogil=True)
def fill_integrals(image, out_sum, out_sqsum):  # pragma: no cover - compiled
    """Write the upright and squared integrals of ``image (h, w)`` into ``out_* (h + 1, w + 1)``.

    Only ``[1:, 1:]`` is written: row 0 and column 0 must already be zero.
    """
    height, width = image.shape
    zero = out_sum[0, 0]  # 0 of the accumulator type
    for y in range(height):
        row = zero
        row_sq = zero
        for x in range(width):
            v = image[y, x] + zero
            row += v
            row_sq += v * v
            out_sum[y + 1, x + 1] = out_sum[y, x + 1] + row
            out_sqsum[y + 1, x + 1] = out_sqsum[y, x + 1] + row_sq


@numba.njit(cache=True, nogil=True)
def fill_tilted_integral(image, out, a_prev, b_prev):  # pragma: no cover - compiled
    """Write the tilted integral of ``image (h, w)`` into ``out (h + 1, w + 1)`` (row 0 must be zero).

    ``a_prev``, ``b_prev``: zeroed ``(w + 1,)`` scratch rows of the accumulator type.
    """
    height, width = image.shape
    zero = out[0, 0]  # 0 of the accumulator type
    rows_above = zero
    for y_end in range(1, height + 1):
        y = y_end - 1
        # p = P[y, x] = sum(image[y, :x]) on the fly, walking x upward: A[x] needs the old
        # A[x + 1] (not yet overwritten), B[x] the old B[x - 1] (kept in b_carry).
        p = zero
        p_left = zero
        b_carry = b_prev[0]
        b_prev[0] = 0
        for x in range(width + 1):
            a_next = a_prev[x + 1] if x < width else rows_above
            a_prev[x] = a_next + p
            if x > 0:
                b_new = b_carry + p_left
                b_carry = b_prev[x]
                b_prev[x] = b_new
            p_left = p
            if x < width:
                p += image[y, x]
        rows_above += p
        for x in range(width + 1):
            out[y_end, x] = a_prev[x] - b_prev[x]


def integral_images_fast(image: np.ndarray, tilted: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Numba twin of ``integral_image``, ``squared_integral_image`` and ``tilted_integral_image``.

    Args:
        image: ``(H, W)`` integer or float image.
        tilted: also build the tilted integral.

    Returns:
        ``(sum, sqsum, tilted_or_None)``, each ``(H + 1, W + 1)`` int64 (integer input)
        or float64 (float input).
    """
    arr = np.ascontiguousarray(_check_2d(image))
    dtype = _accumulator_dtype(arr)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif dtype is np.int64 and arr.dtype.itemsize >= 8:
        arr = arr.astype(np.int64)  # Numba would promote uint64 + int64 to float
    shape = (arr.shape[0] + 1, arr.shape[1] + 1)
    out_sum = np.zeros(shape, dtype=dtype)
    out_sqsum = np.zeros(shape, dtype=dtype)
    fill_integrals(arr, out_sum, out_sqsum)
    out_tilted = None
    if tilted:
        out_tilted = np.zeros(shape, dtype=dtype)
        fill_tilted_integral(arr, out_tilted, np.zeros(shape[1], dtype=dtype), np.zeros(shape[1], dtype=dtype))
    return out_sum, out_sqsum, out_tilted

