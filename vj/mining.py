"""Hard-negative mining: background windows that the cascade trained so far still accepts.

A draw picks a background image and a scale at random (log-uniform between 1 and the
largest scale at which the window fits), shrinks the image by that scale with the
detector's resize (``vj.image.resize_bilinear``), and evaluates the cascade at distinct random
window positions of that level with the detector's own per-window code
(``vj.evaluate``: OpenCV's variance normalisation, low-contrast rejection and
``sum >= float32(threshold) - 1e-5`` stage test). The windows it accepts are exactly
windows the detector would report on that background, so they are the false alarms
the next stage must learn to reject. Windows OpenCV never evaluates (standard
deviation <= 10) are never returned. An LBP cascade (``vj.lbp.LbpCascade``) is run by
``vj.lbp_train.lbp_window_accepts`` on the same integral buffers; OpenCV's LBP detector
evaluates every window, flat ones included, and so does the miner.

``cascade_accepts`` runs the same code on ready-made windows (the positives), so
training drops exactly the positives the detector would miss.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from .cascade import Cascade
from .detect import PreparedCascade, _rect_offsets, prepare_cascade
from .evaluate import _run_stumps, _run_trees, _window_norm
from .image import resize_bilinear
from .integral import integral_images_fast, tilted_integral_image
from .lbp import LbpCascade
from .lbp import prepare_lbp_cascade
from .lbp_train import lbp_window_accepts
from .scan import _drop_stale_compiled_code


class NoNegativesLeftError(RuntimeError):
    """The cascade accepts (almost) no background window: there is nothing left to mine."""


#: The parallel kernels split the windows into this many contiguous chunks, each a
#: thread task running the serial loop: many chunks balance the threads (windows in
#: textured parts of a background pass more stages), and a serial loop per chunk runs
#: about 1.5 times faster per thread than a ``prange`` over single windows.
WINDOW_CHUNKS = 64


def _evaluate_range_py(sums, sqsums, starts, first, stop, norm_ofs, area, stage_first, stage_thr, node_ofs,
                       node_prm, stump_vals, passed):  # pragma: no cover - compiled
    """Cascade decision for windows ``first .. stop - 1``, whose top-left corners are the flat offsets ``starts``."""
    for i in range(first, stop):
        p = starts[i]
        norm = _window_norm(sums, sqsums, p, norm_ofs, area)
        if norm == 0:
            passed[i] = 0
        elif stage_thr.shape[0] == 0:
            passed[i] = 1
        else:
            result, _ = _run_stumps(sums, p, norm, stage_first, stage_thr, node_ofs, node_prm, stump_vals, False)
            passed[i] = 1 if result == 1 else 0


def _evaluate_trees_range_py(sums, sqsums, starts, first, stop, norm_ofs, area, stage_first, stage_thr, weak_node,
                             weak_leaf, node_ofs, node_prm, node_child, leaves, passed):  # pragma: no cover - compiled
    """``_evaluate_range_py`` for a cascade of trees (``vj.evaluate._run_trees``; at least one stage)."""
    for i in range(first, stop):
        p = starts[i]
        norm = _window_norm(sums, sqsums, p, norm_ofs, area)
        if norm == 0:
            passed[i] = 0
        else:
            result, _ = _run_trees(sums, p, norm, stage_first, stage_thr, weak_node, weak_leaf, node_ofs, node_prm,
                                   node_child, leaves, False)
            passed[i] = 1 if result == 1 else 0


_evaluate_range = numba.njit(cache=True, nogil=True)(_evaluate_range_py)
_evaluate_trees_range = numba.njit(cache=True, nogil=True)(_evaluate_trees_range_py)


@numba.njit(cache=True, nogil=True)
def _evaluate_serial(sums, sqsums, starts, norm_ofs, area, stage_first, stage_thr, node_ofs, node_prm, stump_vals,
                     passed):  # pragma: no cover - compiled
    _evaluate_range(sums, sqsums, starts, 0, starts.shape[0], norm_ofs, area, stage_first, stage_thr, node_ofs,
                    node_prm, stump_vals, passed)


@numba.njit(cache=True, nogil=True, parallel=True)
def _evaluate_parallel(sums, sqsums, starts, norm_ofs, area, stage_first, stage_thr, node_ofs, node_prm, stump_vals,
                       passed):  # pragma: no cover - compiled
    n = starts.shape[0]
    for c in numba.prange(WINDOW_CHUNKS):
        _evaluate_range(sums, sqsums, starts, c * n // WINDOW_CHUNKS, (c + 1) * n // WINDOW_CHUNKS, norm_ofs, area,
                        stage_first, stage_thr, node_ofs, node_prm, stump_vals, passed)


@numba.njit(cache=True, nogil=True)
def _evaluate_trees_serial(sums, sqsums, starts, norm_ofs, area, stage_first, stage_thr, weak_node, weak_leaf,
                           node_ofs, node_prm, node_child, leaves, passed):  # pragma: no cover - compiled
    _evaluate_trees_range(sums, sqsums, starts, 0, starts.shape[0], norm_ofs, area, stage_first, stage_thr, weak_node,
                          weak_leaf, node_ofs, node_prm, node_child, leaves, passed)


@numba.njit(cache=True, nogil=True, parallel=True)
def _evaluate_trees_parallel(sums, sqsums, starts, norm_ofs, area, stage_first, stage_thr, weak_node, weak_leaf,
                             node_ofs, node_prm, node_child, leaves, passed):  # pragma: no cover - compiled
    n = starts.shape[0]
    for c in numba.prange(WINDOW_CHUNKS):
        _evaluate_trees_range(sums, sqsums, starts, c * n // WINDOW_CHUNKS, (c + 1) * n // WINDOW_CHUNKS, norm_ofs,
                              area, stage_first, stage_thr, weak_node, weak_leaf, node_ofs, node_prm, node_child,
                              leaves, passed)


for _kernel in (_evaluate_range, _evaluate_trees_range, _evaluate_serial, _evaluate_parallel, _evaluate_trees_serial,
                _evaluate_trees_parallel):  # their cached code holds evaluate.py's, inlined
    _drop_stale_compiled_code(_kernel, ("evaluate.py", "mining.py"))


#: Below this many windows the serial kernel is faster than starting threads.
PARALLEL_MIN_WINDOWS = 4096


class _Evaluator:
    """A cascade (possibly with no stage) in the detector's packed form. An ``LbpCascade`` (even
    one with no stage) is evaluated on every window, as OpenCV's LBP detector has no variance test."""

    def __init__(self, cascade: Cascade | LbpCascade | None, window_size: tuple[int, int]) -> None:
        self.window_size = (int(window_size[0]), int(window_size[1]))
        self.prepared: PreparedCascade | None = None
        self.is_lbp = isinstance(cascade, LbpCascade)
        if cascade is not None and cascade.stages:
            if tuple(cascade.window_size) != self.window_size:
                raise ValueError(f"cascade window {cascade.window_size} differs from {self.window_size}")
        if self.is_lbp:
            self.lbp = prepare_lbp_cascade(cascade) if cascade.stages else None
        elif cascade is not None and cascade.stages:
            self.prepared = prepare_cascade(cascade)
        self.has_tilted = self.prepared is not None and self.prepared.has_tilted

    def run(self, sums: np.ndarray, sqsums: np.ndarray, stride: int, tilted_base: int,
            starts: np.ndarray) -> np.ndarray:
        """``(K,)`` bool acceptance of windows at flat offsets ``starts`` of the buffers."""
        if self.is_lbp:
            if self.lbp is None:
                return np.ones(starts.shape[0], dtype=bool)
            return lbp_window_accepts(self.lbp, sums, stride, starts)
        win_w, win_h = self.window_size
        norm_ofs = np.array([stride + 1, stride + win_w - 1, (win_h - 1) * stride + 1,
                             (win_h - 1) * stride + win_w - 1], dtype=np.uint64)
        area = float((win_w - 2) * (win_h - 2))
        passed = np.zeros(starts.shape[0], dtype=np.uint8)
        p = self.prepared
        kernel = _evaluate_parallel if starts.shape[0] >= PARALLEL_MIN_WINDOWS else _evaluate_serial
        if p is None:
            empty_i, empty_f = np.zeros(1, np.int64), np.zeros(0)
            kernel(sums, sqsums, starts, norm_ofs, area, empty_i, empty_f, np.zeros(0, np.uint64),
                         np.zeros(0, np.float32), empty_f, passed)
        else:
            ofs = _rect_offsets(p, stride, tilted_base, np.uint64)
            if p.is_stumps:
                kernel(sums, sqsums, starts, norm_ofs, area, p.stage_first, p.stage_thr, ofs, p.node_prm,
                       p.stump_vals, passed)
            else:  # trees (opencv's -maxDepth > 1, vj.tree_train)
                trees = _evaluate_trees_parallel if starts.shape[0] >= PARALLEL_MIN_WINDOWS else _evaluate_trees_serial
                trees(sums, sqsums, starts, norm_ofs, area, p.stage_first, p.stage_thr, p.weak_node, p.weak_leaf, ofs,
                      p.node_prm, p.node_child, p.leaves, passed)
        return passed.astype(bool)


