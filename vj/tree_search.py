"""The best split of one tree node: the binned histogram search of ``vj.stump_search``
restricted to the node's samples, then an exact refinement on their real values.

A boosted tree (``vj.tree_train``) splits each node on the best threshold of the best
feature over *that node's* samples, as OpenCV's ``CvDTree::find_best_split`` does. Each
feature's bins (``vj.train_features.BinnedFeatureIndex``) are global, so a node's
histogram is one pass over the node's own sample columns (a sorted list), adding each
sample's weight ``w`` and weighted target ``w t`` into that feature's bins; a prefix
scan then scores the split after every bin. Notation: over the node, ``W`` the total
weight and ``T = sum w t``; left of a split ``L`` its weight and ``S = sum w t``;
right ``R = W - L`` and ``T - S``.

Two criteria, OpenCV's (``CvBoostTree::find_split_ord_reg`` / ``find_split_ord_class``):

* ``sqerr``: weighted least squares of the targets, maximise ``S^2 / L + (T - S)^2 / R``.
  OpenCV's Gentle AdaBoost (``t = +-1``) and LogitBoost (``t = z``, the working
  response) fit regression trees with it. Real AdaBoost's classification trees use
  the Gini criterion ``sum over sides (p^2 + q^2) / b`` over the face / non-face
  weights ``p`` / ``q`` of a side of weight ``b``; for two classes that equals
  ``W / 2 + (S^2 / L + (T - S)^2 / R) / 2`` with ``t = +-1``, so Real AdaBoost is
  scored with ``sqerr`` of ``t = +-1``: the same split.
* ``misclass`` (Discrete AdaBoost, ``t = +-1``): the weight the better of the two
  opposite labellings of the sides gets right, ``max(q_L + p_R, p_L + q_R)``, with
  ``p = (b + s) / 2`` and ``q = (b - s) / 2`` from a side's weight ``b`` and sum ``s``.

Only samples of positive weight are node samples, so a side is non-empty exactly
when its weight is positive; the scan stops before the node's last non-empty bin so
that the right side is never empty. As in the stump search, a lossless feature (at
most 256 distinct values) is scored at every split its real values allow, and
``best_node_split`` refines the ``REFINE_CANDIDATES`` best features exactly on the
node samples' real float32 values, the threshold being the float32 midpoint of the
two node values it separates (OpenCV's ``(v[i] + v[i + 1]) * 0.5f``).
``node_scores_reference`` is the kernel in NumPy (``np.bincount``), adding in the
same order, bit for bit.
"""
from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from vj.stump_search import REFINE_CANDIDATES, stump_threshold
from vj.train_features import MAX_BINS, BinnedFeatureIndex, TrainingSet

CRITERIA = ("sqerr", "misclass")
#: Exact scores within this relative distance of the best count as ties, won by the
#: lowest feature index (so summation order cannot pick between equal splits).
TIE_RTOL = 1e-12


class NodeSplit(NamedTuple):
    """The chosen split of a node.

    Attributes:
        feature_index: pool index of the feature.
        threshold: float32 threshold; ``value < threshold`` goes left.
        score: the criterion's exact value (larger is better, see the module doc).
        goes_left: ``(n,)`` bool over the node's samples, in the order given.
    """

    feature_index: int
    threshold: float
    score: float
    goes_left: np.ndarray


class NodeTotals(NamedTuple):
    """``W`` and ``T`` of a node (see the module doc)."""

    weight: float
    weighted_target: float


def node_totals(w: np.ndarray, wt: np.ndarray) -> NodeTotals:
    """Totals of a node's ``(n,)`` weights and weighted targets, summed in the given order."""
    return NodeTotals(float(np.sum(w)), float(np.sum(wt)))


@nb.njit(cache=True, inline="always")
def _split_score(left_w, left_wt, total_w, total_wt, misclass):
    """The criterion of one split from its left weight and weighted target sum; -1
    when a side's weight is not positive."""
    right_w = total_w - left_w
    right_wt = total_wt - left_wt
    if not (left_w > 0.0 and right_w > 0.0):
        return -1.0
    if misclass:
        return max(((left_w - left_wt) + (right_w + right_wt)) / 2, ((left_w + left_wt) + (right_w - right_wt)) / 2)
    return (left_wt * left_wt * right_w + right_wt * right_wt * left_w) / (left_w * right_w)


@nb.njit(cache=True, inline="always")
def _best_node_score(hist, n_bins, total_w, total_wt, misclass):
    """The largest criterion over the splits between non-empty bins of one feature's
    ``(2 * MAX_BINS,)`` histogram (weights, then weighted targets); -1 if none."""
    last = n_bins - 1
    while last > 0 and hist[last] == 0.0:
        last -= 1
    left_w = left_wt = 0.0
    best = -1.0
    for j in range(last):
        left_w += hist[j]
        left_wt += hist[MAX_BINS + j]
        best = max(best, _split_score(left_w, left_wt, total_w, total_wt, misclass))
    return best


