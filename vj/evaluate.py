"""Cascade evaluation over every window of one pyramid level (the detector's hot loop).

The integral images of one level live in flat buffers with a fixed row stride, so a
feature rectangle is four fixed offsets from the window's top-left corner (OpenCV's
trick): ``sum = buf[p + o0] - buf[p + o1] - buf[p + o2] + buf[p + o3]`` with
``p = y * stride + x``. Tilted rectangles read the tilted integral, stored in the
same buffer after the upright one, so their offsets simply include that shift.

Arithmetic follows OpenCV 4 bit for bit:

- window normaliser: over the inner rectangle (the window shrunk by 1 px each side),
  ``nf = area * sqsum - sum**2`` in double; a window with ``nf <= 0`` or with
  ``area / sqrt(nf) >= 0.1`` (standard deviation <= 10 grey levels) is rejected;
  otherwise ``norm = float32(1 / sqrt(nf))``;
- feature value: ``(w0 * s0 + w1 * s1 [+ w2 * s2]) * norm`` in float32, the third
  rectangle only where its weight is non-zero;
- node: go left when ``value < float32(threshold)``;
- stage: the float32 leaf values are summed in double and the window fails when the
  sum is below ``float32(stage_threshold) - 1e-5f``;
- a window that fails the very first stage makes the scan skip the next window in
  its row.

Node data is flat, one record per node (``node_ofs[12 n : 12 n + 12]`` corner offsets,
``node_prm[4 n : 4 n + 4]`` = ``w0, w1, w2, threshold``), and indices are unsigned:
Numba then drops its negative-index checks, which makes the scan several times faster.
The level scans are inlined into ``vj.scan.scan_pyramid``'s parallel loop, where Numba
marks the arrays as not aliasing each other; that too is worth a factor 2 to 3.
"""
from __future__ import annotations

import numba
import numpy as np

LOW_CONTRAST_LIMIT = 0.1  # area / sqrt(nf) = 1 / std: windows with std <= 10 grey levels fail

_U = np.uint64


@numba.njit(cache=True, nogil=True, inline="always")
def _window_norm(sums, sqsums, p, norm_ofs, area):  # pragma: no cover - compiled
    """float32 variance normaliser of the window at offset p, or 0 for a rejected window."""
    a, b, c, d = p + norm_ofs[0], p + norm_ofs[1], p + norm_ofs[2], p + norm_ofs[3]
    s = np.int64(sums[a]) - np.int64(sums[b]) - np.int64(sums[c]) + np.int64(sums[d])
    q = sqsums[a] - sqsums[b] - sqsums[c] + sqsums[d]
    nf = area * np.float64(q) - np.float64(s) * np.float64(s)
    if nf <= 0.0:
        return np.float32(0.0)
    norm = np.float32(1.0 / np.sqrt(nf))
    if area * np.float64(norm) >= LOW_CONTRAST_LIMIT:
        return np.float32(0.0)
    return norm


@numba.njit(cache=True, nogil=True, inline="always")
def _rect(sums, p, node_ofs, o):  # pragma: no cover - compiled
    """Four-corner sum of the rectangle whose offsets start at node_ofs[o]."""
    return np.int32(np.int64(sums[p + node_ofs[o]]) - np.int64(sums[p + node_ofs[o + _U(1)]])
                    - np.int64(sums[p + node_ofs[o + _U(2)]]) + np.int64(sums[p + node_ofs[o + _U(3)]]))


@numba.njit(cache=True, nogil=True, inline="always")
def _node_goes_right(sums, p, norm, node_ofs, node_prm, n, skip_absent):  # pragma: no cover - compiled
    """0 when node n sends the window left (normalised feature value < threshold), 1 when right.

    The 0 / 1 result indexes the leaf or child table directly. ``skip_absent`` (a
    constant at each call site, so the compiler keeps one branch or the other): True
    skips a node's third rectangle when it has none, as OpenCV does; False always reads
    it: an absent rectangle has weight 0 and all offsets 0 (``vj.prepared._rect_offsets``),
    so it adds ``0 * 0 = +0`` and the float32 value, and so the decision, is the same.
    Which is faster depends on the window order (measured, see docs/performance.md):
    the detector's raster scan keeps the branch, the miner's random windows do not.
    """
    o = n * _U(12)
    k = n * _U(4)
    value = node_prm[k] * np.float32(_rect(sums, p, node_ofs, o)) \
        + node_prm[k + _U(1)] * np.float32(_rect(sums, p, node_ofs, o + _U(4)))
    w2 = node_prm[k + _U(2)]
    if not skip_absent or w2 != 0:
        value += w2 * np.float32(_rect(sums, p, node_ofs, o + _U(8)))
    return _U(0) if value * norm < node_prm[k + _U(3)] else _U(1)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_stumps(sums, p, norm, stage_first, stage_thr, node_ofs, node_prm, stump_vals,
                skip_absent=True):  # pragma: no cover - compiled
    """Stump cascade on one window: (1 or minus the failed stage, last stage sum)."""
    total = 0.0
    for s in range(stage_thr.shape[0]):
        total = 0.0
        for n in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            total += stump_vals[n * _U(2) + _node_goes_right(sums, p, norm, node_ofs, node_prm, n, skip_absent)]
        if total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True, inline="always")
