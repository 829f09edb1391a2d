"""The best decision stump over all features: weighted histograms of binned values,
then an exact refinement of the few best features on their real values.

A stump splits the samples of one feature at a threshold: those with a smaller value
go left. Each feature's values are quantised once per stage into at most 256 ordered
bins (``vj.train_features.BinnedFeatureIndex``), so one round is, per feature, one
pass over its ``N`` bin bytes adding each sample's weight into a face or non-face
histogram, then a prefix scan over the bins that scores the split after every bin in
O(1). No sort, and the ``(F, N)`` uint8 bins are read once, in order.

Notation: ``w`` the sample weights, ``P`` / ``Q`` the total face / non-face weight,
``W = P + Q``; left of a split ``p`` / ``q`` the face / non-face weight, ``b = p + q``.

* ``discrete`` (Viola-Jones): weighted misclassification of ``h in {0, 1}``. Faces
  predicted on the left err by ``P - s`` with ``s = p - q``, on the right by
  ``Q + s``; the better is ``W / 2 - |s - (P - Q) / 2|``.
* ``gentle`` (OpenCV's default): a regression stump fitting ``+1`` / ``-1`` by weighted
  least squares, each side predicting its weighted mean. Its squared error is
  ``W - (P - Q)^2 / W - 4 u^2 / (W d)`` with ``u = Q p - P q`` and ``d = b (W - b)``,
  so the best split maximises ``u^2 / d``.

Exactness. A bin boundary is always between two distinct real values, and a feature
with at most 256 distinct values has one bin per value, so for it the histogram scores
every split the real values allow. A feature with more distinct values is only scored
at its bin boundaries (about every N/256-th sample), so its histogram error can be a
little above its exact best. Hence ``best_split`` takes the ``candidates`` features
with the lowest histogram errors and searches each exactly, over its real float32
values sorted (every split between distinct values), and keeps the lowest exact error.
The chosen stump's threshold is therefore always the float32 midpoint between two real
sample values of its feature, and its error is exact; only the choice of feature can
miss an exact optimum whose feature ranked below the candidates in the histograms.

Screening. With many samples (N >= 2 x 2048), a first histogram pass over about
2048 of them (every k-th face and non-face, stored first in every row of the bins, so
the pass reads one contiguous part of each row) ranks every feature, and only the best
1/64 of the features (at least 256) are histogrammed over all samples before the exact
refinement. A round then costs about a quarter of a full pass plus 1/64 of one. It is
off by default (``best_split(screen=True)`` turns it on): once boosting has
concentrated the weights on a few hard samples, a quarter of the samples ranks the
best feature too noisily (measured at 10,000 samples: the full pass's best ranked up
to 47,000th in the first pass by round 30, and 3 of 12 rounds chose a feature 0.2 to
0.8% worse than the exact optimum, where the unscreened search matched it in all 12).

The Numba kernel (parallel over features, four at a time so the weight loads are
shared) returns each feature's best histogram error. ``feature_errors_reference``
computes the same numbers in NumPy (``np.bincount``), adding in the same order, so the
two agree bit for bit.
"""
from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from vj.train_features import MAX_BINS, BinnedFeatureIndex, TrainingSet

BOOST_TYPES = ("discrete", "gentle")
#: Features whose real values ``best_split`` searches exactly (the lowest histogram errors).
REFINE_CANDIDATES = 8
#: Screening (``screened_features``): the best ``max(SCREEN_MIN_KEEP, F // SCREEN_KEEP_RATIO)``
#: features over the screening subset get a full histogram.
SCREEN_KEEP_RATIO = 64
SCREEN_MIN_KEEP = 256
#: The histogram kernel's features go in this many chunks (each its own thread task with one
#: set of histograms), enough for the threads to balance.
HISTOGRAM_CHUNKS = 64


class SplitChoice(NamedTuple):
    """A chosen split.

    Attributes:
        feature_index: pool index of the feature.
        threshold: float32 threshold, the midpoint of two real values; ``value <
            threshold`` goes left.
        rank: the left side holds ``rank + 1`` samples (the ranks ``0..rank`` of the
            feature's sorted values).
        polarity: ``discrete``: +1 when faces are predicted on the left, -1 on the
            right; ``gentle``: 0.
        error: exact weighted error of the split (``discrete``: misclassified weight;
            ``gentle``: weighted squared error), with the weights as given.
    """

    feature_index: int
    threshold: float
    rank: int
    polarity: int
    error: float


