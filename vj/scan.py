"""Scanning a whole image pyramid in one parallel region, levels shared among threads.

``detect_raw`` assigns every pyramid level to a worker slot (largest levels first,
each to the least-loaded slot) and calls ``scan_pyramid`` once per image. Each slot,
running on its own Numba thread, takes its levels one by one: bit-exact resize of
the grey image, integral images into the slot's own buffers (common row stride, so
one table of feature offsets serves every level), then the cascade scan of the
level's window grid. One parallel region per image keeps thread start-up and
spin-waiting out of the per-level loop.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .evaluate import scan_level_stumps, scan_level_trees
from .evaluate_lbp import scan_pyramid_lbp
from .image import resize_into
from .integral import fill_integrals, fill_tilted_integral


@numba.njit(cache=True, parallel=True, nogil=True)
def scan_pyramid(gray, level_w, level_h, level_step, level_rows, level_cols, level_out, slot_start, slot_levels,
                 stride, plane, has_tilted, sum_buffers, sq_buffers, norm_ofs, area, is_stumps, stage_first, stage_thr,
                 weak_node, weak_leaf, node_ofs, node_prm, node_child, leaves, stump_vals, passed,
                 scores):  # pragma: no cover - compiled
    """Scan every level of the pyramid of ``gray``.

    Args:
        gray: ``(H, W)`` uint8 image.
        level_w, level_h, level_step, level_rows, level_cols: ``(L,)`` int64 level image size,
            scan step and window-grid size.
        level_out: ``(L + 1,)`` start of each level's grid in the flat ``passed``/``scores``.
        slot_start, slot_levels: the levels of slot ``k`` are
            ``slot_levels[slot_start[k]:slot_start[k + 1]]``.
        stride, plane, has_tilted: integral buffer layout (tilted plane at ``plane``).
        sum_buffers: ``(K, planes * plane)`` int32/int64 zeroed, one row per slot;
            sq_buffers: ``(K, plane)`` int64 zeroed.
        norm_ofs, area, is_stumps, stage_first ... stump_vals: cascade data (``vj.evaluate``).
        passed: flat uint8 output (1 = detection); scores: flat float64 output.
    """
    for k in prange(slot_start.shape[0] - 1):
        sums = sum_buffers[k]
        sqsums = sq_buffers[k]
        for i in range(slot_start[k], slot_start[k + 1]):
            lv = slot_levels[i]
            width, height = level_w[lv], level_h[lv]
            level = np.empty((height, width), dtype=np.uint8)
            resize_into(gray, level)
            rows = height + 1
            fill_integrals(level, sums[: rows * stride].reshape((rows, stride))[:, : width + 1],
                           sqsums[: rows * stride].reshape((rows, stride))[:, : width + 1])
            if has_tilted:
                tilted = sums[plane : plane + rows * stride].reshape((rows, stride))[:, : width + 1]
                fill_tilted_integral(level, tilted, np.zeros(width + 1, dtype=sums.dtype),
                                     np.zeros(width + 1, dtype=sums.dtype))
            n_rows, n_cols = level_rows[lv], level_cols[lv]
            out_passed = passed[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            out_scores = scores[level_out[lv] : level_out[lv + 1]].reshape((n_rows, n_cols))
            if is_stumps:
                scan_level_stumps(sums, sqsums, stride, norm_ofs, area, n_rows, n_cols, level_step[lv], stage_first,
                                  stage_thr, node_ofs, node_prm, stump_vals, out_passed, out_scores)
            else:
                scan_level_trees(sums, sqsums, stride, norm_ofs, area, n_rows, n_cols, level_step[lv], stage_first,
                                 stage_thr, weak_node, weak_leaf, node_ofs, node_prm, node_child, leaves, out_passed,
                                 out_scores)


def _drop_stale_compiled_code(function, sources: tuple[str, ...]) -> None:
    """Forget a parallel scan's on-disk compiled code when the modules it inlines have changed.

    Numba's cache is keyed on the source file of the cached function only, but
    ``scan_pyramid`` compiles in code from ``evaluate.py``, ``image.py`` and
    ``integral.py`` (``scan_pyramid_lbp``: from ``evaluate_lbp.py`` and ``image.py``):
    after an edit to one of those (a ``git pull``), the cached machine code would
    silently be the old one. A hash of those sources, kept next to
    the cache, detects that and empties the cache index. Best effort: where the cache
    or the hash file cannot be reached, nothing happens.
    """
    import hashlib
    from pathlib import Path

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in sources:
        digest.update((here / name).read_bytes())
    try:
        cache = function._cache  # numba's FunctionCache (not a public attribute)
        stamp_file = Path(cache._cache_path) / f"{function.__name__}.sources.sha256"
        if not stamp_file.is_file() or stamp_file.read_text() != digest.hexdigest():
            cache.flush()
            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            stamp_file.write_text(digest.hexdigest())
    except (AttributeError, OSError):
        pass


_drop_stale_compiled_code(scan_pyramid, ("evaluate.py", "image.py", "integral.py", "scan.py"))
_drop_stale_compiled_code(scan_pyramid_lbp, ("evaluate_lbp.py", "image.py"))
