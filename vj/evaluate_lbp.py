"""The compiled scan of an LBP cascade over a whole image pyramid.

The same plan as the Haar scan (``vj.scan``): pyramid levels are shared among worker
slots, each slot on its own Numba thread resizes the grey image (OpenCV's bit-exact
bilinear resize), builds the level's upright integral image in its own buffer (row
stride common to all levels, so one offset table serves them all) and scans the
window grid. Only the upright integral is needed: LBP features compare cell sums
with each other, without variance normalisation.

Per window and node (OpenCV 4's ``LBPEvaluator`` and ``predictCategorical``):

- the 16 corners of the feature's 4 x 4 cell grid (read once, from the grid's
  top-left offset and cell size) give the nine cell sums (int);
- the 8-bit code sets bit 128, 64, 32, 16, 8, 4, 2, 1 for the cells top-left, top,
  top-right, right, bottom-right, bottom, bottom-left, left whose sum is ``>=`` the
  centre's;
- the node goes left when bit ``code & 31`` of subset word ``code >> 5`` is set;
- leaf values (float32) are summed in double; a stage fails when the sum is below
  ``float32(threshold) - 1e-5f``; a window failing the first stage skips the next one
  in its row; the score is the last stage's sum.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .image import resize_into

_U = np.uint64


@numba.njit(cache=True, nogil=True, inline="always")
def _code(sums, p, geom, g):  # pragma: no cover - compiled
    """The 8-bit LBP code of the node whose grid geometry is ``geom[g : g + 3]``.

    ``geom`` holds the offset of the grid's top-left corner, the cell width and the cell
    height times the row stride: corner ``(i, j)`` of the 4 x 4 grid is at
    ``top + i * dy + j * dx``. The 16 corners ``c[4 i + j]`` are read once; cell
    ``(i, j)`` is ``c[4i+j] - c[4i+j+1] - c[4i+j+4] + c[4i+j+5]``.
    """
    dx = geom[g + _U(1)]
    dy = geom[g + _U(2)]
    dx2 = dx + dx
    dx3 = dx2 + dx
    r0 = p + geom[g]
    r1 = r0 + dy
    r2 = r1 + dy
    r3 = r2 + dy
    c0, c1, c2, c3 = sums[r0], sums[r0 + dx], sums[r0 + dx2], sums[r0 + dx3]
    c4, c5, c6, c7 = sums[r1], sums[r1 + dx], sums[r1 + dx2], sums[r1 + dx3]
    c8, c9, c10, c11 = sums[r2], sums[r2 + dx], sums[r2 + dx2], sums[r2 + dx3]
    c12, c13, c14, c15 = sums[r3], sums[r3 + dx], sums[r3 + dx2], sums[r3 + dx3]
    centre = c5 - c6 - c9 + c10
    # Branch-free: each comparison is a 0/1 integer (the bits are unpredictable).
    return ((_ge(c0 - c1 - c4 + c5, centre) << 7) | (_ge(c1 - c2 - c5 + c6, centre) << 6)
            | (_ge(c2 - c3 - c6 + c7, centre) << 5) | (_ge(c6 - c7 - c10 + c11, centre) << 4)
            | (_ge(c10 - c11 - c14 + c15, centre) << 3) | (_ge(c9 - c10 - c13 + c14, centre) << 2)
            | (_ge(c8 - c9 - c12 + c13, centre) << 1) | _ge(c4 - c5 - c8 + c9, centre))


@numba.njit(cache=True, nogil=True, inline="always")
def _ge(a, b):  # pragma: no cover - compiled
    """1 when ``a >= b``, else 0 (uint64)."""
    return _U(a >= b)


@numba.njit(cache=True, nogil=True, inline="always")
def _left_bit(sums, p, node_ofs, node_subset, n):  # pragma: no cover - compiled
    """1 when node ``n``'s category subset holds the window's code (the window goes left), else 0."""
    code = _code(sums, p, node_ofs, n * _U(3))
    word = _U(node_subset[n * _U(8) + (code >> _U(5))])
    return (word >> (code & _U(31))) & _U(1)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_lbp_stumps(sums, p, stage_first, stage_thr, node_ofs, node_subset, leaves,
                    stump_bounds):  # pragma: no cover - compiled
    """Stump cascade on one window (node w is weak classifier w; leaves ``2w``, ``2w + 1``).

    ``stump_bounds[2 n : 2 n + 2]`` decide a stage early: once the sum after node ``n``
    is below the first, no remaining leaves can lift it to the threshold (the stage
    fails); at or above the second, none can pull it below (the stage passes; never in
    the last stage, whose exact sum is the score). Both keep a margin far above the
    rounding of the sum, so the outcome is that of the full sum.
    """
    total = 0.0
    for s in range(stage_thr.shape[0]):
        total = 0.0
        decided = False
        for n in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            total += leaves[n * _U(2) + _U(1) - _left_bit(sums, p, node_ofs, node_subset, n)]
            if total < stump_bounds[n * _U(2)]:
                return -s, total
            if total >= stump_bounds[n * _U(2) + _U(1)]:
                decided = True
                break
        if not decided and total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True, inline="always")
def _run_lbp(sums, p, stage_first, stage_thr, weak_node, weak_leaf, node_ofs, node_child, node_subset,
             leaves):  # pragma: no cover - compiled
    """The cascade on one window: (1 or minus the failed stage, last stage sum)."""
    total = 0.0
    for s in range(stage_thr.shape[0]):
        total = 0.0
        for w in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            n = _U(weak_node[w])
            while True:
                idx = node_child[n * _U(2) + _U(1) - _left_bit(sums, p, node_ofs, node_subset, n)]
                if idx <= 0:
                    break
                n = _U(weak_node[w]) + _U(idx)
            total += leaves[_U(weak_leaf[w] - idx)]
        if total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True, inline="always")
def scan_level_lbp(sums, stride, n_rows, n_cols, step, is_stumps, stage_first, stage_thr, weak_node, weak_leaf,
                   node_ofs, node_child, node_subset, leaves, stump_bounds, passed,
                   scores):  # pragma: no cover - compiled
    """Evaluate the cascade on the window grid ``(x, y) = (c * step, r * step)`` of one level.

    Args:
        sums: flat int32/int64 upright integral of the level, row length ``stride``.
        n_rows, n_cols, step: the window grid.
        is_stumps: every weak classifier is one node (node ``w`` = weak classifier ``w``).
        stage_first ... leaves: ``vj.lbp.PreparedLbpCascade`` arrays; node_ofs: its
            ``cell_geometry(stride)``.
        passed: ``(n_rows, n_cols)`` uint8 output (1 = detection); scores: float64 output.
    """
    stride_u = _U(stride)
    step_u = _U(step)
    for r in range(n_rows):
        base = _U(r) * step_u * stride_u
        c = 0
        while c < n_cols:
            p = base + _U(c) * step_u
            if is_stumps:
                result, total = _run_lbp_stumps(sums, p, stage_first, stage_thr, node_ofs, node_subset, leaves,
                                                stump_bounds)
            else:
                result, total = _run_lbp(sums, p, stage_first, stage_thr, weak_node, weak_leaf, node_ofs, node_child,
                                         node_subset, leaves)
            if result == 1:
                passed[r, c] = 1
                scores[r, c] = total
            c += 2 if result == 0 else 1


@numba.njit(cache=True, nogil=True, inline="always")
def _fill_sum(image, out):  # pragma: no cover - compiled
    """Upright integral of ``image (h, w)`` into ``out (h + 1, w + 1)``, its zero row 0 and column 0 included."""
    height, width = image.shape
    zero = out.dtype.type(0)
    out[0, :] = zero
    for y in range(height):
        out[y + 1, 0] = zero
        row = zero
        for x in range(width):
            row += image[y, x] + zero
            out[y + 1, x + 1] = out[y, x + 1] + row


@numba.njit(cache=True, parallel=True, nogil=True)
def scan_pyramid_lbp(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start, slot_levels,
                     sum_buffers, is_stumps, stage_first, stage_thr, weak_node, weak_leaf, node_cells,
                     node_child, node_subset, leaves, stump_bounds, passed, scores):  # pragma: no cover - compiled
    """Scan every level of the pyramid of ``gray`` with an LBP cascade.

    Args:
        gray: ``(H, W)`` uint8 image.
        level_* , slot_*: the plan of ``vj.detect`` (see ``vj.scan.scan_pyramid``).
        sum_buffers: ``(K, (H + 1) * (W + 1))`` int32/int64 integral buffers, one row per
            slot; each level's integral is stored compactly (row length ``level_w + 1``,
            which keeps it in cache), its zero first row and column written here.
        node_cells: ``(N, 4)`` int64 ``x, y, w, h`` of each node's feature: the cell grid
            geometry of each level (``PreparedLbpCascade.cell_geometry``) is made from it.
        is_stumps: whether every weak classifier is a stump; stump_bounds: its early
            stage decisions (``_run_lbp_stumps``).
        stage_first ... leaves: cascade arrays (``scan_level_lbp``).
        passed: flat uint8 output (1 = detection); scores: flat float64 output.
    """
    for k in prange(slot_start.shape[0] - 1):
        sums = sum_buffers[k]
        for i in range(slot_start[k], slot_start[k + 1]):
            lv = slot_levels[i]
            width, height = level_w[lv], level_h[lv]
            level = np.empty((height, width), dtype=np.uint8)
            resize_into(gray, level)
            rows = height + 1
            stride = width + 1
            _fill_sum(level, sums[: rows * stride].reshape((rows, stride)))
            node_ofs = np.empty(3 * node_cells.shape[0], dtype=np.uint64)
            for n in range(node_cells.shape[0]):
                node_ofs[3 * n] = node_cells[n, 1] * stride + node_cells[n, 0]
                node_ofs[3 * n + 1] = node_cells[n, 2]
                node_ofs[3 * n + 2] = node_cells[n, 3] * stride
            n_rows, n_cols = level_rows[lv], level_cols[lv]
            out_passed = passed[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            out_scores = scores[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            scan_level_lbp(sums, stride, n_rows, n_cols, level_step[lv], is_stumps, stage_first, stage_thr, weak_node,
                           weak_leaf, node_ofs, node_child, node_subset, leaves, stump_bounds, out_passed,
                           out_scores)
