"""The best categorical stump over LBP codes: OpenCV's ``CvDTree`` split of a categorical variable.

An LBP feature's value is one of 256 codes, with no order that means anything, so a
stump splits the codes into two sets: the window goes left when its code is in the
left set (bit ``code & 31`` of subset word ``code >> 5`` set, as the detector reads it,
``vj.lbp``). One boosting round computes, per feature and over the samples of
positive search weight (weight trimming leaves the others out), the weighted face
and non-face histograms ``p[c]``, ``q[c]`` over the codes ``c``, then:

* ``gentle`` (regression of ``y in {-1, +1}``, Gentle AdaBoost): sort the codes seen
  (``n[c] = p[c] + q[c] > 0``) by their weighted mean response ``(p[c] - q[c]) / n[c]``,
  ascending (stable: equal means keep increasing code order), and scan the order for
  the split with the largest ``lsum^2 / L + rsum^2 / R`` (``L``, ``lsum``: the weight and
  weighted response sum of the first codes, ``R``, ``rsum`` those of the rest). For
  least squares with a categorical feature the best split is always such a prefix of
  the mean order (Fisher 1958; Breiman et al., *CART*, 1984), so the scan is exact.
  The weighted squared error is ``L + R - (lsum^2 / L + rsum^2 / R)``; the left set is
  the prefix (the codes of lower mean, as in OpenCV's ``find_split_cat_reg``);
* ``discrete`` (Viola-Jones' weighted misclassification): each code is sent to the
  side of its heavier class, which is the least-error split: left (the non-face side)
  holds the codes with ``q[c] > p[c]``; the error is ``sum_c min(p[c], q[c])``. When
  that leaves one side without any seen code, the seen code with the smallest
  ``|p[c] - q[c]|`` (the lowest code on ties) changes side, which is then the
  least-error split with both sides used; the error grows by that difference.

Codes no sample of positive search weight has (``n[c] = 0``), and in ``discrete`` codes
with ``p[c] = q[c]``, go **right**: their bit is clear. In both variants the right is
the side of the larger mean response (the face side), so a code training never saw
adds the face-side leaf and never, by itself, makes a stage reject a face.

A feature whose samples of positive weight all have one code cannot split and scores
``inf``. ``best_lbp_split`` takes the lowest error, the lowest feature index on ties.
``lbp_feature_errors_reference`` is the same computation in plain NumPy, with the
same additions in the same order, so its errors equal the kernel's bit for bit.
"""
from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

CATEGORIES = 256


class LbpSplit(NamedTuple):
    """The chosen categorical split of one feature.

    Attributes:
        feature_index: index in the LBP feature pool.
        left: ``(256,)`` bool, True for the codes that go left (bit set).
        error: weighted error over the search weights (``gentle``: squared error;
            ``discrete``: misclassified weight).
    """

    feature_index: int
    left: np.ndarray
    error: float


@nb.njit(cache=True, nogil=True)
def split_histogram(p, q, gentle, left):  # pragma: no cover - compiled
    """Best split of one feature from its ``(256,)`` float64 face / non-face weight histograms.

    Fills ``left (256,)`` uint8 (1 = goes left) and returns the error (``inf`` when the
    codes cannot be split). See the module doc for the rule.
    """
    for c in range(CATEGORIES):
        left[c] = 0
    if not gentle:
        err = 0.0
        n_left = 0
        n_right = 0
        cheapest = -1  # the seen code whose move to the other side costs least
        for c in range(CATEGORIES):
            if q[c] > p[c]:
                left[c] = 1
                err += p[c]
                n_left += 1
            else:
                err += q[c]
                if p[c] > 0.0:
                    n_right += 1
            if p[c] + q[c] > 0.0 and (cheapest < 0 or abs(p[c] - q[c]) < abs(p[cheapest] - q[cheapest])):
                cheapest = c
        if n_left + n_right < 2:
            return np.inf
        if n_left == 0 or n_right == 0:
            left[cheapest] = 1 - left[cheapest]
            err += abs(p[cheapest] - q[cheapest])
        return err
    seen = np.empty(CATEGORIES, dtype=np.int64)
    m = 0
    for c in range(CATEGORIES):
        if p[c] + q[c] > 0.0:
            seen[m] = c
            m += 1
    if m < 2:
        return np.inf
    means = np.empty(m)
    for k in range(m):
        c = seen[k]
        means[k] = (p[c] - q[c]) / (p[c] + q[c])
    order = np.argsort(means, kind="mergesort")
    lsum = np.empty(m)
    weight = np.empty(m)
    s = 0.0
    w = 0.0
    for k in range(m):
        c = seen[order[k]]
        s += p[c] - q[c]
        w += p[c] + q[c]
        lsum[k] = s
        weight[k] = w
    best = -1.0
    best_k = -1
    for k in range(m - 1):
        big_l = weight[k]
        big_r = w - big_l
        if big_l > 0.0 and big_r > 0.0:
            rsum = s - lsum[k]
            val = lsum[k] * lsum[k] / big_l + rsum * rsum / big_r
            if val > best:
                best = val
                best_k = k
    if best_k < 0:
        return np.inf
    for k in range(best_k + 1):
        left[seen[order[k]]] = 1
    return w - best


