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

A tree grows a level at a time, and ``level_scores`` histograms all the nodes of a
level in one pass over each feature's bins (each sample into its own node's bins).
When every target is ``+-1`` by class (Gentle, Real and Discrete AdaBoost), a bin's
weight and weighted target are ``p + q`` and ``p - q`` of its face and non-face
weights, so the pass adds each sample once, into a face or a non-face histogram, as
the stump search does; LogitBoost's real-valued targets take two updates a sample.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numba as nb
import numpy as np

from vj.stump_search import HISTOGRAM_CHUNKS, REFINE_CANDIDATES, stump_threshold
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
    ``(2 * MAX_BINS,)`` histogram (weights, then weighted targets); -1 if none. Leaves
    the histogram all zero for the next feature: bins above the last non-empty one are
    empty (every node sample has a positive weight), and the rest it clears as it reads."""
    last = n_bins - 1
    while last > 0 and hist[last] == 0.0:
        last -= 1
    left_w = left_wt = 0.0
    best = -1.0
    for j in range(last):
        left_w += hist[j]
        left_wt += hist[MAX_BINS + j]
        hist[j] = 0.0
        hist[MAX_BINS + j] = 0.0
        best = max(best, _split_score(left_w, left_wt, total_w, total_wt, misclass))
    if last >= 0:
        hist[last] = 0.0
        hist[MAX_BINS + last] = 0.0
    return best


@nb.njit(cache=True, parallel=True, nogil=True)
def _level_kernel(bins, num_bins, features, columns, node_of, w, wt, total_w, total_wt, misclass, best):
    """best[m, k] = the largest criterion of feature ``features[k]`` over node ``m``'s
    samples, for all the nodes of one tree level in one pass over each feature's bins.

    ``columns`` (increasing) lists every node's sample columns merged, ``node_of[i]``
    the node of ``columns[i]``; ``w`` and ``wt`` are indexed by column. Each node's
    histogram adds its samples in increasing column order, as a pass over that node
    alone would, so the scores are the same bit for bit. Four features at a time share
    the loads of the weights; one set of histograms per chunk of features, cleared by
    the scan that reads them.
    """
    n_features = features.shape[0]
    n_nodes = total_w.shape[0]
    width = 2 * MAX_BINS
    n_groups = (n_features + 3) // 4
    n_chunks = min(n_groups, HISTOGRAM_CHUNKS)
    for chunk in nb.prange(n_chunks):
        hists = np.zeros((4, n_nodes * width))
        h0, h1, h2, h3 = hists[0], hists[1], hists[2], hists[3]
        for g in range(chunk * n_groups // n_chunks, (chunk + 1) * n_groups // n_chunks):
            k0 = 4 * g
            k1, k2, k3 = min(k0 + 1, n_features - 1), min(k0 + 2, n_features - 1), min(k0 + 3, n_features - 1)
            r0, r1, r2, r3 = bins[features[k0]], bins[features[k1]], bins[features[k2]], bins[features[k3]]
            for i in range(columns.shape[0]):
                c = columns[i]
                x, y = w[c], wt[c]
                base = np.uint64(node_of[i]) * np.uint64(width)  # unsigned: no wrap-around test per update
                b0, b1 = base + np.uint64(r0[c]), base + np.uint64(r1[c])
                b2, b3 = base + np.uint64(r2[c]), base + np.uint64(r3[c])
                h0[b0] += x
                h0[np.uint64(MAX_BINS) + b0] += y
                h1[b1] += x
                h1[np.uint64(MAX_BINS) + b1] += y
                h2[b2] += x
                h2[np.uint64(MAX_BINS) + b2] += y
                h3[b3] += x
                h3[np.uint64(MAX_BINS) + b3] += y
            for m in range(n_nodes):
                lo, hi = m * width, (m + 1) * width
                best[m, k0] = _best_node_score(h0[lo:hi], num_bins[features[k0]], total_w[m], total_wt[m], misclass)
                best[m, k1] = _best_node_score(h1[lo:hi], num_bins[features[k1]], total_w[m], total_wt[m], misclass)
                best[m, k2] = _best_node_score(h2[lo:hi], num_bins[features[k2]], total_w[m], total_wt[m], misclass)
                best[m, k3] = _best_node_score(h3[lo:hi], num_bins[features[k3]], total_w[m], total_wt[m], misclass)


@nb.njit(cache=True, inline="always")
def _best_two_class_score(hist, n_bins, total_w, total_wt, misclass):
    """``_best_node_score`` of a ``(2 * MAX_BINS,)`` histogram of face weights, then
    non-face weights (targets ``+1`` / ``-1``): a bin's weight is ``p + q`` and its
    weighted target ``p - q``. Leaves the histogram all zero."""
    last = n_bins - 1
    while last > 0 and hist[last] + hist[MAX_BINS + last] == 0.0:
        last -= 1
    left_w = left_wt = 0.0
    best = -1.0
    for j in range(last):
        p, q = hist[j], hist[MAX_BINS + j]
        left_w += p + q
        left_wt += p - q
        hist[j] = 0.0
        hist[MAX_BINS + j] = 0.0
        best = max(best, _split_score(left_w, left_wt, total_w, total_wt, misclass))
    if last >= 0:
        hist[last] = 0.0
        hist[MAX_BINS + last] = 0.0
    return best


@nb.njit(cache=True, parallel=True, nogil=True)
def _two_class_level_kernel(bins, num_bins, features, columns, slot_of, w, total_w, total_wt, misclass, best):
    """``_level_kernel`` when every target is ``+1`` (face) or ``-1`` (non-face), as for
    Gentle, Real and Discrete AdaBoost: one histogram update per sample instead of two,
    into its node's face or non-face half (``slot_of[i]`` = 2 x node + 1 for a non-face),
    as the stump search does."""
    n_features = features.shape[0]
    n_nodes = total_w.shape[0]
    width = 2 * MAX_BINS
    n_groups = (n_features + 3) // 4
    n_chunks = min(n_groups, HISTOGRAM_CHUNKS)
    for chunk in nb.prange(n_chunks):
        hists = np.zeros((4, n_nodes * width))
        h0, h1, h2, h3 = hists[0], hists[1], hists[2], hists[3]
        for g in range(chunk * n_groups // n_chunks, (chunk + 1) * n_groups // n_chunks):
            k0 = 4 * g
            k1, k2, k3 = min(k0 + 1, n_features - 1), min(k0 + 2, n_features - 1), min(k0 + 3, n_features - 1)
            r0, r1, r2, r3 = bins[features[k0]], bins[features[k1]], bins[features[k2]], bins[features[k3]]
            for i in range(columns.shape[0]):
                c = columns[i]
                x = w[c]
                base = np.uint64(slot_of[i]) * np.uint64(MAX_BINS)
                h0[base + np.uint64(r0[c])] += x
                h1[base + np.uint64(r1[c])] += x
                h2[base + np.uint64(r2[c])] += x
                h3[base + np.uint64(r3[c])] += x
            for m in range(n_nodes):
                lo, hi = m * width, (m + 1) * width
                t_w, t_wt = total_w[m], total_wt[m]
                best[m, k0] = _best_two_class_score(h0[lo:hi], num_bins[features[k0]], t_w, t_wt, misclass)
                best[m, k1] = _best_two_class_score(h1[lo:hi], num_bins[features[k1]], t_w, t_wt, misclass)
                best[m, k2] = _best_two_class_score(h2[lo:hi], num_bins[features[k2]], t_w, t_wt, misclass)
                best[m, k3] = _best_two_class_score(h3[lo:hi], num_bins[features[k3]], t_w, t_wt, misclass)


def _checked(criterion: str, columns: np.ndarray, w: np.ndarray, wt: np.ndarray) -> tuple[np.ndarray, ...]:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    columns = np.ascontiguousarray(columns, dtype=np.int64)
    if columns.size and np.any(np.diff(columns) <= 0):
        raise ValueError("a node's columns must be strictly increasing")
    return columns, np.ascontiguousarray(w, dtype=np.float64), np.ascontiguousarray(wt, dtype=np.float64)


def level_scores(index: BinnedFeatureIndex, node_columns: Sequence[np.ndarray], w: np.ndarray, wt: np.ndarray,
                 criterion: str, features: np.ndarray | None = None,
                 face_col: np.ndarray | None = None) -> np.ndarray:
    """Each feature's best criterion over each node of one tree level, at its bin
    boundaries (Numba, parallel over features, one pass over the bins for all the nodes;
    exact for ``index.lossless`` features).

    Args:
        index: ``(F, N)`` binned feature values.
        node_columns: M ``(n_m,)`` strictly increasing bin columns, one per node, of
            disjoint sets of samples (column ``k`` holds sample ``index.order[k]``), all
            of positive weight.
        w, wt: ``(N,)`` float64 weights and weighted targets, indexed by column.
        criterion: ``"sqerr"`` or ``"misclass"`` (module doc).
        features: ``(K,)`` pool indices to score; all F when None.
        face_col: ``(N,)`` bool by column, when every target is ``+1`` for a face and
            ``-1`` otherwise (``wt = +-w``): then each bin sums its face and non-face
            weights apart, one update per sample instead of two (``wt`` is only used
            for the node totals), and its weight and target are ``p + q`` and ``p - q``.

    Returns:
        ``(M, K)`` float64 scores, larger is better; -1 where a feature cannot split a node.
    """
    checked = [_checked(criterion, columns, w, wt) for columns in node_columns]
    w, wt = checked[0][1:] if checked else (w, wt)
    node_columns = [columns for columns, _, _ in checked]
    ids = np.arange(index.num_features, dtype=np.int64) if features is None else np.asarray(features, np.int64)
    totals = [node_totals(w[columns], wt[columns]) for columns in node_columns]
    best = np.empty((len(node_columns), ids.shape[0]), dtype=np.float64)
    if ids.size and node_columns:
        merged = np.concatenate(node_columns)
        node_of = np.repeat(np.arange(len(node_columns), dtype=np.int64), [len(c) for c in node_columns])
        order = np.argsort(merged, kind="stable")
        merged, node_of = merged[order], node_of[order]
        if merged.size and np.any(np.diff(merged) == 0):
            raise ValueError("the nodes of a level must hold disjoint samples")
        total_w = np.array([t.weight for t in totals])
        total_wt = np.array([t.weighted_target for t in totals])
        if face_col is None:
            _level_kernel(index.bins, index.num_bins, ids, merged, node_of, w, wt, total_w, total_wt,
                          criterion == "misclass", best)
        else:
            slot_of = 2 * node_of + (~np.asarray(face_col, bool)[merged])
            _two_class_level_kernel(index.bins, index.num_bins, ids, merged, slot_of, w, total_w, total_wt,
                                    criterion == "misclass", best)
    return best


def node_scores(index: BinnedFeatureIndex, columns: np.ndarray, w: np.ndarray, wt: np.ndarray,
                criterion: str, features: np.ndarray | None = None, face_col: np.ndarray | None = None) -> np.ndarray:
    """``level_scores`` of one node: ``(K,)`` scores for its ``(n,)`` strictly
    increasing ``columns`` (the other arguments as there)."""
    return level_scores(index, [columns], w, wt, criterion, features, face_col)[0]


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
                          criterion: str, features: np.ndarray | None = None,
                          face_col: np.ndarray | None = None) -> np.ndarray:
    """``node_scores`` in vectorised NumPy (``np.bincount`` histograms, cumulative sums):
    same arguments, the same ``(K,)`` scores bit for bit."""
    columns, w, wt = _checked(criterion, columns, w, wt)
    ids = np.arange(index.num_features, dtype=np.int64) if features is None else np.asarray(features, np.int64)
    totals = node_totals(w[columns], wt[columns])
    faces = None if face_col is None else np.asarray(face_col, bool)[columns]
    best = np.full(ids.shape[0], -1.0)
    for k, f in enumerate(ids):
        b = index.bins[f, columns].astype(np.int64)
        if faces is None:
            hist_w = np.bincount(b, weights=w[columns], minlength=MAX_BINS)
            hist_wt = np.bincount(b, weights=wt[columns], minlength=MAX_BINS)
        else:  # face and non-face weights apart, as the two-class kernel
            hist_p = np.bincount(b[faces], weights=w[columns][faces], minlength=MAX_BINS)
            hist_q = np.bincount(b[~faces], weights=w[columns][~faces], minlength=MAX_BINS)
            hist_w, hist_wt = hist_p + hist_q, hist_p - hist_q
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


def _refined_split(data: TrainingSet, samples: np.ndarray, columns: np.ndarray, w_col: np.ndarray,
                   wt_col: np.ndarray, criterion: str, scores: np.ndarray, candidates: int) -> NodeSplit | None:
    """The best exact split of one node among the ``candidates`` features of the highest
    histogram ``scores`` (``(F,)``); None when no feature separates the node."""
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


def best_level_splits(data: TrainingSet, node_samples: Sequence[np.ndarray], node_columns: Sequence[np.ndarray],
                      w_col: np.ndarray, wt_col: np.ndarray, criterion: str, use_reference: bool = False,
                      candidates: int = REFINE_CANDIDATES, face_col: np.ndarray | None = None
                      ) -> list[NodeSplit | None]:
    """``best_node_split`` of every node of one tree level, their histograms built in
    one pass over the bins (``level_scores``); the same splits as one call per node."""
    if use_reference:
        scores = np.array([node_scores_reference(data.index, columns, w_col, wt_col, criterion, face_col=face_col)
                           for columns in node_columns]).reshape(len(node_columns), -1)
    else:
        scores = level_scores(data.index, node_columns, w_col, wt_col, criterion, face_col=face_col)
    return [_refined_split(data, samples, columns, w_col, wt_col, criterion, node_scores_, candidates)
            for samples, columns, node_scores_ in zip(node_samples, node_columns, scores)]


def best_node_split(data: TrainingSet, samples: np.ndarray, columns: np.ndarray, w_col: np.ndarray,
                    wt_col: np.ndarray, criterion: str, use_reference: bool = False,
                    candidates: int = REFINE_CANDIDATES, face_col: np.ndarray | None = None) -> NodeSplit | None:
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
        face_col: ``(N,)`` bool by column when the targets are ``+-1`` by class
            (``level_scores``).

    Returns:
        The best exact split (the lowest feature index among ties within
        ``TIE_RTOL``), its ``goes_left`` in the order of ``samples``; None when no
        feature separates the node's samples.
    """
    return best_level_splits(data, [samples], [columns], w_col, wt_col, criterion, use_reference, candidates,
                             face_col)[0]
