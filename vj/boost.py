"""AdaBoost with decision stumps (or trees) over Haar features: how a stage chooses its features.

Each round normalises the sample weights, finds the stump (feature, threshold, two
leaf values) with the lowest weighted error over all features
(``vj.stump_search``), adds it to the strong classifier and re-weights the samples so
that the next round concentrates on the ones it got wrong. Two variants:

``discrete`` -- Viola-Jones' AdaBoost as Kang, Jiang and Li write it (section III.A):
    weights start at ``1/(2n)`` for the n faces and ``1/(2l)`` for the l non-faces;
    ``h(x) = 1`` when ``p f(x) < p theta``; ``eps = sum w |h - y|``,
    ``beta = eps / (1 - eps)``, ``alpha = log(1 / beta)``; correctly classified samples
    have their weight multiplied by ``beta``; the strong classifier says "face" when
    ``sum alpha_t h_t(x) >= (1/2) sum alpha_t``. As a stump, ``h_t`` contributes
    ``alpha_t`` on its face side and 0 on the other, and the stage threshold is
    half the alpha sum.
``gentle`` -- OpenCV's default: each stump is a weighted least-squares regression of
    ``y in {-1, +1}``, each leaf the weighted mean of ``y`` on its side; the
    classifier's score is the sum of leaf values and ``w *= exp(-y * leaf)``.

``real`` (Real AdaBoost) and ``logit`` (LogitBoost), and any type with
``max_depth > 1``, grow OpenCV's boosted trees instead (``vj.tree_train``, where their
leaf values and weight updates are written out); ``gentle`` and ``discrete`` stumps
(``max_depth = 1``) take the stump path described here, unchanged.

Optional weight trimming (OpenCV's ``weight_trim_rate``, 0.95 in ``traincascade``)
leaves the lightest samples, holding ``1 - rate`` of the weight, out of the stump
search of that round (and out of Gentle's leaf means); the re-weighting, and the
discrete ``eps`` and ``alpha``, still use every sample.

The search (``vj.stump_search``) scores each feature's binned values, then refines the
best few exactly on their real values, so a stump's threshold lies strictly between
the two float32 values it separates (``stump_threshold``), in
the same units as OpenCV's detector (``vj.train_features``), so
``TrainedStump.weak_classifier`` can go straight into a ``vj.cascade.Cascade`` and the
detector reproduces the training decisions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from vj.cascade import Cascade, Stage, WeakClassifier
from vj.haar_enum import HaarFeaturePool
from vj.stump_search import BOOST_TYPES as STUMP_BOOST_TYPES
from vj.stump_search import SplitChoice, best_split, stump_threshold  # noqa: F401 (re-exported)
from vj.train_features import TrainingSet, WindowIntegrals, compute_feature_values
from vj.tree_train import (LOGIT_START_Z, TrainedTree, UnsplittableRootError, exp_loss_weights, grow_tree,
                           logit_weights)

#: Every boosting type: the stump search's two (``vj.stump_search.BOOST_TYPES``), then
#: Real AdaBoost and LogitBoost, which always grow trees (``vj.tree_train``).
BOOST_TYPES = STUMP_BOOST_TYPES + ("real", "logit")

#: Smallest weighted error used for ``beta`` (a perfect stump would get alpha = inf).
MIN_DISCRETE_ERROR = 1e-10
INITIAL_WEIGHTS = ("balanced", "uniform")


class WeakLearnerError(RuntimeError):
    """The best stump is no better than chance (discrete error >= 1/2)."""


@dataclass(frozen=True)
class TrainedStump:
    """One boosting round's weak classifier.

    Attributes:
        feature_index: index of the feature in the ``HaarFeaturePool``.
        threshold: normalised threshold (a float32 value); ``value < threshold`` goes left.
        left_value, right_value: leaf values added to the stage sum (float32 values,
            as OpenCV stores them).
        error: weighted error of the round (``discrete``: ``eps``; ``gentle``:
            weighted squared error over the samples the search used).
    """

    feature_index: int
    threshold: float
    left_value: float
    right_value: float
    error: float

    def leaf_values(self, values: np.ndarray) -> np.ndarray:
        """``(N,)`` float64 leaf value of each sample, given its ``(N,)`` float32 feature values."""
        return np.where(np.asarray(values, dtype=np.float32) < np.float32(self.threshold),
                        self.left_value, self.right_value)

    def weak_classifier(self, cascade_feature_index: int) -> WeakClassifier:
        """This stump in the cascade data model, its feature at ``cascade_feature_index``."""
        return WeakClassifier.stump(cascade_feature_index, self.threshold, self.left_value, self.right_value)


#: A round's weak classifier: a stump, or a tree (``max_depth > 1``, ``real``, ``logit``).
WeakLearner = TrainedStump | TrainedTree


def initial_weights(labels: np.ndarray, scheme: str = "balanced") -> np.ndarray:
    """``(N,)`` float64 starting weights: ``balanced`` gives each class half the total
    (``1/(2n)`` per face, ``1/(2l)`` per non-face, as in the paper); ``uniform`` ``1/N``
    (OpenCV's ``traincascade``)."""
    labels = np.asarray(labels)
    if scheme not in INITIAL_WEIGHTS:
        raise ValueError(f"initial weights must be one of {INITIAL_WEIGHTS}, got {scheme!r}")
    faces = labels > 0
    n_faces, n_nonfaces = int(faces.sum()), int((~faces).sum())
    if n_faces == 0 or n_nonfaces == 0:
        raise ValueError(f"need faces and non-faces, got {n_faces} faces and {n_nonfaces} non-faces")
    if scheme == "uniform":
        return np.full(labels.shape[0], 1.0 / labels.shape[0])
    return np.where(faces, 1.0 / (2 * n_faces), 1.0 / (2 * n_nonfaces))


def trimmed_mask(weights: np.ndarray, rate: float) -> np.ndarray:
    """OpenCV's weight trimming: ``(N,)`` bool, False for the lightest samples that
    together hold at most about ``1 - rate`` of the weight. ``rate`` outside (0, 1) keeps all."""
    weights = np.asarray(weights, dtype=np.float64)
    if not 0.0 < rate < 1.0:
        return np.ones(weights.shape, dtype=bool)
    ascending = np.sort(weights / weights.sum())
    consumed = int(np.searchsorted(np.cumsum(ascending), 1.0 - rate, side="left")) + 1
    cutoff = ascending[consumed] if consumed < ascending.shape[0] else np.inf
    return weights / weights.sum() >= cutoff


@dataclass
class BoostState:
    """The strong classifier being built and the sample weights between rounds.

    Attributes:
        boost_type: ``"discrete"``, ``"gentle"``, ``"real"`` or ``"logit"``.
        labels: ``(N,)`` uint8, 1 for a face.
        weights: ``(N,)`` float64 sample weights, normalised to sum 1.
        scores: ``(N,)`` float64 stage sum (sum of leaf values) of each sample so far.
        stumps: the weak classifiers, in order (``TrainedTree`` when ``grows_trees``).
        alphas: ``discrete`` only: each weak classifier's ``alpha``.
        weight_trim_rate: OpenCV's trimming rate; 0 disables trimming.
        max_depth: most levels of splits of a weak classifier (1: stumps).
        targets: ``logit`` only: ``(N,)`` float32 working responses ``z`` of the next tree.
    """

    boost_type: str
    labels: np.ndarray
    weights: np.ndarray
    scores: np.ndarray
    stumps: list[WeakLearner] = field(default_factory=list)
    alphas: list[float] = field(default_factory=list)
    weight_trim_rate: float = 0.0
    max_depth: int = 1
    targets: np.ndarray | None = None

    @classmethod
    def start(cls, labels: np.ndarray, boost_type: str = "gentle", initial: str | None = None,
              weight_trim_rate: float = 0.0, max_depth: int = 1) -> "BoostState":
        """A fresh state. ``initial`` defaults to ``balanced`` for ``discrete`` (the paper)
        and ``uniform`` for the others (OpenCV); ``logit`` starts its targets at ``+-2``."""
        if boost_type not in BOOST_TYPES:
            raise ValueError(f"boost_type must be one of {BOOST_TYPES}, got {boost_type!r}")
        if int(max_depth) != max_depth or max_depth < 1:
            raise ValueError(f"max_depth must be an integer >= 1, got {max_depth!r}")
        labels = np.asarray(labels).astype(np.uint8)
        scheme = initial or ("balanced" if boost_type == "discrete" else "uniform")
        weights = initial_weights(labels, scheme)
        targets = None
        if boost_type == "logit":
            targets = np.where(labels > 0, LOGIT_START_Z, -LOGIT_START_Z).astype(np.float32)
        return cls(boost_type, labels, weights, np.zeros(labels.shape[0]), weight_trim_rate=weight_trim_rate,
                   max_depth=int(max_depth), targets=targets)

    @property
    def grows_trees(self) -> bool:
        """Whether rounds grow trees (``vj.tree_train``) rather than take the stump path."""
        return self.max_depth > 1 or self.boost_type not in STUMP_BOOST_TYPES

    @property
    def stage_threshold(self) -> float:
        """The strong classifier's threshold: half the alpha sum (discrete) or 0 (gentle)."""
        return 0.5 * float(np.sum(self.alphas)) if self.boost_type == "discrete" else 0.0

    def predictions(self) -> np.ndarray:
        """``(N,)`` bool, True where the strong classifier so far says "face"."""
        return self.scores >= self.stage_threshold

    def training_error(self) -> float:
        """Fraction of training samples the strong classifier so far gets wrong."""
        return float(np.mean(self.predictions() != (self.labels > 0)))


def _chosen_stump_split(data: TrainingSet, choice: SplitChoice) -> np.ndarray:
    """``(N,)`` bool, True for the samples the chosen stump sends left, checked against
    the split the search scored (``rank + 1`` samples on the left)."""
    values = data.feature_values([choice.feature_index])[0]
    goes_left = values < np.float32(choice.threshold)
    if int(goes_left.sum()) != choice.rank + 1:
        raise RuntimeError(f"threshold {choice.threshold} of feature {choice.feature_index} "
                           "does not reproduce the searched split")
    return goes_left


def _as_float32(value: float) -> float:
    """``value`` rounded to float32, the precision OpenCV keeps leaf values in, so that
    stage sums in training equal the detector's."""
    return float(np.float32(value))


def _discrete_vote(weights: np.ndarray, wrong: np.ndarray, what: str) -> tuple[float, float, float]:
    """Discrete AdaBoost's ``(eps, beta, alpha)`` for a weak classifier that errs on ``wrong``
    (``(N,)`` bool) under the ``(N,)`` normalised weights; ``alpha`` rounded to float32."""
    eps = float(weights[wrong].sum())
    if eps >= 0.5:
        raise WeakLearnerError(f"best {what} has weighted error {eps:.6f} >= 0.5")
    beta = max(eps, MIN_DISCRETE_ERROR) / (1.0 - eps)
    return eps, beta, _as_float32(np.log(1.0 / beta))


def boost_round(state: BoostState, data: TrainingSet, use_reference: bool = False,
                screen: bool = False) -> WeakLearner:
    """One AdaBoost round: choose the best stump (or grow a tree, when
    ``state.grows_trees``), add it to ``state`` and re-weight.

    Args:
        state: updated in place (``stumps``, ``alphas``, ``scores``, ``weights``, ``targets``).
        data: the training set (its labels must be ``state.labels``).
        use_reference: score the histograms with the NumPy reference instead of Numba.
        screen: stumps only: let a first pass over a quarter of the samples pick the
            features that get a full histogram (``vj.stump_search.screened_features``;
            many samples only; faster, less exact, off by default).

    Returns:
        The new stump (``TrainedStump``) or tree (``TrainedTree``).
    """
    if data.num_samples != state.labels.shape[0] or not np.array_equal(data.labels, state.labels):
        raise ValueError("the training set's labels differ from the boosting state's")
    if state.grows_trees:
        return _tree_round(state, data, use_reference)
    weights = state.weights / state.weights.sum()
    search_weights = weights * trimmed_mask(weights, state.weight_trim_rate)
    choice = best_split(data, search_weights, state.boost_type, use_reference, screen=screen)
    threshold = choice.threshold
    goes_left = _chosen_stump_split(data, choice)
    is_face = data.labels > 0
    if state.boost_type == "discrete":
        says_face = goes_left if choice.polarity > 0 else ~goes_left
        wrong = says_face != is_face
        eps, beta, alpha = _discrete_vote(weights, wrong, "stump")
        left, right = (alpha, 0.0) if choice.polarity > 0 else (0.0, alpha)
        stump = TrainedStump(choice.feature_index, threshold, left, right, eps)
        state.alphas.append(alpha)
        new_weights = np.where(wrong, weights, weights * beta)
    else:
        signs = np.where(is_face, 1.0, -1.0)
        left_w, right_w = search_weights[goes_left], search_weights[~goes_left]
        left = _as_float32((left_w * signs[goes_left]).sum() / left_w.sum())
        right = _as_float32((right_w * signs[~goes_left]).sum() / right_w.sum())
        stump = TrainedStump(choice.feature_index, threshold, left, right, choice.error)
        new_weights = weights * np.exp(-signs * np.where(goes_left, left, right))
    state.scores += np.where(goes_left, stump.left_value, stump.right_value)
    state.weights = new_weights / new_weights.sum()
    state.stumps.append(stump)
    return stump


def _tree_round(state: BoostState, data: TrainingSet, use_reference: bool) -> TrainedTree:
    """``boost_round`` for trees: grow one (``vj.tree_train.grow_tree``) on the trimmed
    samples, then re-weight every sample by the boosting type's rule.

    When the trimmed samples leave a root that cannot be split (typically a single
    class, once the stage classifies its training set perfectly and the weights sit on
    a few samples), the tree is grown on every sample instead; OpenCV would retry the
    same tree forever.
    """
    weights = state.weights / state.weights.sum()
    is_face = data.labels > 0
    signs = np.where(is_face, 1.0, -1.0)
    targets = state.targets if state.boost_type == "logit" else signs
    try:
        tree, leaf = grow_tree(data, weights, trimmed_mask(weights, state.weight_trim_rate), targets,
                               state.boost_type, state.max_depth, use_reference)
    except UnsplittableRootError:
        tree, leaf = grow_tree(data, weights, np.ones(weights.shape, dtype=bool), targets,
                               state.boost_type, state.max_depth, use_reference)
    if state.boost_type == "discrete":
        says_face = np.asarray(tree.leaves)[leaf] > 0
        wrong = says_face != is_face
        eps, beta, alpha = _discrete_vote(weights, wrong, "tree")
        tree = replace(tree.with_leaves([alpha * v for v in tree.leaves]), error=eps)
        state.alphas.append(alpha)
        new_weights = np.where(wrong, weights, weights * beta)
    f = np.asarray(tree.leaves, dtype=np.float64)[leaf]
    state.scores += f
    if state.boost_type == "logit":
        new_weights, state.targets = logit_weights(state.scores, is_face)
    elif state.boost_type != "discrete":
        new_weights = exp_loss_weights(weights, is_face, f)
    state.weights = new_weights / new_weights.sum()
    state.stumps.append(tree)
    return tree


def train_boosted(data: TrainingSet, rounds: int, boost_type: str = "gentle", initial: str | None = None,
                  weight_trim_rate: float = 0.0,
                  progress: Callable[[int, WeakLearner, BoostState], None] | None = None,
                  max_depth: int = 1) -> BoostState:
    """Run ``rounds`` boosting rounds from a fresh state (see ``BoostState.start``).

    ``progress(round_number, stump, state)`` is called after each round, if given.
    """
    state = BoostState.start(data.labels, boost_type, initial, weight_trim_rate, max_depth)
    for t in range(rounds):
        stump = boost_round(state, data)
        if progress is not None:
            progress(t + 1, stump, state)
    return state


def _features_used(weak: WeakLearner) -> tuple[int, ...]:
    """Pool indices of the features a stump or tree reads, one per node."""
    return weak.features if isinstance(weak, TrainedTree) else (weak.feature_index,)


def evaluate_stumps(stumps: list[WeakLearner], pool: HaarFeaturePool, integrals: WindowIntegrals) -> np.ndarray:
    """``(N,)`` float64 stage sum (sum of leaf values) of the stumps or trees on N windows."""
    total = np.zeros(integrals.num_samples)
    if not stumps:
        return total
    features = sorted({f for s in stumps for f in _features_used(s)})
    values = compute_feature_values(pool, integrals, np.array(features))
    row_of = {f: k for k, f in enumerate(features)}
    for stump in stumps:
        rows = [row_of[f] for f in _features_used(stump)]
        total += stump.leaf_values(values[rows] if isinstance(stump, TrainedTree) else values[rows[0]])
    return total


def add_stage(cascade: Cascade, pool: HaarFeaturePool, stumps: list[WeakLearner], threshold: float) -> Stage:
    """Append a stage made of ``stumps`` (or trees) to ``cascade``, adding every feature
    their nodes use to ``cascade.features`` (a feature already there is reused).
    Returns the new stage."""
    if tuple(cascade.window_size) != tuple(pool.window_size):
        raise ValueError(f"cascade window {cascade.window_size} differs from the pool's {pool.window_size}")
    if not stumps:
        raise ValueError("a stage needs at least one stump")
    position = {(f.tilted, f.rects.tobytes()): i for i, f in enumerate(cascade.features)}
    weak_classifiers = []
    for stump in stumps:
        at = []
        for index in _features_used(stump):
            feature = pool.haar_feature(index)
            key = (feature.tilted, feature.rects.tobytes())
            if key not in position:
                position[key] = len(cascade.features)
                cascade.features.append(feature)
            at.append(position[key])
        weak_classifiers.append(stump.weak_classifier(at) if isinstance(stump, TrainedTree)
                                else stump.weak_classifier(at[0]))
    stage = Stage(float(threshold), weak_classifiers)
    cascade.stages.append(stage)
    return stage
