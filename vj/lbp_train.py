"""Training LBP cascades (``opencv_traincascade -featureType LBP``): the feature pool, the
codes of every training window, the boosting round and the stage that joins the cascade.

* The pool (``lbp_feature_pool``) is OpenCV's ``CvLBPEvaluator::generateFeatures``: every
  3 x 3 block of ``w x h`` cells inside the window, in the order ``for x, for y, for w,
  for h`` (x, y from 0; w, h from 1; kept when ``x + 3w <= W`` and ``y + 3h <= H``), each
  stored as its top-left cell ``(x, y, w, h)`` (``vj.lbp.LbpCascade.features``). A 24 x 24
  window has 8,464 features, 20 x 20 3,969, 19 x 19 3,249.
* A feature's value on a window is its 8-bit code, computed by the detector's own
  ``vj.evaluate_lbp._code_at`` (the rule of ``vj.lbp.lbp_code`` and ``vj.evaluate_lbp``: bits 128 .. 1 clockwise from
  the top-left cell, set when the cell sum is ``>=`` the centre's) over the windows'
  integral images, for all windows and features at once (``lbp_codes``: ``(F, N)``
  uint8, threaded over features). The codes never change within a stage, so they are
  computed once per stage.
* A round (``lbp_boost_round``) normalises the weights, trims them as the Haar path does
  (``vj.boost.trimmed_mask``), takes the best categorical stump (``vj.lbp_split``), and
  re-weights: ``gentle`` leaves are the weighted means of ``y`` on each side over the
  search weights and ``w *= exp(-y f)``; ``discrete`` is Viola-Jones' (``vj.boost``):
  ``eps`` over all samples, leaves 0 (left, the non-face side) and ``alpha`` (right), the
  correct samples' weights times ``eps / (1 - eps)``. Leaves are rounded to float32, as
  OpenCV stores them, and each sample's stage sum adds them in float64 in round order,
  exactly as the detector does, so ``sum >= float32(threshold) - 1e-5`` gives in
  training the decision the detector gives.
* ``lbp_window_accepts`` runs a cascade on windows at given offsets of an integral
  buffer with the detector's own per-window walk (``vj.evaluate_lbp``: full stage sums
  in float64 against ``float32(threshold) - 1e-5f``, trees walked as
  ``predictCategorical``); the miner
  (``vj.mining``) and ``cascade_accepts`` use it. An LBP detector evaluates every window
  (there is no variance test), so mining keeps flat windows too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from .boost import MIN_DISCRETE_ERROR, WeakLearnerError, initial_weights, trimmed_mask
from .evaluate_lbp import _code_at, _node_geometry, _run_lbp
from .lbp import STAGE_THRESHOLD_EPS, LbpCascade, LbpStage, LbpWeakClassifier, PreparedLbpCascade
from .lbp_split import best_lbp_split
from .train_features import integrate_windows

_U = np.uint64


def lbp_feature_pool(window_size: tuple[int, int]) -> np.ndarray:
    """Every multi-block LBP feature of a ``(width, height)`` window, in OpenCV's order.

    Returns:
        ``(F, 4)`` int64 rows ``x, y, w, h`` (top-left cell and cell size of the 3 x 3 block),
        in the order of ``CvLBPEvaluator::generateFeatures`` (see the module doc).
    """
    width, height = (int(v) for v in window_size)
    if width < 3 or height < 3:
        raise ValueError(f"an LBP window must be at least 3x3, got {width}x{height}")
    x, y, w, h = np.meshgrid(np.arange(width), np.arange(height), np.arange(1, width // 3 + 1),
                             np.arange(1, height // 3 + 1), indexing="ij")
    keep = (x + 3 * w <= width) & (y + 3 * h <= height)  # ij meshgrid ravels in x, y, w, h loop order
    return np.stack([x[keep], y[keep], w[keep], h[keep]], axis=1).astype(np.int64)


def lbp_pool_size(window_size: tuple[int, int]) -> int:
    """Number of features of ``lbp_feature_pool(window_size)``, without building it."""
    width, height = (int(v) for v in window_size)
    return sum(max(0, (width - x) // 3) for x in range(width)) * sum(max(0, (height - y) // 3) for y in range(height))


@nb.njit(cache=True, parallel=True)
def _codes_kernel(flat_sums, geometry, out):  # pragma: no cover - compiled
    """``out[f, n]`` = feature f's code on window n; ``flat_sums`` is the ``(P, N)`` table raveled."""
    n = out.shape[1]
    for f in nb.prange(out.shape[0]):
        top, dx, dy = geometry[3 * f], geometry[3 * f + 1], geometry[3 * f + 2]
        r0, r1, r2, r3 = top, top + dy, top + dy + dy, top + dy + dy + dy
        for i in range(n):
            out[f, i] = np.uint8(_code_at(flat_sums, r0 + _U(i), r1 + _U(i), r2 + _U(i), r3 + _U(i),
                                          _U(0), dx, dx + dx, dx + dx + dx))


