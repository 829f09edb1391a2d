"""The compiled scan of an LBP cascade over a whole image pyramid.

The same plan as the Haar scan (``vj.scan``): pyramid levels are shared among worker
slots, each slot on its own Numba thread resizes the grey image (OpenCV's bit-exact
bilinear resize), builds the level's upright integral image in its own buffer and
scans the window grid. Only the upright integral is needed: LBP features compare cell
sums with each other, without variance normalisation.

Per window and node (OpenCV 4's ``LBPEvaluator`` and ``predictCategorical``):

- the 16 corners of the feature's 4 x 4 cell grid give the nine cell sums (int);
- the 8-bit code sets bit 128, 64, 32, 16, 8, 4, 2, 1 for the cells top-left, top,
  top-right, right, bottom-right, bottom, bottom-left, left whose sum is ``>=`` the
  centre's;
- the node goes left when bit ``code & 31`` of subset word ``code >> 5`` is set;
- leaf values (float32) are summed in double; a stage fails when the sum is below
  ``float32(threshold) - 1e-5f``; a window failing the first stage skips the next one
  in its row; the score is the last stage's sum.

Two things make it fast without changing any of that:

- **Column-interleaved integral.** Windows sit every ``step`` pixels (OpenCV: 2 on
  levels scaled by at most 2, else 1). The level's integral is stored as ``step``
  planes, plane ``k`` holding the columns ``x`` with ``x % step == k`` (index
  ``x // step``), so the same corner of neighbouring windows is at neighbouring
  addresses whatever the step. A node's 16 corners are then ``p + row[i] + col[j]``,
  with ``p = r * row_stride + c`` for window ``(r, c)`` and the node's four row and
  four column offsets (``_node_geometry``).
- **Row-wise first stages.** Most windows stop in stage 0 or 1. For stump cascades those
  stages are summed for a whole row of windows at once (``_row_stage_sums``, SIMD over
  the windows), then the row is walked window by window as OpenCV walks it.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .image import resize_into

_U = np.uint64
#: Offsets per node in the geometry array: four row offsets, then four column offsets.
GEOMETRY = 8
#: Stump cascades: the first stages are summed for a whole row of windows at once
#: (``_row_stage_sums``); at most this many, and never the last stage.
ROW_STAGES = 2


@numba.njit(cache=True, nogil=True, inline="always")
def _ge(a, b):  # pragma: no cover - compiled
    """1 when ``a >= b``, else 0 (uint64)."""
    return _U(a >= b)


@numba.njit(cache=True, nogil=True, inline="always")
def _code_at(sums, r0, r1, r2, r3, x0, x1, x2, x3):  # pragma: no cover - compiled
    """The 8-bit LBP code from the 4 x 4 corners ``sums[r_i + x_j]``.

    Cell ``(i, j)`` is ``c[4i+j] - c[4i+j+1] - c[4i+j+4] + c[4i+j+5]``; the comparisons
    are 0/1 integers, branch-free (the bits are unpredictable).
    """
    c0, c1, c2, c3 = sums[r0 + x0], sums[r0 + x1], sums[r0 + x2], sums[r0 + x3]
    c4, c5, c6, c7 = sums[r1 + x0], sums[r1 + x1], sums[r1 + x2], sums[r1 + x3]
    c8, c9, c10, c11 = sums[r2 + x0], sums[r2 + x1], sums[r2 + x2], sums[r2 + x3]
    c12, c13, c14, c15 = sums[r3 + x0], sums[r3 + x1], sums[r3 + x2], sums[r3 + x3]
    centre = c5 - c6 - c9 + c10
    return ((_ge(c0 - c1 - c4 + c5, centre) << _U(7)) | (_ge(c1 - c2 - c5 + c6, centre) << _U(6))
            | (_ge(c2 - c3 - c6 + c7, centre) << _U(5)) | (_ge(c6 - c7 - c10 + c11, centre) << _U(4))
            | (_ge(c10 - c11 - c14 + c15, centre) << _U(3)) | (_ge(c9 - c10 - c13 + c14, centre) << _U(2))
            | (_ge(c8 - c9 - c12 + c13, centre) << _U(1)) | _ge(c4 - c5 - c8 + c9, centre))


@numba.njit(cache=True, nogil=True, inline="always")
def _left_bit(sums, p, geom, node_subset, n):  # pragma: no cover - compiled
    """1 when node ``n``'s category subset holds window ``p``'s code (the window goes left), else 0."""
    g = n * _U(GEOMETRY)
    code = _code_at(sums, p + geom[g], p + geom[g + _U(1)], p + geom[g + _U(2)], p + geom[g + _U(3)],
                    geom[g + _U(4)], geom[g + _U(5)], geom[g + _U(6)], geom[g + _U(7)])
    word = _U(node_subset[n * _U(8) + (code >> _U(5))])
    return (word >> (code & _U(31))) & _U(1)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_lbp_stumps(sums, p, first_stage, stage_first, stage_thr, geom, node_subset, leaves,
                    stump_bounds):  # pragma: no cover - compiled
    """Stump cascade on one window from stage ``first_stage`` on (node w is weak classifier w;
    leaves ``2w``, ``2w + 1``).

    ``stump_bounds[2 n : 2 n + 2]`` decide a stage early: once the sum after node ``n``
    is below the first, no remaining leaves can lift it to the threshold (the stage
    fails); at or above the second, none can pull it below (the stage passes; never in
    the last stage, whose exact sum is the score). Both keep a margin far above the
    rounding of the sum, so the outcome is that of the full sum.
    """
    total = 0.0
    for s in range(first_stage, stage_thr.shape[0]):
        total = 0.0
        decided = False
        for n in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            total += leaves[n * _U(2) + _U(1) - _left_bit(sums, p, geom, node_subset, n)]
            if total < stump_bounds[n * _U(2)]:
                return -s, total
            if total >= stump_bounds[n * _U(2) + _U(1)]:
                decided = True
                break
        if not decided and total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True, inline="always")
def _run_lbp(sums, p, stage_first, stage_thr, weak_node, weak_leaf, geom, node_child, node_subset,
             leaves):  # pragma: no cover - compiled
    """The cascade on one window: (1 or minus the failed stage, last stage sum)."""
    total = 0.0
    for s in range(stage_thr.shape[0]):
        total = 0.0
        for w in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            n = _U(weak_node[w])
            while True:
                idx = node_child[n * _U(2) + _U(1) - _left_bit(sums, p, geom, node_subset, n)]
                if idx <= 0:
                    break
                n = _U(weak_node[w]) + _U(idx)
            total += leaves[_U(weak_leaf[w] - idx)]
        if total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True)
def _row_stage_sums(sums, row_base, n_cols, first, stop, geom, node_subset, leaves,
                    out):  # pragma: no cover - compiled
    """``out[c]`` = the stage sum of stumps ``first .. stop - 1`` at every window ``c`` of a row.

    The loop over the row's windows is innermost and, thanks to the interleaved integral,
    reads consecutive addresses, so the compiler makes SIMD code of the corner reads,
    the comparisons, the subset word (chosen by selects, not a gather) and the leaf
    choice. Each window's sum adds the same float64 leaves in the same node order from
    0.0 as the scalar walk: the same number, bit for bit.
    """
    for c in range(n_cols):
        out[c] = 0.0
    for n in range(first, stop):
        g = _U(GEOMETRY) * _U(n)
        r0, r1, r2, r3 = row_base + geom[g], row_base + geom[g + _U(1)], row_base + geom[g + _U(2)], \
            row_base + geom[g + _U(3)]
        x0, x1, x2, x3 = geom[g + _U(4)], geom[g + _U(5)], geom[g + _U(6)], geom[g + _U(7)]
        left, right = leaves[2 * n], leaves[2 * n + 1]
        k = _U(8) * _U(n)
        s0, s1, s2, s3 = _U(node_subset[k]), _U(node_subset[k + _U(1)]), _U(node_subset[k + _U(2)]), \
            _U(node_subset[k + _U(3)])
        s4, s5, s6, s7 = _U(node_subset[k + _U(4)]), _U(node_subset[k + _U(5)]), _U(node_subset[k + _U(6)]), \
            _U(node_subset[k + _U(7)])
        for cc in range(n_cols):
            c = _U(cc)
            code = _code_at(sums, r0 + c, r1 + c, r2 + c, r3 + c, x0, x1, x2, x3)
            word_index = code >> _U(5)
            low = s0 if word_index == _U(0) else (s1 if word_index == _U(1) else (s2 if word_index == _U(2) else s3))
            high = s4 if word_index == _U(4) else (s5 if word_index == _U(5) else (s6 if word_index == _U(6) else s7))
            word = low if word_index < _U(4) else high
            out[cc] += left if (word >> (code & _U(31))) & _U(1) else right


@numba.njit(cache=True, nogil=True, inline="always")
def scan_level_lbp(sums, row_stride, n_rows, n_cols, is_stumps, stage_first, stage_thr, weak_node, weak_leaf,
                   geom, node_child, node_subset, leaves, stump_bounds, passed,
                   scores):  # pragma: no cover - compiled
    """Evaluate the cascade on the window grid of one level; window ``(r, c)`` is at ``r * row_stride + c``.

    Stump cascades of more than one stage have their first ``ROW_STAGES`` stages (never
    the last) summed for the whole row first (``_row_stage_sums``), then the row is walked
    as OpenCV walks it: a window failing stage 0 skips the next; one failing a summed
    stage stops there; the others go on through the scalar walk from the first stage not
    summed. Summing a stage for windows the walk then skips costs little next to SIMD's
    gain, and every decision is the one the scalar walk would make.

    Args:
        sums: flat int32/int64 interleaved integral of the level (see the module doc).
        row_stride: distance between window rows in ``sums``.
        n_rows, n_cols: the window grid.
        is_stumps: every weak classifier is one node (node ``w`` = weak classifier ``w``).
        stage_first ... leaves: ``vj.lbp.PreparedLbpCascade`` arrays; geom: the level's
            ``_node_geometry``.
        passed: ``(n_rows, n_cols)`` uint8 output (1 = detection); scores: float64 output.
    """
    n_row_stages = min(ROW_STAGES, stage_thr.shape[0] - 1) if is_stumps else 0
    row_sums = np.empty((max(n_row_stages, 1), n_cols))
    for r in range(n_rows):
        base = _U(r) * _U(row_stride)
        for s in range(n_row_stages):
            _row_stage_sums(sums, base, n_cols, stage_first[s], stage_first[s + 1], geom, node_subset, leaves,
                            row_sums[s])
        c = 0
        while c < n_cols:
            result = 1
            for s in range(n_row_stages):
                if row_sums[s, c] < stage_thr[s]:
                    result = -s
                    break
            if result == 1:
                p = base + _U(c)
                if is_stumps:
                    result, total = _run_lbp_stumps(sums, p, n_row_stages, stage_first, stage_thr, geom, node_subset,
                                                    leaves, stump_bounds)
                else:
                    result, total = _run_lbp(sums, p, stage_first, stage_thr, weak_node, weak_leaf, geom, node_child,
                                             node_subset, leaves)
                if result == 1:
                    passed[r, c] = 1
                    scores[r, c] = total
            c += 2 if result == 0 else 1


@numba.njit(cache=True, nogil=True, inline="always")
def _fill_sum(image, column_index, plane_width, out):  # pragma: no cover - compiled
    """Upright integral of ``image (h, w)`` into the interleaved buffer ``out``.

    Integral entry ``(y, x)`` (``0 <= y <= h``, ``0 <= x <= w``, row 0 and column 0 zero)
    goes to ``out[y * plane_width + column_index[x]]``.
    """
    height, width = image.shape
    zero = out.dtype.type(0)
    for x in range(width + 1):
        out[column_index[x]] = zero
    for y in range(height):
        above = y * plane_width
        here = above + plane_width
        out[here + column_index[0]] = zero
        row = zero
        for x in range(width):
            row += image[y, x] + zero
            out[here + column_index[x + 1]] = out[above + column_index[x + 1]] + row


@numba.njit(cache=True, nogil=True, inline="always")
def _node_geometry(node_cells, column_index, plane_width):  # pragma: no cover - compiled
    """``(GEOMETRY N,)`` uint64 row and column offsets of every node's 4 x 4 corner grid.

    For node ``n`` with feature cell ``(x, y, w, h)``: row offsets ``(y + i h) *
    plane_width`` and column offsets ``column_index[x + j w]``, ``i, j = 0 .. 3``, from
    the window's top-left corner.
    """
    geom = np.empty(GEOMETRY * node_cells.shape[0], dtype=np.uint64)
    for n in range(node_cells.shape[0]):
        x, y, w, h = node_cells[n, 0], node_cells[n, 1], node_cells[n, 2], node_cells[n, 3]
        for i in range(4):
            geom[GEOMETRY * n + i] = (y + i * h) * plane_width
            geom[GEOMETRY * n + 4 + i] = column_index[x + i * w]
    return geom


@numba.njit(cache=True, parallel=True, nogil=True)
def scan_pyramid_lbp(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start, slot_levels,
                     sum_buffers, is_stumps, stage_first, stage_thr, weak_node, weak_leaf, node_cells,
                     node_child, node_subset, leaves, stump_bounds, passed, scores):  # pragma: no cover - compiled
    """Scan every level of the pyramid of ``gray`` with an LBP cascade.

    Args:
        gray: ``(H, W)`` uint8 image.
        level_* , slot_*: the plan of ``vj.detect`` (see ``vj.scan.scan_pyramid``).
        sum_buffers: ``(K, (H + 1) * (W + max step))`` int32/int64 integral buffers, one row
            per slot; each level's integral is stored compactly and interleaved by the
            level's window step (module doc).
        node_cells: ``(N, 4)`` int64 ``x, y, w, h`` of each node's feature.
        is_stumps: whether every weak classifier is a stump; stump_bounds: its early
            stage decisions (``_run_lbp_stumps``).
        stage_first ... leaves: cascade arrays (``scan_level_lbp``).
        passed: flat uint8 output (1 = detection); scores: flat float64 output.
    """
    for k in prange(slot_start.shape[0] - 1):
        sums = sum_buffers[k]
        for i in range(slot_start[k], slot_start[k + 1]):
            lv = slot_levels[i]
            width, height, step = level_w[lv], level_h[lv], level_step[lv]
            level = np.empty((height, width), dtype=np.uint8)
            resize_into(gray, level)
            plane_width = (width + step) // step  # ceil((width + 1) / step) columns per plane
            plane = (height + 1) * plane_width
            column_index = np.empty(width + 1, dtype=np.int64)
            for x in range(width + 1):
                column_index[x] = (x % step) * plane + x // step
            _fill_sum(level, column_index, plane_width, sums)
            geom = _node_geometry(node_cells, column_index, plane_width)
            n_rows, n_cols = level_rows[lv], level_cols[lv]
            out_passed = passed[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            out_scores = scores[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            scan_level_lbp(sums, step * plane_width, n_rows, n_cols, is_stumps, stage_first, stage_thr, weak_node,
                           weak_leaf, geom, node_child, node_subset, leaves, stump_bounds, out_passed, out_scores)