def stump_threshold(lower: float, upper: float) -> float:
    """A float32 threshold ``t`` with ``lower < t <= upper`` (so ``lower`` goes left and
    ``upper`` right): their midpoint in float32, or ``upper`` when they are adjacent floats."""
    lower32, upper32 = np.float32(lower), np.float32(upper)
    if not lower32 < upper32:
        raise ValueError(f"need lower < upper, got {lower32} and {upper32}")
    middle = np.float32((np.float64(lower32) + np.float64(upper32)) / 2)
    return float(middle if middle > lower32 else upper32)


def _validated(n: int, weights: np.ndarray, labels: np.ndarray, boost_type: str) -> np.ndarray:
    if boost_type not in BOOST_TYPES:
        raise ValueError(f"boost_type must be one of {BOOST_TYPES}, got {boost_type!r}")
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if weights.shape != (n,) or np.shape(labels) != (n,):
        raise ValueError(f"weights and labels must have shape ({n},), got {weights.shape} and {np.shape(labels)}")
    if not np.all(weights >= 0) or not weights.sum() > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return weights


#: The kernel walks every sample, run of one label by run (trimmed samples add 0), when
#: at least this share has a positive weight and the labels form few runs (the bins'
#: columns are grouped by label, ``vj.train_features.screening_order``); otherwise it
#: walks lists of the samples of positive weight.
DENSE_MIN_ACTIVE = 0.7
DENSE_MAX_RUNS = 64


class _Samples(NamedTuple):
    """What the histogram kernel reads about the samples, in the bins' column order."""

    dense: bool
    runs: np.ndarray  # dense: (R, 3) int64 rows (start, stop, offset) of same-label columns
    face_idx: np.ndarray  # sparse: (M1,) int32 increasing columns of faces of positive weight
    nonface_idx: np.ndarray  # sparse: (M2,) int32 the same for non-faces
    w: np.ndarray  # (M,) float64 weights by column
    face_total: float
    nonface_total: float


def _samples(index: BinnedFeatureIndex, weights: np.ndarray, labels: np.ndarray, screen_only: bool) -> _Samples:
    """The weights and labels in column order (only the screening columns when
    ``screen_only``), how the kernel should walk them, and the class weight totals."""
    columns = index.order[: index.screen_count] if screen_only else index.order
    weights, faces = weights[columns], np.asarray(labels)[columns] > 0
    face_total, nonface_total = float(weights[faces].sum()), float(weights[~faces].sum())
    starts = np.flatnonzero(np.r_[True, faces[1:] != faces[:-1]])
    empty = np.zeros(0, np.int32)
    active = weights > 0
    if active.mean() >= DENSE_MIN_ACTIVE and len(starts) <= DENSE_MAX_RUNS:
        stops = np.r_[starts[1:], len(faces)]
        runs = np.stack([starts, stops, np.where(faces[starts], 0, MAX_BINS)], axis=1).astype(np.int64)
        return _Samples(True, runs, empty, empty, weights, face_total, nonface_total)
    face_idx = np.flatnonzero(faces & active).astype(np.int32)
    nonface_idx = np.flatnonzero(~faces & active).astype(np.int32)
    return _Samples(False, np.zeros((0, 3), np.int64), face_idx, nonface_idx, weights, face_total, nonface_total)


@nb.njit(cache=True, inline="always")
def _split_score(p, q, face_total, nonface_total, gentle):
    """Criterion of one split (larger is better): ``u^2 / d`` (gentle) or ``|s - centre|``."""
    if gentle:
        b = p + q
        u = nonface_total * p - face_total * q
        d = b * ((face_total + nonface_total) - b)
        return u * u / d if d > 0.0 else 0.0
    return abs((p - q) - (face_total - nonface_total) / 2)


@nb.njit(cache=True, inline="always")
def _add_range(r0, r1, r2, r3, start, stop, offset, w, h0, h1, h2, h3):
    """Four features' histograms over samples ``start .. stop - 1`` of one class:
    ``h[offset + r[k]] += w[k]`` (``offset`` 0 for faces, ``MAX_BINS`` for non-faces)."""
    offset = np.uint64(offset)  # unsigned indices: no negative-index wrap-around test per update
    for k in range(start, stop):
        x = w[k]
        h0[offset + np.uint64(r0[k])] += x
        h1[offset + np.uint64(r1[k])] += x
        h2[offset + np.uint64(r2[k])] += x
        h3[offset + np.uint64(r3[k])] += x