def lbp_codes(features: np.ndarray, sums: np.ndarray, window_size: tuple[int, int]) -> np.ndarray:
    """The 8-bit code of every feature on every window, as the detector computes it.

    Args:
        features: ``(F, 4)`` int64 ``x, y, w, h`` inside the window.
        sums: ``(P, N)`` int32 position-major integral images, ``P = (H+1)(W+1)``
            (``vj.train_features.WindowIntegrals.sums``).
        window_size: ``(W, H)``.

    Returns:
        ``(F, N)`` uint8 codes, feature-major (one contiguous row per feature).
    """
    width, height = window_size
    features = np.asarray(features, dtype=np.int64).reshape(-1, 4)
    if sums.ndim != 2 or sums.shape[0] != (width + 1) * (height + 1):
        raise ValueError(f"sums must be ((W+1)(H+1), N) for a {width}x{height} window, got {sums.shape}")
    x, y, w, h = features.T
    if features.size and (np.any(w < 1) | np.any(h < 1) | np.any(x < 0) | np.any(y < 0)
                          | np.any(x + 3 * w > width) | np.any(y + 3 * h > height)):
        raise ValueError(f"every feature's 3x3 block must lie inside the {width}x{height} window")
    n = sums.shape[1]
    # corner (i, j) of a feature's 4x4 cell-corner grid on window k sits at flat index
    # (y + i h) (W + 1) N + (x + j w) N + k: the detector's geometry in units of N
    geometry = np.stack([(y * (width + 1) + x) * n, w * n, h * (width + 1) * n], axis=1)
    out = np.empty((features.shape[0], n), dtype=np.uint8)
    _codes_kernel(np.ascontiguousarray(sums).reshape(-1), np.ascontiguousarray(geometry.reshape(-1), dtype=np.uint64),
                  out)
    return out


@dataclass
class LbpTrainingSet:
    """What an LBP boosting round reads.

    Attributes:
        features: ``(F, 4)`` the candidate features (a pool or a subset of one).
        codes: ``(F, N)`` uint8 codes of every feature on every window.
        labels: ``(N,)`` uint8, 1 for a face.
    """

    features: np.ndarray
    codes: np.ndarray
    labels: np.ndarray

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])


def build_lbp_training_set(windows: np.ndarray, labels: np.ndarray, features: np.ndarray) -> LbpTrainingSet:
    """Integrate the ``(N, H, W)`` uint8 windows and compute every feature's codes (once per stage)."""
    labels = np.asarray(labels)
    if labels.shape != (np.shape(windows)[0],) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be ({np.shape(windows)[0]},) zeros (non-face) and ones (face)")
    integrals = integrate_windows(np.asarray(windows))
    codes = lbp_codes(features, integrals.sums, integrals.window_size)
    return LbpTrainingSet(np.asarray(features, dtype=np.int64), codes, labels.astype(np.uint8))