def _run_trees(sums, p, norm, stage_first, stage_thr, weak_node, weak_leaf, node_ofs, node_prm, node_child,
               leaves, skip_absent=True):  # pragma: no cover - compiled
    """Tree cascade on one window; ``stage_first`` indexes weak classifiers here."""
    total = 0.0
    for s in range(stage_thr.shape[0]):
        total = 0.0
        for w in range(_U(stage_first[s]), _U(stage_first[s + 1])):
            root = _U(weak_node[w])
            idx = 0
            while True:
                n = root + _U(idx)
                idx = node_child[n * _U(2) + _node_goes_right(sums, p, norm, node_ofs, node_prm, n, skip_absent)]
                if idx <= 0:
                    break
            total += leaves[_U(weak_leaf[w] - idx)]
        if total < stage_thr[s]:
            return -s, total
    return 1, total


@numba.njit(cache=True, nogil=True, inline="always")
def scan_level_stumps(sums, sqsums, stride, norm_ofs, area, n_rows, n_cols, step, stage_first, stage_thr, node_ofs,
                      node_prm, stump_vals, passed, scores):  # pragma: no cover - compiled
    """Evaluate a stump cascade on the window grid ``(x, y) = (c * step, r * step)`` of one level.

    Args:
        sums: flat int32/int64 upright (+ tilted) integral; sqsums: flat int64 squared integral.
        stride: buffer row length; norm_ofs: ``(4,)`` uint64 inner-rectangle corner offsets;
        area: inner-rectangle area.
        n_rows, n_cols, step: the window grid.
        stage_first: ``(S + 1,)`` first node of each stage; stage_thr: ``(S,)`` float64.
        node_ofs: ``(12 N,)`` unsigned corner offsets; node_prm: ``(4 N,)`` float32;
        stump_vals: ``(2 N,)`` float64 left/right leaf values.
        passed: ``(n_rows, n_cols)`` uint8 output, 1 for a detection; scores: float64 output.
    """
    stride_u = _U(stride)
    step_u = _U(step)
    for r in range(n_rows):
        base = _U(r) * step_u * stride_u
        c = 0
        while c < n_cols:
            p = base + _U(c) * step_u
            norm = _window_norm(sums, sqsums, p, norm_ofs, area)
            result = -1
            if norm != 0:
                result, total = _run_stumps(sums, p, norm, stage_first, stage_thr, node_ofs, node_prm, stump_vals)
                if result == 1:
                    passed[r, c] = 1
                    scores[r, c] = total
            c += 2 if result == 0 else 1


@numba.njit(cache=True, nogil=True, inline="always")
def scan_level_trees(sums, sqsums, stride, norm_ofs, area, n_rows, n_cols, step, stage_first, stage_thr, weak_node,
                     weak_leaf, node_ofs, node_prm, node_child, leaves, passed, scores):  # pragma: no cover - compiled
    """Tree-cascade twin of ``scan_level_stumps``.

    ``stage_first`` indexes weak classifiers, whose nodes start at ``weak_node[w]`` and
    leaves at ``weak_leaf[w]``; ``node_child[2 n : 2 n + 2]`` are OpenCV child codes
    (``> 0`` node, ``<= 0`` leaf ``-code``).
    """
    stride_u = _U(stride)
    step_u = _U(step)
    for r in range(n_rows):
        base = _U(r) * step_u * stride_u
        c = 0
        while c < n_cols:
            p = base + _U(c) * step_u
            norm = _window_norm(sums, sqsums, p, norm_ofs, area)
            result = -1
            if norm != 0:
                result, total = _run_trees(sums, p, norm, stage_first, stage_thr, weak_node, weak_leaf, node_ofs,
                                           node_prm, node_child, leaves)
                if result == 1:
                    passed[r, c] = 1
                    scores[r, c] = total
            c += 2 if result == 0 else 1
