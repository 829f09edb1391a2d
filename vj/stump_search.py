"""The best decision stump of every feature, in one pass over its sorted samples.

A stump splits the samples of one feature at a threshold: those with a smaller value
go left. Walking a feature's samples in increasing value order while keeping running
weight sums scores every possible split in O(1), so all splits of all features cost
one pass over the ``(F, N)`` codes of ``vj.train_features.SortedFeatureIndex``. A
split is only allowed where the value strictly increases (the code's boundary bit),
so equal values are never separated.

Notation: ``w`` the sample weights, ``P`` / ``Q`` the total face / non-face weight,
``W = P + Q``; over the left part (ranks ``0..j``) ``p`` / ``q`` the face / non-face
weight and ``b = p + q``.

* ``discrete`` (Viola-Jones): weighted misclassification of ``h in {0, 1}``. Faces
  predicted on the left (polarity +1: ``h = 1`` when ``f < theta``) err by
  ``(P - p) + q = P - s`` with ``s = p - q``; faces on the right by ``Q + s``. The
  better of the two is ``W / 2 - |s - (P - Q) / 2|``, so one running sum ``s``
  (gathered from ``+w`` for faces, ``-w`` for non-faces) and a running maximum of
  ``|s - (P - Q) / 2|`` give every feature's best error.
* ``gentle`` (OpenCV's default): a regression stump fitting ``+1`` / ``-1`` by weighted
  least squares, each side predicting its weighted mean. Its squared error is
  ``W - (P - Q)^2 / W - 4 u^2 / (W d)`` with ``u = Q p - P q`` and
  ``d = b (W - b)`` (the between-groups identity of weighted variance), so the best
  split maximises ``u^2 / d``: two running sums, ``u`` (gathered from ``Q w`` or
  ``-P w``) and ``b``.

The Numba kernels walk four features side by side (independent running sums keep the
CPU's adders busy) and multiply by 0 or 1 taken from the boundary bit instead of
branching; they return only each feature's best error. ``locate_split`` then finds
the rank and polarity for the one chosen feature, in plain NumPy. The NumPy reference
``feature_errors_reference`` computes the same numbers without Numba.
"""
from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from vj.train_features import SortedFeatureIndex

BOOST_TYPES = ("discrete", "gentle")
_BOUNDARY_FACTOR = np.array([0.0, 1.0])  # indexed by the boundary bit


class SplitChoice(NamedTuple):
    """A chosen split.

    Attributes:
        feature_index: pool index of the feature.
        rank: the left side is the samples at ranks ``0..rank`` of the feature's order.
        polarity: ``discrete``: +1 when faces are predicted on the left
            (``value < threshold``), -1 on the right; ``gentle``: 0.
        error: weighted error of the split (``discrete``: misclassified weight;
            ``gentle``: weighted squared error), with the weights as given.
    """

    feature_index: int
    rank: int
    polarity: int
    error: float


def gather_tables(weights: np.ndarray, labels: np.ndarray, boost_type: str) -> tuple[np.ndarray, float, float]:
    """Per-sample values the running sums add up, and the criterion's constants.

    Returns ``(table, centre, total)``:
        ``discrete``: ``table (N,)`` = ``+w`` (face) / ``-w``; ``centre = (P - Q) / 2``;
        ``total = W``.
        ``gentle``: ``table (2, N)``: row 0 ``w``, row 1 ``Q w`` (face) / ``-P w``;
        ``centre = (P - Q)^2 / W``; ``total = W``.
    """
    if boost_type not in BOOST_TYPES:
        raise ValueError(f"boost_type must be one of {BOOST_TYPES}, got {boost_type!r}")
    weights = np.asarray(weights, dtype=np.float64)
    faces = np.asarray(labels) > 0
    face_weight = float(weights[faces].sum())
    nonface_weight = float(weights[~faces].sum())
    total = face_weight + nonface_weight
    if boost_type == "discrete":
        return np.where(faces, weights, -weights), (face_weight - nonface_weight) / 2, total
    u_part = np.where(faces, nonface_weight * weights, -face_weight * weights)
    table = np.ascontiguousarray(np.stack([weights, u_part]))
    return table, (face_weight - nonface_weight) ** 2 / total, total