@nb.njit(cache=True, parallel=True, nogil=True)
def _node_kernel(bins, num_bins, features, columns, w, wt, total_w, total_wt, misclass, best):
    """best[k] = the largest criterion of feature ``features[k]`` over the node's
    ``columns`` (increasing), ``w`` and ``wt`` indexed by column; four features at a
    time share the loads of the weights."""
    n_features = features.shape[0]
    for g in nb.prange((n_features + 3) // 4):
        k0 = 4 * g
        k1, k2, k3 = min(k0 + 1, n_features - 1), min(k0 + 2, n_features - 1), min(k0 + 3, n_features - 1)
        r0, r1, r2, r3 = bins[features[k0]], bins[features[k1]], bins[features[k2]], bins[features[k3]]
        hists = np.zeros((4, 2 * MAX_BINS))
        h0, h1, h2, h3 = hists[0], hists[1], hists[2], hists[3]
        for i in range(columns.shape[0]):
            c = columns[i]
            x, y = w[c], wt[c]
            b0, b1, b2, b3 = r0[c], r1[c], r2[c], r3[c]
            h0[b0] += x
            h0[MAX_BINS + b0] += y
            h1[b1] += x
            h1[MAX_BINS + b1] += y
            h2[b2] += x
            h2[MAX_BINS + b2] += y
            h3[b3] += x
            h3[MAX_BINS + b3] += y
        best[k0] = _best_node_score(h0, num_bins[features[k0]], total_w, total_wt, misclass)
        best[k1] = _best_node_score(h1, num_bins[features[k1]], total_w, total_wt, misclass)
        best[k2] = _best_node_score(h2, num_bins[features[k2]], total_w, total_wt, misclass)
        best[k3] = _best_node_score(h3, num_bins[features[k3]], total_w, total_wt, misclass)


def _checked(criterion: str, columns: np.ndarray, w: np.ndarray, wt: np.ndarray) -> tuple[np.ndarray, ...]:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    columns = np.ascontiguousarray(columns, dtype=np.int64)
    if columns.size and np.any(np.diff(columns) <= 0):
        raise ValueError("a node's columns must be strictly increasing")
    return columns, np.ascontiguousarray(w, dtype=np.float64), np.ascontiguousarray(wt, dtype=np.float64)


def node_scores(index: BinnedFeatureIndex, columns: np.ndarray, w: np.ndarray, wt: np.ndarray,
                criterion: str, features: np.ndarray | None = None) -> np.ndarray:
    """Each feature's best criterion over one node's samples at its bin boundaries
    (Numba, parallel over features; exact for ``index.lossless`` features).

    Args:
        index: ``(F, N)`` binned feature values.
        columns: ``(n,)`` strictly increasing bin columns of the node's samples
            (column ``k`` holds sample ``index.order[k]``), all of positive weight.
        w, wt: ``(N,)`` float64 weights and weighted targets, indexed by column.
        criterion: ``"sqerr"`` or ``"misclass"`` (module doc).
        features: ``(K,)`` pool indices to score; all F when None.

    Returns:
        ``(K,)`` float64 scores, larger is better; -1 where the feature cannot split the node.
    """
    columns, w, wt = _checked(criterion, columns, w, wt)
    ids = np.arange(index.num_features, dtype=np.int64) if features is None else np.asarray(features, np.int64)
    totals = node_totals(w[columns], wt[columns])
    best = np.empty(ids.shape[0], dtype=np.float64)
    if ids.size:
        _node_kernel(index.bins, index.num_bins, ids, columns, w, wt, totals.weight, totals.weighted_target,
                     criterion == "misclass", best)
    return best


def _scores_numpy(left_w: np.ndarray, left_wt: np.ndarray, total_w: float, total_wt: float,
                  criterion: str) -> np.ndarray:
    """``_split_score`` for arrays of left sums (any shape), the kernel's numbers bit for bit."""
    right_w, right_wt = total_w - left_w, total_wt - left_wt
    if criterion == "misclass":
        scores = np.maximum(((left_w - left_wt) + (right_w + right_wt)) / 2,
                            ((left_w + left_wt) + (right_w - right_wt)) / 2)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = (left_wt * left_wt * right_w + right_wt * right_wt * left_w) / (left_w * right_w)
    return np.where((left_w > 0) & (right_w > 0), scores, -1.0)


def node_scores_reference(index: BinnedFeatureIndex, columns: np.ndarray, w: np.ndarray, wt: np.ndarray,
                          criterion: str, features: np.ndarray | None = None) -> np.ndarray:
    """``node_scores`` in vectorised NumPy (``np.bincount`` histograms, cumulative sums):
    same arguments, the same ``(K,)`` scores bit for bit."""
    columns, w, wt = _checked(criterion, columns, w, wt)
    ids = np.arange(index.num_features, dtype=np.int64) if features is None else np.asarray(features, np.int64)
    totals = node_totals(w[columns], wt[columns])
    best = np.full(ids.shape[0], -1.0)
    for k, f in enumerate(ids):
        b = index.bins[f, columns].astype(np.int64)
        hist_w = np.bincount(b, weights=w[columns], minlength=MAX_BINS)
        hist_wt = np.bincount(b, weights=wt[columns], minlength=MAX_BINS)
        nonempty = np.flatnonzero(hist_w[: index.num_bins[f]] != 0.0)
        last = int(nonempty[-1]) if nonempty.size else 0
        if last == 0:
            continue
        left_w, left_wt = np.cumsum(hist_w[:last]), np.cumsum(hist_wt[:last])
        scores = _scores_numpy(left_w, left_wt, totals.weight, totals.weighted_target, criterion)
        best[k] = max(-1.0, float(scores.max()))
    return best


def exact_node_split(values: np.ndarray, w: np.ndarray, wt: np.ndarray, criterion: str,
                     feature_index: int = -1) -> NodeSplit | None:
    """The best split of one feature over a node's samples' real values: every threshold
    between two distinct values is scored (the first on ties); None when all are equal.

    Args:
        values: ``(n,)`` float32 values of the feature on the node's samples.
        w, wt: ``(n,)`` positive weights and weighted targets of those samples.
        criterion: ``"sqerr"`` or ``"misclass"``.
        feature_index: stored in the returned split.
    """
    values = np.asarray(values, dtype=np.float32)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    allowed = ordered[1:] > ordered[:-1]
    if not allowed.any():
        return None
    w, wt = np.asarray(w, np.float64)[order], np.asarray(wt, np.float64)[order]
    left_w, left_wt = np.cumsum(w)[:-1], np.cumsum(wt)[:-1]
    # each side summed on its own (no cancellation when one side is light)
    right_w, right_wt = np.cumsum(w[::-1])[::-1][1:], np.cumsum(wt[::-1])[::-1][1:]
    if criterion == "misclass":
        scores = np.maximum(((left_w - left_wt) + (right_w + right_wt)) / 2,
                            ((left_w + left_wt) + (right_w - right_wt)) / 2)
    else:
        scores = left_wt * left_wt / left_w + right_wt * right_wt / right_w
    rank = int(np.argmax(np.where(allowed, scores, -np.inf)))
    threshold = stump_threshold(ordered[rank], ordered[rank + 1])
    return NodeSplit(int(feature_index), threshold, float(scores[rank]), values < np.float32(threshold))


def best_node_split(data: TrainingSet, samples: np.ndarray, columns: np.ndarray, w_col: np.ndarray,
                    wt_col: np.ndarray, criterion: str, use_reference: bool = False,
                    candidates: int = REFINE_CANDIDATES) -> NodeSplit | None:
    """The best split of one node over all features (histograms, then the exact
    refinement of the ``candidates`` best; see the module doc).

    Args:
        data: the training set.
        samples: ``(n,)`` sample indices of the node, in the order of ``columns``
            (``data.index.order[columns]``).
        columns: ``(n,)`` strictly increasing bin columns of those samples.
        w_col, wt_col: ``(N,)`` weights and weighted targets by column.
        criterion: ``"sqerr"`` or ``"misclass"``.
        use_reference: score the histograms with ``node_scores_reference``.
        candidates: features refined exactly (>= 1).

    Returns:
        The best exact split (the lowest feature index among ties within
        ``TIE_RTOL``), its ``goes_left`` in the order of ``samples``; None when no
        feature separates the node's samples.
    """
    search = node_scores_reference if use_reference else node_scores
    scores = search(data.index, columns, w_col, wt_col, criterion)
    splittable = int((scores >= 0).sum())
    if splittable == 0:
        return None
    chosen = np.sort(np.argsort(-scores, kind="stable")[: max(1, min(int(candidates), splittable))])
    values = data.feature_values(chosen)[:, samples]
    w, wt = w_col[columns], wt_col[columns]
    splits = [exact_node_split(values[k], w, wt, criterion, int(chosen[k])) for k in range(chosen.shape[0])]
    splits = [s for s in splits if s is not None]
    if not splits:
        raise RuntimeError("the candidate features' values are all equal on the node, yet their bins split it")
    top = max(s.score for s in splits)
    return next(s for s in splits if s.score >= top - TIE_RTOL * abs(top))
