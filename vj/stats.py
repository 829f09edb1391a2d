"""How far each window gets through the cascade: the numbers behind "the cascade is fast".

``detect_raw`` only says which windows pass every stage. Here the same scan is run
again, with the same pyramid, the same integral-image layout and the same compiled
window evaluators (``vj.evaluate``), but each window records the *depth* it reached:

- ``SKIPPED`` (-2): never evaluated, because the window before it in its row failed the
  first stage (OpenCV's rule: the scan then jumps one extra step);
- ``LOW_CONTRAST`` (-1): rejected before the first stage by the variance check
  (standard deviation of at most 10 grey levels);
- ``s`` in ``0 .. S - 1``: rejected by stage ``s`` (stages ``0 .. s - 1`` passed);
- ``S`` (the number of stages): accepted, a raw detection of ``detect_raw``.

``stage_pass_counts`` sums those depths over the whole pyramid into the count of
windows that reached each stage, and the number of weak classifiers the cascade
evaluated on average per window, against the total it holds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .cascade import Cascade
from .detect import PreparedCascade, _rect_offsets, plan_scan, prepare_cascade
from .evaluate import _run_stumps, _run_trees, _window_norm
from .image import resize_bilinear
from .integral import fill_integrals, fill_tilted_integral
from .scan import _drop_stale_compiled_code

SKIPPED = -2
LOW_CONTRAST = -1


@dataclass(frozen=True)
class LevelDepths:
    """The depth reached by every window of one pyramid level.

    Attributes:
        scale: float32 factor between the image and this level (window side in image
            pixels = base window side * scale).
        step: scan step in level pixels (2 below scale 2, else 1).
        depth: ``(rows, cols)`` int16; window ``(r, c)`` has its top-left corner at level
            pixel ``(c * step, r * step)``, i.e. image pixel ``round((c * step) * scale)``.
            Values as in the module docstring.
    """

    scale: float
    step: int
    depth: np.ndarray


@dataclass(frozen=True)
class StagePassCounts:
    """Window counts over a whole pyramid.

    Attributes:
        windows: number of window positions in all levels.
        skipped: windows never evaluated (the one before them failed stage 0).
        low_contrast: windows rejected by the variance check, before stage 0.
        reached: ``(S + 1,)`` int64; ``reached[s]`` windows were evaluated by stage ``s``
            (so ``reached[0] = windows - skipped - low_contrast``), and ``reached[S]``
            passed every stage (the raw detections).
        weak_per_stage: ``(S,)`` int64 weak classifiers in each stage.
    """

    windows: int
    skipped: int
    low_contrast: int
    reached: np.ndarray
    weak_per_stage: np.ndarray

    @property
    def rejected(self) -> np.ndarray:
        """``(S,)`` windows rejected by each stage."""
        return self.reached[:-1] - self.reached[1:]

    @property
    def accepted(self) -> int:
        """Windows that passed every stage."""
        return int(self.reached[-1])

    @property
    def weak_evaluations(self) -> int:
        """Weak classifiers evaluated in total: each window pays for every stage it entered."""
        return int(np.dot(self.reached[:-1], self.weak_per_stage))

    @property
    def mean_weak_per_window(self) -> float:
        """Weak classifiers evaluated per window position (skipped and low-contrast ones count 0)."""
        return self.weak_evaluations / max(self.windows, 1)


@numba.njit(cache=True, nogil=True)
def _level_depths(sums, sqsums, stride, norm_ofs, area, step, is_stumps, stage_first, stage_thr, weak_node, weak_leaf,
                  node_ofs, node_prm, node_child, leaves, stump_vals, depth):  # pragma: no cover - compiled
    """Fill ``depth (rows, cols)`` int16 for one level, walking the grid as ``scan_level_*`` do."""
    n_rows, n_cols = depth.shape
    n_stages = stage_thr.shape[0]
    for r in range(n_rows):
        base = np.uint64(r * step * stride)
        c = 0
        while c < n_cols:
            p = base + np.uint64(c * step)
            norm = _window_norm(sums, sqsums, p, norm_ofs, area)
            result = -1
            if norm == 0:
                depth[r, c] = LOW_CONTRAST
            else:
                if is_stumps:
                    result, _ = _run_stumps(sums, p, norm, stage_first, stage_thr, node_ofs, node_prm, stump_vals)
                else:
                    result, _ = _run_trees(sums, p, norm, stage_first, stage_thr, weak_node, weak_leaf, node_ofs,
                                           node_prm, node_child, leaves)
                depth[r, c] = n_stages if result == 1 else -result  # result is minus the failed stage
            if result == 0 and c + 1 < n_cols:
                depth[r, c + 1] = SKIPPED
                c += 2
            else:
                c += 1


_drop_stale_compiled_code(_level_depths, ("evaluate.py", "stats.py"))  # its cached code holds evaluate.py's


def stage_depths(image: np.ndarray, cascade: Cascade | PreparedCascade, scale_factor: float = 1.1,
                 min_size: int | tuple[int, int] | None = None,
                 max_size: int | tuple[int, int] | None = None) -> list[LevelDepths]:
    """The depth every window of every pyramid level reaches in the cascade.

    Args:
        image, cascade, scale_factor, min_size, max_size: as ``vj.detect_multi_scale``.

    Returns:
        One ``LevelDepths`` per pyramid level, largest windows last (the order of
        ``vj.detect.pyramid_scales``); empty when no window fits in the image.
    """
    prepared, gray, levels = plan_scan(image, cascade, scale_factor, min_size, max_size)
    height, width = gray.shape
    win_w, win_h = prepared.cascade.window_size
    if levels is None:
        return []
    level_w, level_h, level_step, level_rows, level_cols, _, level_scale = levels
    # The integral buffers of detect_raw: row stride width + 1, tilted plane after the upright one.
    stride = width + 1
    plane = (height + 1) * stride
    n_planes = 2 if prepared.has_tilted else 1
    sum_dtype = np.int32 if 255 * width * height < 2**31 else np.int64
    ofs = _rect_offsets(prepared, stride, plane, np.uint32 if plane * n_planes < 2**32 else np.uint64)
    norm_ofs = np.array([stride + 1, stride + win_w - 1, (win_h - 1) * stride + 1, (win_h - 1) * stride + win_w - 1],
                        dtype=np.uint64)
    area = float((win_w - 2) * (win_h - 2))
    p = prepared
    out = []
    for lv in range(level_w.shape[0]):
        lw, lh = int(level_w[lv]), int(level_h[lv])
        level = resize_bilinear(gray, lw, lh)
        sums = np.zeros(plane * n_planes, dtype=sum_dtype)
        sqsums = np.zeros(plane, dtype=np.int64)
        rows = lh + 1
        fill_integrals(level, sums[: rows * stride].reshape(rows, stride)[:, : lw + 1],
                       sqsums[: rows * stride].reshape(rows, stride)[:, : lw + 1])
        if p.has_tilted:
            fill_tilted_integral(level, sums[plane : plane + rows * stride].reshape(rows, stride)[:, : lw + 1],
                                 np.zeros(lw + 1, dtype=sum_dtype), np.zeros(lw + 1, dtype=sum_dtype))
        depth = np.zeros((int(level_rows[lv]), int(level_cols[lv])), dtype=np.int16)
        _level_depths(sums, sqsums, stride, norm_ofs, area, int(level_step[lv]), p.is_stumps, p.stage_first,
                      p.stage_thr, p.weak_node, p.weak_leaf, ofs, p.node_prm, p.node_child, p.leaves, p.stump_vals,
                      depth)
        out.append(LevelDepths(scale=float(level_scale[lv]), step=int(level_step[lv]), depth=depth))
    return out


def stage_pass_counts(image: np.ndarray, cascade: Cascade | PreparedCascade, scale_factor: float = 1.1,
                      min_size: int | tuple[int, int] | None = None,
                      max_size: int | tuple[int, int] | None = None) -> StagePassCounts:
    """How many windows of the whole pyramid reach each stage of the cascade.

    Args:
        image, cascade, scale_factor, min_size, max_size: as ``vj.detect_multi_scale``.

    Returns:
        A ``StagePassCounts``; its ``accepted`` equals the number of raw windows
        ``vj.detect_raw`` returns with the same arguments.
    """
    prepared = prepare_cascade(cascade)
    n_stages = len(prepared.cascade.stages)
    histogram = np.zeros(n_stages + 3, dtype=np.int64)  # index depth + 2: skipped, low contrast, 0 .. S
    for level in stage_depths(image, prepared, scale_factor, min_size, max_size):
        histogram += np.bincount(level.depth.ravel() + 2, minlength=n_stages + 3)
    stopped_at = histogram[2:]  # stopped_at[s]: rejected by stage s; stopped_at[S]: accepted
    reached = np.cumsum(stopped_at[::-1])[::-1]
    weak_per_stage = np.array([len(s.weak_classifiers) for s in prepared.cascade.stages], dtype=np.int64)
    return StagePassCounts(windows=int(histogram.sum()), skipped=int(histogram[0]), low_contrast=int(histogram[1]),
                           reached=reached.astype(np.int64), weak_per_stage=weak_per_stage)