def _window_integrals(windows: np.ndarray, with_tilted: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Flat int64 buffers holding each window's integral (and tilted integral) one after another."""
    n, height, width = windows.shape
    plane = (height + 1) * (width + 1)
    sums = np.zeros((n, height + 1, width + 1), dtype=np.int64)
    sums[:, 1:, 1:] = windows.astype(np.int64).cumsum(1).cumsum(2)
    sq = np.zeros_like(sums)
    sq[:, 1:, 1:] = (windows.astype(np.int64) ** 2).cumsum(1).cumsum(2)
    if with_tilted:
        tilted = np.stack([tilted_integral_image(w).astype(np.int64) for w in windows])
        block = np.concatenate([sums.reshape(n, -1), tilted.reshape(n, -1)], axis=1)
    else:
        block = sums.reshape(n, -1)
    sq_block = np.concatenate([sq.reshape(n, -1), np.zeros((n, block.shape[1] - plane), np.int64)], axis=1)
    return np.ascontiguousarray(block.ravel()), np.ascontiguousarray(sq_block.ravel()), block.shape[1], plane


def cascade_accepts(cascade: Cascade | LbpCascade | None, windows: np.ndarray) -> np.ndarray:
    """Whether the detector would accept each window at its own size (no scaling).

    Args:
        cascade: the cascade (None or no stages: every window OpenCV evaluates passes).
        windows: ``(N, H, W)`` uint8 at the cascade's window size.

    Returns:
        ``(N,)`` bool.
    """
    windows = np.asarray(windows)
    if windows.ndim != 3 or windows.dtype != np.uint8:
        raise ValueError(f"windows must be (N, H, W) uint8, got shape {windows.shape} dtype {windows.dtype}")
    evaluator = _Evaluator(cascade, (windows.shape[2], windows.shape[1]))
    if windows.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    sums, sqsums, block, plane = _window_integrals(windows, evaluator.has_tilted)
    starts = (np.arange(windows.shape[0], dtype=np.uint64) * np.uint64(block))
    return evaluator.run(sums, sqsums, windows.shape[2] + 1, plane, starts)


@dataclass
class MiningResult:
    """Negatives mined for one stage.

    Attributes:
        windows: ``(count, H, W)`` uint8 accepted background windows.
        windows_tried: windows evaluated to find them.
        windows_accepted: how many of those the cascade accepted (>= the windows kept).
        seconds: wall time.
    """

    windows: np.ndarray
    windows_tried: int
    windows_accepted: int
    seconds: float

    @property
    def acceptance_ratio(self) -> float:
        """Fraction of tried windows the cascade accepted: its false-positive rate on backgrounds."""
        return self.windows_accepted / max(self.windows_tried, 1)

    @property
    def per_second(self) -> float:
        """Negatives found per second."""
        return self.windows.shape[0] / max(self.seconds, 1e-9)


class NegativeMiner:
    """Draws background windows at random positions and scales (see the module doc).

    Args:
        backgrounds: face-free grey ``(H, W)`` uint8 images.
        window_size: ``(width, height)`` of the training window.
        positions_per_draw: most window positions evaluated per (image, scale) draw; they
            are distinct, so a level with fewer positions is evaluated whole.
        min_draws: a stage's negatives come from at least this many draws (each draw
            keeps at most ``ceil(count / min_draws)`` of the windows it finds), so they
            are spread over many images and scales.
    """

    def __init__(self, backgrounds: list[np.ndarray], window_size: tuple[int, int],
                 positions_per_draw: int = 32768, min_draws: int = 250) -> None:
        self.window_size = (int(window_size[0]), int(window_size[1]))
        usable = [np.ascontiguousarray(b, dtype=np.uint8) for b in backgrounds
                  if b.ndim == 2 and b.shape[1] >= self.window_size[0] and b.shape[0] >= self.window_size[1]]
        if not usable:
            raise ValueError(f"no background image is at least as large as the {self.window_size[0]}x"
                             f"{self.window_size[1]} window ({len(backgrounds)} images given)")
        self.backgrounds = usable
        self.positions_per_draw = int(positions_per_draw)
        self.min_draws = max(1, int(min_draws))

    @staticmethod
    def _positions(n_positions: int, wanted: float, rng: np.random.Generator) -> np.ndarray:
        """About ``wanted`` distinct window positions of a level with ``n_positions``, increasing
        (raster order, which the cascade reads fastest): every position when ``wanted`` is at
        least half of them, otherwise a uniform draw with the rare repeats dropped. Drawn with
        replacement and kept, a small level used to give the same window (and negative) twice.
        """
        if wanted >= n_positions / 2:
            return np.arange(n_positions, dtype=np.int64)
        return np.unique(rng.integers(0, n_positions, int(wanted)))

    def mine(self, cascade: Cascade | LbpCascade | None, count: int, rng: np.random.Generator, max_windows: int = 10**9,
             progress: Callable[[int, int], None] | None = None) -> MiningResult:
        """Collect ``count`` windows the cascade accepts.

        Args:
            cascade: the cascade so far (None / no stages: any window OpenCV evaluates).
            count: negatives wanted.
            rng: the random source (a seeded one makes mining repeatable).
            max_windows: give up after evaluating this many windows.
            progress: optional ``progress(found, tried)`` after each draw.

        Raises:
            NoNegativesLeftError: ``max_windows`` tried and fewer than ``count`` accepted.
        """
        start = time.perf_counter()
        evaluator = _Evaluator(cascade, self.window_size)
        win_w, win_h = self.window_size
        found: list[np.ndarray] = []
        n_found = tried = n_accepted = 0
        per_draw = -(-count // self.min_draws)
        while n_found < count:
            if tried >= max_windows:
                raise NoNegativesLeftError(
                    f"the cascade accepted only {n_found} of {tried} background windows tried "
                    f"(false-positive rate {n_found / max(tried, 1):.2e}); {count} negatives were wanted")
            image = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            height, width = image.shape
            max_scale = min(width / win_w, height / win_h)
            scale = float(np.exp(rng.uniform(0.0, np.log(max_scale)))) if max_scale > 1 else 1.0
            level_w = max(win_w, min(width, int(round(width / scale))))
            level_h = max(win_h, min(height, int(round(height / scale))))
            level = resize_bilinear(image, level_w, level_h)
            sums, sqsums, tilted = integral_images_fast(level, tilted=evaluator.has_tilted)
            stride, plane = level_w + 1, (level_h + 1) * (level_w + 1)
            flat = sums.ravel() if tilted is None else np.concatenate([sums.ravel(), tilted.ravel()])
            # enough positions to find about twice this draw's share, at the rate seen so far
            rate = (n_accepted + 1) / (tried + 1)
            cols, rows = level_w - win_w + 1, level_h - win_h + 1
            picked = self._positions(cols * rows, min(self.positions_per_draw, max(64, 2 * per_draw / rate)), rng)
            starts = ((picked // cols) * stride + picked % cols).astype(np.uint64)
            accepted = np.flatnonzero(evaluator.run(flat, sqsums.ravel(), stride, plane, starts))
            tried += picked.shape[0]
            n_accepted += accepted.shape[0]
            # the kept ones at random: the positions are in raster order
            for i in rng.permutation(accepted)[:per_draw]:
                if n_found >= count:
                    break
                y, x = divmod(int(picked[i]), cols)
                found.append(level[y:y + win_h, x:x + win_w])
                n_found += 1
            if progress is not None:
                progress(n_found, tried)
        windows = np.stack(found) if found else np.zeros((0, win_h, win_w), np.uint8)
        return MiningResult(np.ascontiguousarray(windows), tried, n_accepted, time.perf_counter() - start)