@nb.njit(cache=True, nogil=True)
def _histograms(row, face_idx, nonface_idx, w, p, q):  # pragma: no cover - compiled
    """``p[c]`` / ``q[c]``: the weight of the listed faces / non-faces whose code in ``row`` is ``c``."""
    for c in range(CATEGORIES):
        p[c] = 0.0
        q[c] = 0.0
    for i in range(face_idx.shape[0]):
        k = face_idx[i]
        p[row[k]] += w[k]
    for i in range(nonface_idx.shape[0]):
        k = nonface_idx[i]
        q[row[k]] += w[k]


@nb.njit(cache=True, parallel=True, nogil=True)
def _errors_kernel(codes, face_idx, nonface_idx, w, gentle, errors):  # pragma: no cover - compiled
    """``errors[f]`` = the error of feature ``f``'s best split (threads over features)."""
    for f in nb.prange(codes.shape[0]):
        p = np.empty(CATEGORIES)
        q = np.empty(CATEGORIES)
        left = np.empty(CATEGORIES, dtype=np.uint8)
        _histograms(codes[f], face_idx, nonface_idx, w, p, q)
        errors[f] = split_histogram(p, q, gentle, left)


def _active(weights: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float64 weights and the increasing indices of the faces / non-faces of positive weight."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    labels = np.asarray(labels)
    if weights.shape != (n,) or labels.shape != (n,):
        raise ValueError(f"weights and labels must have shape ({n},), got {weights.shape} and {labels.shape}")
    if not np.all(weights >= 0):
        raise ValueError("weights must be non-negative")
    faces = labels > 0
    return (weights, np.flatnonzero(faces & (weights > 0)).astype(np.int64),
            np.flatnonzero(~faces & (weights > 0)).astype(np.int64))


def _check(codes: np.ndarray, boost_type: str) -> None:
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(f"codes must be (F, N) uint8, got shape {codes.shape} dtype {codes.dtype}")
    if boost_type not in ("gentle", "discrete"):
        raise ValueError(f"boost_type must be 'gentle' or 'discrete', got {boost_type!r}")


def lbp_feature_errors(codes: np.ndarray, weights: np.ndarray, labels: np.ndarray, boost_type: str) -> np.ndarray:
    """The error of every feature's best categorical split (Numba, threaded over features).

    Args:
        codes: ``(F, N)`` uint8 LBP codes, feature-major (``vj.lbp_train.lbp_codes``).
        weights: ``(N,)`` non-negative search weights; 0 leaves a sample out (trimming).
        labels: ``(N,)`` 1 for a face, 0 otherwise.
        boost_type: ``"gentle"`` or ``"discrete"`` (see the module doc).

    Returns:
        ``(F,)`` float64 errors; ``inf`` for a feature that cannot split the samples.
    """
    _check(codes, boost_type)
    w, face_idx, nonface_idx = _active(weights, labels, codes.shape[1])
    errors = np.empty(codes.shape[0])
    _errors_kernel(np.ascontiguousarray(codes), face_idx, nonface_idx, w, boost_type == "gentle", errors)
    return errors


def _split_reference(p: np.ndarray, q: np.ndarray, gentle: bool) -> tuple[float, np.ndarray]:
    """``split_histogram`` in NumPy: ``(error, (256,) bool left)``."""
    left = np.zeros(CATEGORIES, dtype=bool)
    if not gentle:
        left = q > p
        err = float(np.cumsum(np.where(left, p, q))[-1])
        seen = np.flatnonzero(p + q > 0)
        if seen.size < 2:
            return np.inf, np.zeros(CATEGORIES, dtype=bool)
        if left[seen].all() or not left[seen].any():
            cheapest = seen[np.argmin(np.abs(p[seen] - q[seen]))]
            left[cheapest] = ~left[cheapest]
            err += abs(p[cheapest] - q[cheapest])
        return err, left
    seen = np.flatnonzero(p + q > 0)
    if seen.size < 2:
        return np.inf, left
    order = seen[np.argsort((p[seen] - q[seen]) / (p[seen] + q[seen]), kind="stable")]
    lsum, weight = np.cumsum(p[order] - q[order]), np.cumsum(p[order] + q[order])
    s, w = lsum[-1], weight[-1]
    big_l, big_r = weight[:-1], w - weight[:-1]
    ok = (big_l > 0) & (big_r > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(ok, lsum[:-1] ** 2 / big_l + (s - lsum[:-1]) ** 2 / big_r, -1.0)
    k = int(np.argmax(val))
    if val[k] < 0:
        return np.inf, left
    left[order[: k + 1]] = True
    return float(w - val[k]), left


def lbp_feature_errors_reference(codes: np.ndarray, weights: np.ndarray, labels: np.ndarray,
                                 boost_type: str) -> tuple[np.ndarray, np.ndarray]:
    """``lbp_feature_errors`` in plain NumPy (``np.bincount`` histograms, a loop over features).

    Returns:
        ``(F,)`` errors, equal to the kernel's bit for bit, and ``(F, 256)`` bool left sets.
    """
    _check(codes, boost_type)
    w, face_idx, nonface_idx = _active(weights, labels, codes.shape[1])
    errors, lefts = np.empty(codes.shape[0]), np.zeros((codes.shape[0], CATEGORIES), dtype=bool)
    for f in range(codes.shape[0]):
        p = np.bincount(codes[f, face_idx], weights=w[face_idx], minlength=CATEGORIES)
        q = np.bincount(codes[f, nonface_idx], weights=w[nonface_idx], minlength=CATEGORIES)
        errors[f], lefts[f] = _split_reference(p, q, boost_type == "gentle")
    return errors, lefts


def feature_split(codes_row: np.ndarray, weights: np.ndarray, labels: np.ndarray, boost_type: str,
                  feature_index: int = -1) -> LbpSplit:
    """The best split of one feature from its ``(N,)`` uint8 codes (the kernel's own rule)."""
    w, face_idx, nonface_idx = _active(weights, labels, codes_row.shape[0])
    p, q = np.empty(CATEGORIES), np.empty(CATEGORIES)
    _histograms(np.ascontiguousarray(codes_row, dtype=np.uint8), face_idx, nonface_idx, w, p, q)
    left = np.empty(CATEGORIES, dtype=np.uint8)
    error = split_histogram(p, q, boost_type == "gentle", left)
    return LbpSplit(int(feature_index), left.astype(bool), float(error))


def best_lbp_split(codes: np.ndarray, weights: np.ndarray, labels: np.ndarray, boost_type: str,
                   use_reference: bool = False) -> LbpSplit:
    """The best categorical stump over all features: lowest error, lowest feature index on ties.

    Args:
        codes, weights, labels, boost_type: as in ``lbp_feature_errors``.
        use_reference: score the features with the NumPy reference instead of Numba.

    Raises:
        ValueError: no feature can split the samples of positive weight.
    """
    if use_reference:
        errors, lefts = lbp_feature_errors_reference(codes, weights, labels, boost_type)
    else:
        errors = lbp_feature_errors(codes, weights, labels, boost_type)
    f = int(np.argmin(errors))
    if not np.isfinite(errors[f]):
        raise ValueError("no LBP feature can split the samples: every feature gives all of them one side")
    if use_reference:
        return LbpSplit(f, lefts[f], float(errors[f]))
    return feature_split(codes[f], weights, labels, boost_type, f)