@dataclass(eq=False)
class LbpStump:
    """One round's categorical stump.

    Attributes:
        feature_index: row of the feature in the training set's ``features``.
        left: ``(256,)`` bool, the codes that go left (their subset bit is set).
        left_value, right_value: float32 leaf values.
        error: the round's weighted error (``discrete``: ``eps``; ``gentle``: squared error
            over the search weights).
    """

    feature_index: int
    left: np.ndarray
    left_value: float
    right_value: float
    error: float

    def leaf_values(self, codes: np.ndarray) -> np.ndarray:
        """``(N,)`` float64 leaf of each sample, given its ``(N,)`` uint8 codes of this feature."""
        return np.where(self.left[np.asarray(codes, dtype=np.uint8)], self.left_value, self.right_value)

    def weak_classifier(self, cascade_feature_index: int) -> LbpWeakClassifier:
        """This stump in OpenCV's layout, its feature at ``cascade_feature_index``."""
        return LbpWeakClassifier.stump(cascade_feature_index, np.flatnonzero(self.left), self.left_value,
                                       self.right_value)


@dataclass
class LbpBoostState:
    """The stage being boosted: ``(N,)`` float64 weights (sum 1) and stage sums, the stumps so far.

    ``start`` gives ``discrete`` balanced weights (the paper) and ``gentle`` uniform ones
    (OpenCV), as ``vj.boost.BoostState`` does.
    """

    boost_type: str
    labels: np.ndarray
    weights: np.ndarray
    scores: np.ndarray
    stumps: list[LbpStump] = field(default_factory=list)
    weight_trim_rate: float = 0.0

    @classmethod
    def start(cls, labels: np.ndarray, boost_type: str = "gentle", weight_trim_rate: float = 0.0) -> "LbpBoostState":
        """A fresh state for ``(N,)`` labels (1 = face)."""
        if boost_type not in ("gentle", "discrete"):
            raise ValueError(f"LBP training boosts 'gentle' or 'discrete', got {boost_type!r}")
        labels = np.asarray(labels).astype(np.uint8)
        weights = initial_weights(labels, "balanced" if boost_type == "discrete" else "uniform")
        return cls(boost_type, labels, weights, np.zeros(labels.shape[0]), weight_trim_rate=weight_trim_rate)


def lbp_boost_round(state: LbpBoostState, data: LbpTrainingSet, use_reference: bool = False) -> LbpStump:
    """One round: the best categorical stump joins ``state`` (updated in place), weights re-set.

    Args:
        state: the boosting state (its labels must be the training set's).
        data: the codes.
        use_reference: search with the NumPy reference of the split kernel.

    Raises:
        WeakLearnerError: ``discrete`` and the best stump's error is >= 1/2.
    """
    if data.num_samples != state.labels.shape[0] or not np.array_equal(data.labels, state.labels):
        raise ValueError("the training set's labels differ from the boosting state's")
    weights = state.weights / state.weights.sum()
    search_weights = weights * trimmed_mask(weights, state.weight_trim_rate)
    choice = best_lbp_split(data.codes, search_weights, data.labels, state.boost_type, use_reference)
    goes_left = choice.left[data.codes[choice.feature_index]]
    is_face = data.labels > 0
    if state.boost_type == "discrete":
        wrong = goes_left == is_face  # right is the face side
        eps = float(weights[wrong].sum())
        if eps >= 0.5:
            raise WeakLearnerError(f"best LBP stump has weighted error {eps:.6f} >= 0.5")
        beta = max(eps, MIN_DISCRETE_ERROR) / (1.0 - eps)
        stump = LbpStump(choice.feature_index, choice.left, 0.0, float(np.float32(np.log(1.0 / beta))), eps)
        new_weights = np.where(wrong, weights, weights * beta)
    else:
        signs = np.where(is_face, 1.0, -1.0)
        left_w, right_w = search_weights[goes_left], search_weights[~goes_left]
        left = float(np.float32((left_w * signs[goes_left]).sum() / left_w.sum()))
        right = float(np.float32((right_w * signs[~goes_left]).sum() / right_w.sum()))
        stump = LbpStump(choice.feature_index, choice.left, left, right, choice.error)
        new_weights = weights * np.exp(-signs * np.where(goes_left, left, right))
    state.scores += np.where(goes_left, stump.left_value, stump.right_value)
    state.weights = new_weights / new_weights.sum()
    state.stumps.append(stump)
    return stump