@nb.njit(cache=True, parallel=True)
def _discrete_kernel(codes, index_mask, boundary_shift, boundary_factor, signed_weights, centre, best):
    """best[f] = max over allowed ranks j of |s_j - centre| (0 when none)."""
    n_features, n = codes.shape
    for g in nb.prange((n_features + 3) // 4):
        f0 = 4 * g
        f1, f2, f3 = min(f0 + 1, n_features - 1), min(f0 + 2, n_features - 1), min(f0 + 3, n_features - 1)
        r0, r1, r2, r3 = codes[f0], codes[f1], codes[f2], codes[f3]
        s0 = s1 = s2 = s3 = 0.0
        m0 = m1 = m2 = m3 = 0.0
        for j in range(n - 1):
            c0, c1, c2, c3 = r0[j], r1[j], r2[j], r3[j]
            s0 += signed_weights[c0 & index_mask]
            s1 += signed_weights[c1 & index_mask]
            s2 += signed_weights[c2 & index_mask]
            s3 += signed_weights[c3 & index_mask]
            m0 = max(m0, abs(s0 - centre) * boundary_factor[c0 >> boundary_shift])
            m1 = max(m1, abs(s1 - centre) * boundary_factor[c1 >> boundary_shift])
            m2 = max(m2, abs(s2 - centre) * boundary_factor[c2 >> boundary_shift])
            m3 = max(m3, abs(s3 - centre) * boundary_factor[c3 >> boundary_shift])
        best[f0], best[f1], best[f2], best[f3] = m0, m1, m2, m3


@nb.njit(cache=True, inline="always")
def _gentle_ratio(b, u, factor, total):
    """``u^2 / d`` of one split (0 where it is not allowed or one side has no weight)."""
    d = b * (total - b)
    return u * u * factor / d if d > 0.0 else 0.0


@nb.njit(cache=True, parallel=True)
def _gentle_kernel(codes, index_mask, boundary_shift, boundary_factor, b_table, u_table, total, best):
    """best[f] = max over allowed ranks j with d_j > 0 of u_j^2 / d_j (0 when none).

    Dividing at every rank and taking a branch-free maximum is faster than testing
    ``u^2 > best * d`` first: on real data the best split is approached by long runs of
    new maxima, which a branch predicts badly.
    """
    n_features, n = codes.shape
    for g in nb.prange((n_features + 3) // 4):
        f0 = 4 * g
        f1, f2, f3 = min(f0 + 1, n_features - 1), min(f0 + 2, n_features - 1), min(f0 + 3, n_features - 1)
        r0, r1, r2, r3 = codes[f0], codes[f1], codes[f2], codes[f3]
        b0 = b1 = b2 = b3 = 0.0
        u0 = u1 = u2 = u3 = 0.0
        m0 = m1 = m2 = m3 = 0.0
        for j in range(n - 1):
            c0, c1, c2, c3 = r0[j], r1[j], r2[j], r3[j]
            i0, i1, i2, i3 = c0 & index_mask, c1 & index_mask, c2 & index_mask, c3 & index_mask
            b0 += b_table[i0]
            u0 += u_table[i0]
            b1 += b_table[i1]
            u1 += u_table[i1]
            b2 += b_table[i2]
            u2 += u_table[i2]
            b3 += b_table[i3]
            u3 += u_table[i3]
            m0 = max(m0, _gentle_ratio(b0, u0, boundary_factor[c0 >> boundary_shift], total))
            m1 = max(m1, _gentle_ratio(b1, u1, boundary_factor[c1 >> boundary_shift], total))
            m2 = max(m2, _gentle_ratio(b2, u2, boundary_factor[c2 >> boundary_shift], total))
            m3 = max(m3, _gentle_ratio(b3, u3, boundary_factor[c3 >> boundary_shift], total))
        best[f0], best[f1], best[f2], best[f3] = m0, m1, m2, m3


def _errors_from_best(best: np.ndarray, centre: float, total: float, boost_type: str) -> np.ndarray:
    if boost_type == "discrete":
        return total / 2 - best
    return total - centre - 4.0 * best / total


def _validated(index: SortedFeatureIndex, weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    n = index.num_samples
    if weights.shape != (n,) or np.shape(labels) != (n,):
        raise ValueError(f"weights and labels must have shape ({n},), got {weights.shape} and {np.shape(labels)}")
    if not np.all(weights >= 0) or not weights.sum() > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return weights


def feature_errors(index: SortedFeatureIndex, weights: np.ndarray, labels: np.ndarray,
                   boost_type: str) -> np.ndarray:
    """Weighted error of every feature's best stump (Numba, parallel over features).

    Args:
        index: ``(F, N)`` sort order of every feature's values.
        weights: ``(N,)`` non-negative weights; 0 leaves a sample out (weight trimming).
        labels: ``(N,)`` 1 for a face, 0 otherwise.
        boost_type: ``"discrete"`` or ``"gentle"`` (see module doc).

    Returns:
        ``(F,)`` float64 errors; ``inf`` for a feature whose values are all equal.
    """
    weights = _validated(index, weights, labels)
    table, centre, total = gather_tables(weights, labels, boost_type)
    best = np.empty(index.num_features, dtype=np.float64)
    shift = 8 * index.codes.dtype.itemsize - 1
    if boost_type == "discrete":
        _discrete_kernel(index.codes, index.index_mask, shift, _BOUNDARY_FACTOR, table, centre, best)
    else:
        _gentle_kernel(index.codes, index.index_mask, shift, _BOUNDARY_FACTOR, table[0], table[1], total, best)
    errors = _errors_from_best(best, centre, total, boost_type)
    errors[~index.splittable] = np.inf
    return errors


def _split_scores(samples: np.ndarray, allowed: np.ndarray, table: np.ndarray, centre: float,
                  total: float, boost_type: str) -> np.ndarray:
    """``(K, N-1)`` criterion of every split of K features (larger is better; 0 where not allowed)."""
    if boost_type == "discrete":
        s = np.cumsum(table[samples], axis=1)
        return np.where(allowed, np.abs(s - centre), 0.0)
    b = np.cumsum(table[0][samples], axis=1)
    u = np.cumsum(table[1][samples], axis=1)
    d = b * (total - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(allowed & (d > 0), u * u / d, 0.0)  # the kernels' numbers, bit for bit


def feature_errors_reference(index: SortedFeatureIndex, weights: np.ndarray, labels: np.ndarray,
                             boost_type: str, chunk_features: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``feature_errors`` in plain vectorised NumPy, plus each feature's best rank.

    Gathers the table in sort order for ``chunk_features`` features at a time, takes
    cumulative sums along the rows and scores all splits at once.

    Returns:
        ``(errors (F,), ranks (F,))``; rank -1 where a feature cannot split.
    """
    weights = _validated(index, weights, labels)
    table, centre, total = gather_tables(weights, labels, boost_type)
    n_features, n = index.codes.shape
    best = np.empty(n_features)
    ranks = np.empty(n_features, dtype=np.int64)
    for first in range(0, n_features, chunk_features):
        codes = index.codes[first:first + chunk_features, : n - 1]
        scores = _split_scores(codes & index.index_mask, (codes & index.boundary_flag) != 0,
                               table, centre, total, boost_type)
        ranks[first:first + codes.shape[0]] = np.argmax(scores, axis=1)
        best[first:first + codes.shape[0]] = scores.max(axis=1)
    errors = _errors_from_best(best, centre, total, boost_type)
    errors[~index.splittable] = np.inf
    ranks[~index.splittable] = -1
    return errors, ranks


def locate_split(index: SortedFeatureIndex, feature_index: int, weights: np.ndarray,
                 labels: np.ndarray, boost_type: str) -> SplitChoice:
    """The best split of one feature: its rank, polarity and error (first rank on ties)."""
    weights = _validated(index, weights, labels)
    if not index.splittable[feature_index]:
        raise ValueError(f"feature {feature_index} has a single value over all samples: it cannot split")
    table, centre, total = gather_tables(weights, labels, boost_type)
    samples, allowed = index.order_of(feature_index)
    scores = _split_scores(samples[None, :-1], allowed[None, :-1], table, centre, total, boost_type)[0]
    rank = int(np.argmax(scores))
    error = float(_errors_from_best(scores[rank], centre, total, boost_type))
    polarity = 0
    if boost_type == "discrete":  # faces on the left when s_rank - (P - Q) / 2 >= 0
        polarity = 1 if np.cumsum(table[samples[: rank + 1]])[rank] >= centre else -1
    return SplitChoice(int(feature_index), rank, polarity, error)


def best_split(index: SortedFeatureIndex, weights: np.ndarray, labels: np.ndarray,
               boost_type: str, use_reference: bool = False) -> SplitChoice:
    """The best stump over all features: lowest error, lowest feature index on ties.

    Args:
        use_reference: search with the NumPy reference instead of the Numba kernels.
    """
    if use_reference:
        errors, _ = feature_errors_reference(index, weights, labels, boost_type)
    else:
        errors = feature_errors(index, weights, labels, boost_type)
    feature = int(np.argmin(errors))
    if not np.isfinite(errors[feature]):
        raise ValueError("no feature can split the samples: every feature has a single value")
    return locate_split(index, feature, weights, labels, boost_type)
