"""The figure of the AdaBoost tutorial, computed by vj's cascade trainer.

The data are the ones ``docs/tutorials/adaboost.md`` uses, so the figure and the
page's printed numbers agree: scikit-image's ``lfw_subset`` (100 face windows and 100
non-face windows of 25 x 25 pixels, shipped with the package) shrunk to the 24 x 24
detector window, the non-faces doubled by their mirror images. ``figures_vj.py``
registers the figure in its ``FIGURES``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vj.boost import BoostState, boost_round  # noqa: E402
from vj.features import draw_feature  # noqa: E402
from vj.haar_enum import enumerate_haar_features  # noqa: E402
from vj.image import resize_bilinear  # noqa: E402
from vj.positives import mirrored  # noqa: E402
from vj.train_features import TrainingSet, build_training_set  # noqa: E402

from figures_minicnn import save  # noqa: E402

#: Boosting rounds on the error curve, and rounds whose features are drawn.
CURVE_ROUNDS = 12
DRAWN_ROUNDS = 6


@lru_cache(maxsize=None)
def lfw_training_set() -> TrainingSet:
    """The tutorial's 300 windows (100 faces, then 200 non-faces) with every BASIC feature sorted."""
    from skimage import data

    lfw = np.round(data.lfw_subset() * 255).astype(np.uint8)
    lfw = np.stack([resize_bilinear(image, 24, 24) for image in lfw])
    windows = np.concatenate([lfw[:100], mirrored(lfw[100:])])
    labels = np.r_[np.ones(100, np.uint8), np.zeros(200, np.uint8)]
    return build_training_set(windows, labels, enumerate_haar_features((24, 24), "BASIC"))


def _windows(training_set: TrainingSet) -> np.ndarray:
    """``(N, 24, 24)`` uint8 windows back from the integral images (the set keeps only those)."""
    width, height = training_set.integrals.window_size
    sums = training_set.integrals.sums.T.reshape(-1, height + 1, width + 1).astype(np.int64)
    return np.diff(np.diff(sums, axis=1), axis=2).astype(np.uint8)


def figure_adaboost_rounds(out_dir: Path) -> Path:
    """Discrete AdaBoost's first rounds: the features chosen, the sample weights, the training error."""
    training_set = lfw_training_set()
    labels = training_set.labels
    is_face = labels > 0
    discrete, gentle = BoostState.start(labels, "discrete"), BoostState.start(labels, "gentle")
    weights_before, wrong_after, stumps = [], [], []
    discrete_error, gentle_error = [], []
    for _ in range(CURVE_ROUNDS):
        weights_before.append(discrete.weights.copy())
        scores_before = discrete.scores.copy()
        stump = boost_round(discrete, training_set)
        boost_round(gentle, training_set)
        says_face = (discrete.scores - scores_before) > 0  # this round's stump alone: alpha on its face side
        wrong_after.append(says_face != is_face)
        stumps.append(stump)
        discrete_error.append(discrete.training_error())
        gentle_error.append(gentle.training_error())

    fig = plt.figure(figsize=(13, 7.4))
    grid = fig.add_gridspec(2, DRAWN_ROUNDS, height_ratios=[1, 1.35], hspace=0.4, wspace=0.7)
    mean_face = _windows(training_set)[is_face].mean(axis=0)
    for t in range(DRAWN_ROUNDS):
        ax = fig.add_subplot(grid[0, t])
        stump = stumps[t]
        face_side = "<" if stump.left_value > 0 else ">="
        draw_feature(training_set.pool.haar_feature(stump.feature_index), (24, 24), ax=ax, window_image=mean_face)
        ax.set_title(f"round {t + 1}: feature {stump.feature_index}\nface if value {face_side} {stump.threshold:+.3f}\n"
                     f"eps {stump.error:.3f}, alpha {discrete.alphas[t]:.2f}", fontsize=8)
        ax.tick_params(labelsize=6)

    ax = fig.add_subplot(grid[1, : DRAWN_ROUNDS // 2])
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, labels.shape[0])
    for t in range(DRAWN_ROUNDS):
        w = weights_before[t]
        for mask, colour, name in ((is_face, "tab:blue", "face"), (~is_face, "tab:orange", "non-face")):
            ax.scatter(t + 1 + jitter[mask], w[mask], s=6, color=colour, alpha=0.6, label=name if t == 0 else None)
        if t:
            held = w[wrong_after[t - 1]].sum()
            ax.text(t + 1, w.max() * 1.6, f"{held:.2f}", ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 3)
    ax.set(xlabel="round t (weights going into it)", ylabel="sample weight (sums to 1)",
           title="Sample weights: 1/(2m) per face, 1/(2l) per non-face, then\nx beta for every sample a round "
                 "gets right; number: weight now held by\nthe previous round's mistakes")
    ax.title.set_fontsize(9)
    ax.set_xticks(range(1, DRAWN_ROUNDS + 1))
    ax.legend(fontsize=8, loc="lower left")

    ax = fig.add_subplot(grid[1, DRAWN_ROUNDS // 2:])
    rounds = np.arange(1, CURVE_ROUNDS + 1)
    ax.plot(rounds, discrete_error, "o-", label="discrete AdaBoost: training error (threshold = half the alpha sum)")
    ax.plot(rounds, gentle_error, "s--", label="Gentle AdaBoost: training error (threshold 0)")
    ax.plot(rounds, [s.error for s in stumps], "^:", color="0.4",
            label="discrete: weighted error eps of the round's stump")
    ax.set(xlabel="rounds", ylabel="error", ylim=(-0.005, None),
           title=f"Training error (fraction of the {int(is_face.sum())} faces and {int((~is_face).sum())} "
                 "non-faces misclassified)\nof the strong classifier, round by round")
    ax.title.set_fontsize(9)
    ax.set_xticks(rounds)
    ax.legend(fontsize=8)
    fig.suptitle(f"Discrete AdaBoost on scikit-image's lfw_subset, 24 x 24 windows, all {len(training_set.pool):,} "
                 "BASIC features (vj.boost.boost_round)", fontsize=10)
    return save(fig, out_dir / "adaboost_rounds.png")