@nb.njit(cache=True, inline="always")
def _add_listed(r0, r1, r2, r3, idx, offset, w, h0, h1, h2, h3):
    """As ``_add_range`` over the listed samples of one class: ``h[offset + r[k]] += w[k]``."""
    offset = np.uint64(offset)
    for i in range(idx.shape[0]):
        k = idx[i]
        x = w[k]
        h0[offset + np.uint64(r0[k])] += x
        h1[offset + np.uint64(r1[k])] += x
        h2[offset + np.uint64(r2[k])] += x
        h3[offset + np.uint64(r3[k])] += x


@nb.njit(cache=True, inline="always")
def _best_score(hist, n_bins, face_total, nonface_total, gentle):
    """The largest criterion over the splits after bins ``0 .. n_bins - 2`` of one
    feature's ``(2 * MAX_BINS,)`` face-then-non-face histogram, which it leaves all zero
    for the next feature (bins ``>= n_bins`` are never written)."""
    p = q = best = 0.0
    for j in range(n_bins - 1):
        p += hist[j]
        q += hist[MAX_BINS + j]
        hist[j] = 0.0
        hist[MAX_BINS + j] = 0.0
        best = max(best, _split_score(p, q, face_total, nonface_total, gentle))
    if n_bins > 0:
        hist[n_bins - 1] = 0.0
        hist[MAX_BINS + n_bins - 1] = 0.0
    return best