def empty_lbp_cascade(window_size: tuple[int, int]) -> LbpCascade:
    """An LBP cascade with no features and no stage, to train into."""
    return LbpCascade(tuple(window_size), np.zeros((0, 4), dtype=np.int64), [])


def add_lbp_stage(cascade: LbpCascade, features: np.ndarray, stumps: list[LbpStump], threshold: float) -> LbpStage:
    """Append a stage of ``stumps`` (their ``feature_index`` rows of ``(F, 4)`` ``features``) to
    ``cascade``, adding their features to ``cascade.features`` (one already there is reused)."""
    if not stumps:
        raise ValueError("a stage needs at least one stump")
    position = {tuple(r): i for i, r in enumerate(cascade.features.tolist())}
    rows = [list(r) for r in cascade.features.tolist()]
    weak_classifiers = []
    for stump in stumps:
        key = tuple(int(v) for v in features[stump.feature_index])
        if key not in position:
            position[key] = len(rows)
            rows.append(list(key))
        weak_classifiers.append(stump.weak_classifier(position[key]))
    cascade.features = np.array(rows, dtype=np.int64).reshape(-1, 4)
    stage = LbpStage(float(threshold), weak_classifiers)
    cascade.stages.append(stage)
    cascade.validate()
    return stage


def _accepts_py(sums, starts, stage_first, stage_thr, weak_node, weak_leaf, geom, node_child, node_subset, leaves,
                passed):  # pragma: no cover - compiled
    """``passed[i]`` = 1 when the detector's full walk (``vj.evaluate_lbp._run_lbp``: every
    stage's float64 leaf sum against ``float32(threshold) - 1e-5f``) accepts window ``starts[i]``."""
    for i in nb.prange(starts.shape[0]):
        result, _ = _run_lbp(sums, starts[i], stage_first, stage_thr, weak_node, weak_leaf, geom, node_child,
                             node_subset, leaves)
        passed[i] = 1 if result == 1 else 0


_accepts_parallel = nb.njit(cache=True, parallel=True)(_accepts_py)
_accepts_serial = nb.njit(cache=True)(_accepts_py)
#: Below this many windows the serial kernel is faster than starting threads.
PARALLEL_MIN_WINDOWS = 4096


def lbp_window_accepts(prepared: PreparedLbpCascade, sums: np.ndarray, stride: int, starts: np.ndarray) -> np.ndarray:
    """Whether the detector accepts each window of an integral buffer.

    The walk and the code are the detector's own (``vj.evaluate_lbp``), on a plain
    (not interleaved) integral: node geometry from ``column_index = x``.

    Args:
        prepared: the cascade (``vj.lbp.prepare_lbp_cascade``).
        sums: flat int32/int64 upright integral buffer, rows of length ``stride``.
        stride: the buffer's row length.
        starts: ``(K,)`` uint64 flat offsets of the windows' top-left corners.

    Returns:
        ``(K,)`` bool.
    """
    p = prepared
    geom = _node_geometry(p.node_cells, np.arange(int(stride), dtype=np.int64), int(stride))
    passed = np.zeros(starts.shape[0], dtype=np.uint8)
    kernel = _accepts_parallel if starts.shape[0] >= PARALLEL_MIN_WINDOWS else _accepts_serial
    kernel(sums, np.ascontiguousarray(starts, dtype=np.uint64), p.stage_first, p.stage_thr, p.weak_node, p.weak_leaf,
           geom, p.node_child, p.node_subset, p.leaves, passed)
    return passed.astype(bool)