@nb.njit(cache=True, parallel=True, nogil=True)
def _histogram_kernel(bins, num_bins, features, dense, runs, face_idx, nonface_idx, w, face_total, nonface_total,
                      gentle, best):
    """best[k] = the largest split criterion of feature ``features[k]`` over its bin boundaries.

    Features go four at a time, sharing the loads of the sample weights. ``dense``
    walks every sample, run of same-label samples by run (trimmed samples add 0);
    otherwise it walks the listed faces, then the listed non-faces. Either way each
    bin adds its samples' weights in increasing sample order.
    """
    n_features = features.shape[0]
    n_groups = (n_features + 3) // 4
    n_chunks = min(n_groups, HISTOGRAM_CHUNKS)
    for chunk in nb.prange(n_chunks):
        # one set of four histograms per chunk of groups, zeroed once: _best_score clears what it read
        hists = np.zeros((4, 2 * MAX_BINS))
        h0, h1, h2, h3 = hists[0], hists[1], hists[2], hists[3]
        for g in range(chunk * n_groups // n_chunks, (chunk + 1) * n_groups // n_chunks):
            k0 = 4 * g
            k1, k2, k3 = min(k0 + 1, n_features - 1), min(k0 + 2, n_features - 1), min(k0 + 3, n_features - 1)
            f0, f1, f2, f3 = features[k0], features[k1], features[k2], features[k3]
            r0, r1, r2, r3 = bins[f0], bins[f1], bins[f2], bins[f3]
            if dense:
                for run in range(runs.shape[0]):
                    _add_range(r0, r1, r2, r3, runs[run, 0], runs[run, 1], runs[run, 2], w, h0, h1, h2, h3)
            else:
                _add_listed(r0, r1, r2, r3, face_idx, 0, w, h0, h1, h2, h3)
                _add_listed(r0, r1, r2, r3, nonface_idx, MAX_BINS, w, h0, h1, h2, h3)
            best[k0] = _best_score(h0, num_bins[f0], face_total, nonface_total, gentle)
            best[k1] = _best_score(h1, num_bins[f1], face_total, nonface_total, gentle)
            best[k2] = _best_score(h2, num_bins[f2], face_total, nonface_total, gentle)
            best[k3] = _best_score(h3, num_bins[f3], face_total, nonface_total, gentle)


def _errors_from_best(best: np.ndarray, face_total: float, nonface_total: float, boost_type: str) -> np.ndarray:
    total = face_total + nonface_total
    if boost_type == "discrete":
        return total / 2 - best
    return total - (face_total - nonface_total) ** 2 / total - 4.0 * best / total


def _feature_ids(index: BinnedFeatureIndex, features: np.ndarray | None) -> np.ndarray:
    if features is None:
        return np.arange(index.num_features, dtype=np.int64)
    return np.ascontiguousarray(features, dtype=np.int64)


def feature_errors(index: BinnedFeatureIndex, weights: np.ndarray, labels: np.ndarray,
                   boost_type: str, features: np.ndarray | None = None, screen_only: bool = False) -> np.ndarray:
    """Weighted error of every feature's best stump at its bin boundaries (Numba,
    parallel over features; exact for ``index.lossless`` features).

    Args:
        index: ``(F, N)`` binned feature values.
        weights: ``(N,)`` non-negative weights; 0 leaves a sample out (weight trimming).
        labels: ``(N,)`` 1 for a face, 0 otherwise.
        boost_type: ``"discrete"`` or ``"gentle"`` (see module doc).
        features: ``(K,)`` pool indices to score; all F when None.
        screen_only: histogram only the screening subset's samples (``index.screen_count``).

    Returns:
        ``(K,)`` float64 errors; ``inf`` for a feature whose values are all equal.
    """
    weights = _validated(index.num_samples, weights, labels, boost_type)
    ids = _feature_ids(index, features)
    s = _samples(index, weights, labels, screen_only)
    best = np.empty(ids.shape[0], dtype=np.float64)
    _histogram_kernel(index.bins, index.num_bins, ids, s.dense, s.runs, s.face_idx, s.nonface_idx, s.w,
                      s.face_total, s.nonface_total, boost_type == "gentle", best)
    errors = _errors_from_best(best, s.face_total, s.nonface_total, boost_type)
    errors[~index.splittable[ids]] = np.inf
    return errors


def _histograms_reference(bins: np.ndarray, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(K, MAX_BINS)`` weighted histograms of K features' bins over the samples ``idx``."""
    k = bins.shape[0]
    flat = bins[:, idx].astype(np.int64) + MAX_BINS * np.arange(k)[:, None]
    return np.bincount(flat.ravel(), weights=np.tile(w, k), minlength=k * MAX_BINS).reshape(k, MAX_BINS)


def _scores_numpy(p: np.ndarray, q: np.ndarray, allowed: np.ndarray, face_total: float, nonface_total: float,
                  boost_type: str) -> np.ndarray:
    """``_split_score`` of every split from its left face / non-face weights ``p``, ``q``
    (any shape), 0 where not ``allowed``: the kernel's numbers, bit for bit."""
    if boost_type == "discrete":
        return np.where(allowed, np.abs((p - q) - (face_total - nonface_total) / 2), 0.0)
    b = p + q
    u = nonface_total * p - face_total * q
    d = b * ((face_total + nonface_total) - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(allowed & (d > 0), u * u / d, 0.0)


def feature_errors_reference(index: BinnedFeatureIndex, weights: np.ndarray, labels: np.ndarray,
                             boost_type: str, features: np.ndarray | None = None,
                             screen_only: bool = False, chunk_features: int = 256) -> np.ndarray:
    """``feature_errors`` in plain vectorised NumPy (``np.bincount`` histograms for
    ``chunk_features`` features at a time, cumulative sums, all splits scored at once).
    Takes the same arguments and returns the same ``(K,)`` errors, bit for bit."""
    weights = _validated(index.num_samples, weights, labels, boost_type)
    s = _samples(index, weights, labels, screen_only)
    weights, face_total, nonface_total = s.w, s.face_total, s.nonface_total
    faces = np.asarray(labels)[index.order[: len(weights)]] > 0
    face_idx, nonface_idx = np.flatnonzero(faces & (weights > 0)), np.flatnonzero(~faces & (weights > 0))
    ids = _feature_ids(index, features)
    best = np.empty(ids.shape[0])
    for first in range(0, ids.shape[0], chunk_features):
        chunk = ids[first:first + chunk_features]
        bins = index.bins[chunk]
        p = np.cumsum(_histograms_reference(bins, face_idx, weights[face_idx]), axis=1)
        q = np.cumsum(_histograms_reference(bins, nonface_idx, weights[nonface_idx]), axis=1)
        allowed = np.arange(MAX_BINS)[None, :] < (index.num_bins[chunk][:, None] - 1)
        scores = _scores_numpy(p, q, allowed, face_total, nonface_total, boost_type)
        best[first:first + chunk.shape[0]] = scores.max(axis=1)
    errors = _errors_from_best(best, face_total, nonface_total, boost_type)
    errors[~index.splittable[ids]] = np.inf
    return errors


def exact_split(values: np.ndarray, weights: np.ndarray, labels: np.ndarray, boost_type: str,
                feature_index: int = -1) -> SplitChoice | None:
    """The best split of one feature over its real values: every threshold between two
    distinct values is scored (first rank on ties); None when all values are equal.

    Args:
        values: ``(N,)`` float32 values of the feature.
        weights, labels: ``(N,)`` as in ``feature_errors``.
        feature_index: stored in the returned choice.
    """
    weights = _validated(values.shape[0], weights, labels, boost_type)
    values = np.asarray(values, dtype=np.float32)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    allowed = ordered[1:] > ordered[:-1]
    if not allowed.any():
        return None
    is_face = np.asarray(labels) > 0
    faces, w = is_face[order], weights[order]
    face_total, nonface_total = float(weights[is_face].sum()), float(weights[~is_face].sum())
    p = np.cumsum(np.where(faces, w, 0.0))[:-1]
    q = np.cumsum(np.where(faces, 0.0, w))[:-1]
    scores = _scores_numpy(p, q, allowed, face_total, nonface_total, boost_type)
    rank = int(np.argmax(np.where(allowed, scores, -1.0)))
    error = float(_errors_from_best(scores[rank:rank + 1], face_total, nonface_total, boost_type)[0])
    polarity = 0
    if boost_type == "discrete":  # faces on the left when s - (P - Q) / 2 >= 0
        polarity = 1 if p[rank] - q[rank] >= (face_total - nonface_total) / 2 else -1
    threshold = stump_threshold(ordered[rank], ordered[rank + 1])
    return SplitChoice(int(feature_index), threshold, rank, polarity, error)


def screened_features(data: TrainingSet, weights: np.ndarray, boost_type: str, use_reference: bool = False
                      ) -> np.ndarray | None:
    """``(K,)`` increasing pool indices of the features worth a full histogram: the
    ``max(SCREEN_MIN_KEEP, F // SCREEN_KEEP_RATIO)`` lowest histogram errors over the
    screening subset (``vj.train_features.screening_order``). None (every feature)
    when there is no subset, or it lacks a class."""
    keep = max(SCREEN_MIN_KEEP, data.index.num_features // SCREEN_KEEP_RATIO)
    screen = data.index.order[: data.index.screen_count]
    if not screen.size or keep >= data.index.num_features:
        return None
    faces = data.labels[screen] > 0
    if not (weights[screen][faces].sum() > 0 and weights[screen][~faces].sum() > 0):
        return None
    search = feature_errors_reference if use_reference else feature_errors
    rough = search(data.index, weights, data.labels, boost_type, screen_only=True)
    return np.sort(np.argsort(rough, kind="stable")[:keep])


def best_split(data: TrainingSet, weights: np.ndarray, boost_type: str, use_reference: bool = False,
               candidates: int = REFINE_CANDIDATES, screen: bool = False) -> SplitChoice:
    """The best stump over all features (see the module doc for how exact it is).

    Args:
        data: the training set (its binned index, labels and integrals).
        weights: ``(N,)`` search weights (0 for trimmed samples).
        boost_type: ``"discrete"`` or ``"gentle"``.
        use_reference: score the histograms with the NumPy reference instead of Numba.
        candidates: features refined exactly on their real values (>= 1).
        screen: with many samples, histogram all samples only for the features a
            first pass over a quarter of them ranks best (``screened_features``):
            about 3x faster, but it can miss the best feature once the weights
            concentrate on few samples (see the module doc), so it is off by default.

    Returns:
        The lowest exact error among the candidates; the lowest feature index on ties.
    """
    search = feature_errors_reference if use_reference else feature_errors
    ids = screened_features(data, weights, boost_type, use_reference) if screen else None
    errors = search(data.index, weights, data.labels, boost_type, features=ids)
    finite = int(np.isfinite(errors).sum())
    if finite == 0:
        raise ValueError("no feature can split the samples: every feature has a single value")
    chosen = np.argsort(errors, kind="stable")[: max(1, min(int(candidates), finite))]
    if ids is not None:
        chosen = ids[chosen]
    values = data.feature_values(chosen)
    best: SplitChoice | None = None
    for k in np.argsort(chosen):  # increasing feature index, so ties keep the lowest
        choice = exact_split(values[k], weights, data.labels, boost_type, int(chosen[k]))
        if choice is not None and (best is None or choice.error < best.error):
            best = choice
    if best is None:
        raise RuntimeError("the candidate features' values are all equal, yet their bins split them")
    return best
