"""Training an attentional cascade (Viola and Jones, section 4): stage after stage of
boosted stumps, each trained on the positives and the hard negatives that the
stages before it still accept.

One stage:

1. the positives the cascade so far rejects are dropped (training stops with
   ``TooFewPositivesError`` when fewer than ``min_positives`` remain);
2. ``num_negatives`` background windows the cascade still accepts are mined at
   random positions and scales (``vj.mining``); the fraction of tried windows it
   accepted estimates the cascade's false-positive rate, and training ends when that
   is at most ``target_false_positive_rate`` (or when nothing is left to mine);
3. AdaBoost rounds (``vj.boost``) add stumps; after each, the stage threshold is set
   as high as keeps ``min_hit_rate`` of the stage's positives, and the stage is done
   when its false-alarm rate on its negatives is at most ``max_false_alarm`` (or after
   ``max_weak_per_stage`` rounds). Decisions use the detector's rule
   ``sum >= float32(threshold) - 1e-5``, so the rates are those the detector shows.

With ``reuse_negatives`` (not in opencv_traincascade) step 2 keeps the last stage's
negatives that the new stage still accepts, at most half of ``num_negatives``, and mines
only the rest: they pass every stage so far, as a mined window must, so the stage's
training set has the same kind of windows while the mining, which dominates the late
stages, has fewer negatives to find (benchmarks/reuse_negatives.py measures what that saves). The training fingerprint records the choice, and the
last stage's negatives are kept beside the cascade (``OUT.negatives.npz``) so that a
resumed training continues as an uninterrupted one.

With ``feature_type`` LBP (opencv_traincascade's ``-featureType LBP``) the stages are made of
categorical stumps over OpenCV's multi-block LBP codes (``vj.lbp_train``) and the cascade is an
``vj.lbp.LbpCascade``; mining, thresholds, saving and resuming are the same.

Every finished stage is written at once (``save_cascade``, atomically) together with
a JSON sidecar ``OUT.train.json`` holding the settings, a fingerprint of the data and
of the settings that shape the stages (all but the stopping rules, so a finished
training can be continued with more stages or a larger mining budget), each stage's
figures (``StageReport``, with an estimate of the time left) and the whole training's
wall time ``training_seconds`` (resumed sessions added up). Each stage draws its
negatives from a random generator seeded by ``(seed, stage index)``, so a training interrupted and started again with the same
settings and data resumes after the last saved stage and ends with the same cascade
as an uninterrupted one. The sidecar also holds the SHA-256 of the cascade file after and
before the last save and is renamed into place before the cascade, so a resume knows a
kill between the two renames (it redoes that stage) from a cascade file someone else
wrote or changed (refused without ``overwrite``, as is a cascade without a sidecar).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .boost import BoostState, WeakLearner, add_stage, boost_round
from .cascade import Cascade
from .detect import STAGE_THRESHOLD_EPS
from .haar_enum import HaarFeaturePool, enumerate_haar_features
from .lbp_train import (LbpBoostState, add_lbp_stage, build_lbp_training_set, empty_lbp_cascade, lbp_boost_round,
                        lbp_feature_pool, lbp_pool_size)
from .mining import NegativeMiner, NoNegativesLeftError, cascade_accepts
from .negative_reuse import carried_negatives, save_stage_negatives, still_accepted
from .train_features import build_training_set
# the record's names are re-exported: callers import them from here
from .train_record import (SIDECAR_SUFFIX, OutputExistsError, ResumeMismatchError, SidecarError,  # noqa: F401
                           StageReport, load_resume, read_sidecar, remove_stale_temporaries, save_training,
                           sidecar_path, write_atomic)


class TooFewPositivesError(RuntimeError):
    """The cascade so far rejects so many positives that too few remain to train on."""


#: ``CascadeTrainingConfig.feature_type`` values (opencv_traincascade's ``-featureType``, less HOG).
FEATURE_TYPES = ("HAAR", "LBP")


@dataclass(frozen=True)
class CascadeTrainingConfig:
    """Settings of a cascade training (all of them enter the resume fingerprint).

    Attributes:
        window_size: ``(width, height)`` of the detector window.
        num_stages: most stages to train.
        min_hit_rate: fraction of its positives each stage must keep.
        max_false_alarm: a stage is done when it accepts at most this fraction of its negatives.
        target_false_positive_rate: stop when the cascade accepts at most this fraction
            of background windows (None: ``max_false_alarm ** num_stages``).
        num_negatives: negatives mined per stage.
        max_positives: use at most this many of the surviving positives per stage.
        min_positives: stop when fewer positives than this survive.
        max_weak_per_stage: most stumps in one stage.
        feature_set: ``BASIC``, ``CORE`` or ``ALL``.
        feature_fraction: keep this random fraction of the feature pool (1 = all).
        boost_type: ``gentle``, ``discrete``, ``real`` or ``logit`` (``vj.boost``).
        weight_trim_rate: OpenCV's weight trimming (0 disables).
        max_depth: most levels of splits of each weak classifier (opencv's
            ``-maxDepth``; 1: stumps, deeper: ``vj.tree_train``); Haar only.
        max_mining_windows: give up mining a stage after this many windows.
        seed: random seed (feature subset, negatives).
        feature_type: ``HAAR`` or ``LBP`` (``vj.lbp_train``: categorical stumps over
            OpenCV's multi-block LBP features; ``feature_set`` is then unused).
        reuse_negatives: carry the last stage's negatives that the cascade still accepts
            into the next stage (at most half of ``num_negatives``) and mine only the rest.
        hit_rate_per_source: hold ``min_hit_rate`` on each positive source of the stage
            apart (``train_cascade``'s ``positive_sources``), not only on all of them: the
            stage threshold is the lowest of the sources' thresholds. With one hit rate over
            a mix, the few faces of a small, hard source (real photos beside aligned chips)
            are the ones each stage gives up, and a cascade of 23 stages kept 89% of its
            UTKFace chips but 64% of its own WebFaces training faces.
    """

    window_size: tuple[int, int] = (24, 24)
    num_stages: int = 20
    min_hit_rate: float = 0.995
    max_false_alarm: float = 0.5
    target_false_positive_rate: float | None = None
    num_negatives: int = 2000
    max_positives: int = 2000
    min_positives: int = 100
    max_weak_per_stage: int = 200
    feature_set: str = "BASIC"
    feature_fraction: float = 1.0
    boost_type: str = "gentle"
    weight_trim_rate: float = 0.95
    max_depth: int = 1
    max_mining_windows: int = 200_000_000
    seed: int = 0
    feature_type: str = "HAAR"
    reuse_negatives: bool = False
    hit_rate_per_source: bool = False

    def __post_init__(self) -> None:
        if self.feature_type not in FEATURE_TYPES:
            raise ValueError(f"feature_type must be one of {FEATURE_TYPES}, got {self.feature_type!r}")
        if self.feature_type == "LBP" and self.feature_set != "BASIC":
            raise ValueError(f"feature_set {self.feature_set!r} is a Haar setting: LBP training has one feature pool")
        if self.feature_type == "LBP" and self.boost_type not in ("gentle", "discrete"):
            raise ValueError(f"boost_type {self.boost_type!r}: LBP training boosts 'gentle' or 'discrete'")
        if not 0 < self.min_hit_rate <= 1:
            raise ValueError(f"min_hit_rate must be in (0, 1], got {self.min_hit_rate}")
        if not 0 < self.max_false_alarm < 1:
            raise ValueError(f"max_false_alarm must be in (0, 1), got {self.max_false_alarm}")
        if self.num_stages < 1 or self.num_negatives < 1 or self.max_weak_per_stage < 1:
            raise ValueError("num_stages, num_negatives and max_weak_per_stage must be >= 1")
        if not 0 < self.feature_fraction <= 1:
            raise ValueError(f"feature_fraction must be in (0, 1], got {self.feature_fraction}")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int) or not 1 <= self.max_depth <= 25:
            raise ValueError(f"max_depth must be an integer in 1..25, got {self.max_depth!r}")
        if self.feature_type != "HAAR" and self.max_depth > 1:
            raise ValueError(f"max_depth {self.max_depth}: trees are trained for Haar features only")

    @property
    def target_rate(self) -> float:
        """The overall false-positive rate at which training stops."""
        if self.target_false_positive_rate is not None:
            return float(self.target_false_positive_rate)
        return float(self.max_false_alarm ** self.num_stages)


@dataclass
class TrainingResult:
    """A finished training: the cascade, its stages' figures and why it stopped."""

    cascade: Cascade
    stages: list[StageReport] = field(default_factory=list)
    stop_reason: str = ""


#: ``progress(event, info)``: event ``"round"`` (info: stage, round, hit_rate,
#: false_alarm), ``"stage"`` (info: a StageReport as dict, with ``seconds_left``),
#: ``"mining"`` (found, tried), ``"resume"`` (stages loaded) or ``"stop"`` (reason,
#: training_seconds: the whole training's wall time, resumed sessions included).
ProgressCallback = Callable[[str, dict], None]


def stage_passes(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The detector's stage test on ``(N,)`` float64 sums: ``sum >= float32(threshold) - 1e-5f``."""
    return scores >= np.float64(np.float32(threshold) - STAGE_THRESHOLD_EPS)


def threshold_for_hit_rate(positive_scores: np.ndarray, min_hit_rate: float) -> float:
    """The highest float32 stage threshold that keeps at least ``min_hit_rate`` of the
    positives (under ``stage_passes``)."""
    ordered = np.sort(positive_scores)
    n = ordered.shape[0]
    may_lose = int(np.floor((1.0 - min_hit_rate) * n + 1e-9))
    threshold = np.float32(ordered[min(may_lose, n - 1)])
    while stage_passes(ordered, float(threshold)).sum() < n - may_lose:
        threshold = np.nextafter(threshold, np.float32(-np.inf))
    return float(threshold)


def stage_threshold(positive_scores: np.ndarray, min_hit_rate: float,
                    positive_sources: np.ndarray | None = None) -> float:
    """The stage threshold for ``(P,)`` positive scores: ``threshold_for_hit_rate`` over all of
    them, or, with ``(P,)`` ``positive_sources``, the lowest of the thresholds that keep
    ``min_hit_rate`` of each source (so every source keeps at least that share)."""
    if positive_sources is None:
        return threshold_for_hit_rate(positive_scores, min_hit_rate)
    return min(threshold_for_hit_rate(positive_scores[positive_sources == source], min_hit_rate)
               for source in np.unique(positive_sources))


#: The time-left estimate takes the background acceptance's fall per stage from this many
#: recent stages (``estimate_seconds_left``).
ACCEPTANCE_TREND_STAGES = 4
#: ... and times mining only on stages that tried at least this many windows: the first
#: stages evaluate a few windows per image drawn and spend their mining time resizing, at
#: a rate 3 to 300 times below the later stages' (which made the first estimates of a
#: 30-minute training hundreds of hours).
MIN_TIMED_WINDOWS = 1_000_000


def estimate_seconds_left(reports: list[StageReport], config: CascadeTrainingConfig) -> float | None:
    """A rough estimate of the wall time the stages after ``reports`` will take.

    Stages are expected to continue until ``config.num_stages`` or until the cascade's
    background acceptance reaches ``config.target_rate``. Each stage multiplies the
    acceptance by the factor seen over the last ``ACCEPTANCE_TREND_STAGES`` stages (the
    geometric mean of their ``acceptance_before`` ratios; with one stage, its own false-alarm
    rate). Stages fit their own negatives better than they generalise, so the factor seen is
    0.5 to 0.9 where each stage's own false alarm is about 0.5; taking the latter made early
    estimates tens of times too long. Each future stage costs its mining (``mined /
    acceptance`` windows, at most ``max_mining_windows``, at the highest rate in windows per
    second any stage of at least ``MIN_TIMED_WINDOWS`` windows mined at: early stages
    evaluate few windows per image drawn and are slowed by resizing; ``mined`` is
    ``num_negatives`` less, with ``reuse_negatives``, the last stage's negatives it still
    accepts, at most half) plus its boosting (the last
    stage's time per stump, the stump count growing by the mean growth so far, at most
    ``max_weak_per_stage``).

    Returns:
        Seconds; 0 when no stage is left (or no stage has finished); None while stages are
        left but none has mined enough windows to time.
    """
    if not reports:
        return 0.0
    last = reports[-1]
    recent = reports[-ACCEPTANCE_TREND_STAGES:]
    if len(recent) >= 2 and recent[0].acceptance_before > 0 and last.acceptance_before > 0:
        factor = (last.acceptance_before / recent[0].acceptance_before) ** (1.0 / (len(recent) - 1))
    else:
        factor = last.false_alarm
    factor = min(max(factor, 1e-12), 0.99)
    acceptance = last.acceptance_before * factor
    rates = [r.windows_tried / r.mining_seconds for r in reports
             if r.mining_seconds > 0 and r.windows_tried >= MIN_TIMED_WINDOWS]
    windows_per_second = max(rates, default=0.0)
    seconds_per_weak = last.boost_seconds / max(last.num_weak, 1)
    growth = max(0.0, (last.num_weak - reports[0].num_weak) / max(len(reports) - 1, 1))
    carried = min(round(last.false_alarm * last.negatives), config.num_negatives // 2)  # what it still accepts
    mined = config.num_negatives - (carried if config.reuse_negatives else 0)
    total, weak = 0.0, float(last.num_weak)
    for _ in range(last.stage + 1, config.num_stages):
        if acceptance <= config.target_rate:
            break
        if windows_per_second <= 0:
            return None  # a stage is left, and no stage so far mined enough windows to time
        total += min(mined / acceptance, config.max_mining_windows) / windows_per_second
        weak = min(weak + growth, float(config.max_weak_per_stage))
        total += weak * seconds_per_weak
        acceptance *= factor
    return total


#: Settings that only decide when training stops: a finished training may be resumed
#: with other values of these (e.g. more stages).
STOPPING_SETTINGS = ("num_stages", "target_false_positive_rate", "max_mining_windows")


def _fingerprint(config: CascadeTrainingConfig, positives: np.ndarray, backgrounds: list[np.ndarray],
                 positive_sources: np.ndarray | None = None) -> str:
    """Hash of the settings that shape the stages and of the data."""
    shaping = {k: v for k, v in asdict(config).items() if k not in STOPPING_SETTINGS}
    if shaping["feature_type"] == "HAAR":
        del shaping["feature_type"]  # the fingerprint of sidecars written before the field existed
    if shaping["max_depth"] == 1:
        del shaping["max_depth"]  # likewise: stumps, as every training before trees
    if not shaping["reuse_negatives"]:
        del shaping["reuse_negatives"]  # likewise: every stage mined afresh
    if not shaping["hit_rate_per_source"]:
        del shaping["hit_rate_per_source"]  # likewise: one hit rate over all positives
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(positives).tobytes())
    if positive_sources is not None:
        digest.update(np.ascontiguousarray(positive_sources, dtype=np.int64).tobytes())
    for image in backgrounds:
        digest.update(np.asarray(image.shape).tobytes())
        digest.update(np.ascontiguousarray(image[:: max(1, image.shape[0] // 8)]).tobytes())
    return digest.hexdigest()


def _feature_pool(config: CascadeTrainingConfig) -> HaarFeaturePool | np.ndarray:
    """The Haar pool, or the ``(F, 4)`` LBP features, with ``feature_fraction`` of them kept at random."""
    lbp = config.feature_type == "LBP"
    pool = lbp_feature_pool(config.window_size) if lbp else enumerate_haar_features(config.window_size,
                                                                                      config.feature_set)
    if config.feature_fraction >= 1:
        return pool
    rng = np.random.default_rng([config.seed, 1_000_003])
    keep = np.sort(rng.choice(len(pool), int(round(config.feature_fraction * len(pool))), replace=False))
    if lbp:
        return pool[keep]
    return HaarFeaturePool(pool.window_size, pool.feature_set, pool.rects[keep], pool.weights[keep],
                           pool.tilted[keep], pool.kinds[keep])


def training_memory_bytes(config: CascadeTrainingConfig) -> int:
    """Bytes of the largest arrays one stage's training set holds: the ``(F, N)`` uint8
    binned values (``vj.train_features``), the ``(P, N)`` int32 integral images (twice
    with tilted features) and the ``(N, H, W)`` windows, for ``N = max_positives +
    num_negatives`` samples (the process itself, a few hundred MB, comes on top)."""
    width, height = config.window_size
    n = config.max_positives + config.num_negatives
    lbp = config.feature_type == "LBP"  # LBP: (F, N) uint8 codes and one int32 integral table
    features = lbp_pool_size(config.window_size) if lbp else len(enumerate_haar_features(config.window_size,
                                                                                         config.feature_set))
    if config.feature_fraction < 1:
        features = int(round(config.feature_fraction * features))
    tables = 2 if config.feature_set == "ALL" and not lbp else 1
    return features * n + tables * 4 * (width + 1) * (height + 1) * n + width * height * n


def train_stage(positives: np.ndarray, negatives: np.ndarray, pool: HaarFeaturePool | np.ndarray,
                config: CascadeTrainingConfig, on_round: Callable[[int, float, float], None] | None = None,
                positive_sources: np.ndarray | None = None) -> tuple[list[WeakLearner], float, float, float]:
    """Boost one stage until its false-alarm target (see the module doc).

    Args:
        positives, negatives: ``(P, H, W)`` and ``(Q, H, W)`` uint8 windows.
        positive_sources: ``(P,)`` source index of each positive; given, the threshold keeps
            ``config.min_hit_rate`` of every source (``stage_threshold``).
        pool: candidate features (``feature_type`` LBP: ``(F, 4)`` LBP features, and the
            stumps returned are ``vj.lbp_train.LbpStump``).
        config: targets and boosting settings.
        on_round: optional ``on_round(round, hit_rate, false_alarm)``.

    Returns:
        ``(stumps, threshold, hit_rate, false_alarm)``.
    """
    windows = np.concatenate([positives, negatives])
    labels = np.concatenate([np.ones(len(positives), np.uint8), np.zeros(len(negatives), np.uint8)])
    lbp = config.feature_type == "LBP"
    data = build_lbp_training_set(windows, labels, pool) if lbp else build_training_set(windows, labels, pool)
    if lbp:
        state = LbpBoostState.start(labels, config.boost_type, weight_trim_rate=config.weight_trim_rate)
    else:
        state = BoostState.start(labels, config.boost_type, weight_trim_rate=config.weight_trim_rate,
                                 max_depth=config.max_depth)
    is_face = labels > 0
    threshold = hit_rate = false_alarm = 0.0
    for round_number in range(1, config.max_weak_per_stage + 1):
        (lbp_boost_round if lbp else boost_round)(state, data)
        threshold = stage_threshold(state.scores[is_face], config.min_hit_rate, positive_sources)
        passes = stage_passes(state.scores, threshold)
        hit_rate, false_alarm = float(passes[is_face].mean()), float(passes[~is_face].mean())
        if on_round is not None:
            on_round(round_number, hit_rate, false_alarm)
        if false_alarm <= config.max_false_alarm:
            break
    return list(state.stumps), threshold, hit_rate, false_alarm


def train_cascade(positives: np.ndarray, backgrounds: list[np.ndarray], config: CascadeTrainingConfig,
                  out: str | os.PathLike, progress: ProgressCallback | None = None,
                  overwrite: bool = False, positive_sources: np.ndarray | None = None) -> TrainingResult:
    """Train (or resume) a cascade, saving it to ``out`` after every stage.

    Args:
        positives: ``(N, H, W)`` uint8 face windows at ``config.window_size``.
        backgrounds: face-free grey uint8 images to mine negatives from.
        config: the settings.
        out: the cascade XML file (its sidecar ``out + ".train.json"`` sits beside it).
        progress: optional ``progress(event, info)`` (see ``ProgressCallback``).
        overwrite: start afresh even if ``out`` exists (otherwise it is resumed, or refused
            when it is not this training's).
        positive_sources: ``(N,)`` integer source of each positive (which folder or file it
            came from); required by ``config.hit_rate_per_source``, unused otherwise.

    Returns:
        The cascade, its stage figures and the reason training stopped.

    Raises:
        TooFewPositivesError: fewer than ``min_positives`` positives survive.
        ResumeMismatchError: ``out`` exists from a different training.
        OutputExistsError: ``out`` exists but no training wrote it (without ``overwrite``).
        SidecarError: the sidecar is unreadable or holds wrong values.
    """
    positives = np.ascontiguousarray(positives, dtype=np.uint8)
    width, height = config.window_size
    if positives.ndim != 3 or positives.shape[1:] != (height, width):
        raise ValueError(f"positives must be (N, {height}, {width}) for a {width}x{height} window, "
                         f"got {positives.shape}")
    if config.hit_rate_per_source:
        if positive_sources is None:
            raise ValueError("hit_rate_per_source needs positive_sources: the source of each positive")
        positive_sources = np.asarray(positive_sources)
        if positive_sources.shape != (len(positives),) or positive_sources.dtype.kind not in "iu":
            raise ValueError(f"positive_sources must be ({len(positives)},) integers, one per positive, "
                             f"got {positive_sources.shape} {positive_sources.dtype}")
    else:
        positive_sources = None
    notify = progress or (lambda event, info: None)
    out = Path(out)
    fingerprint = _fingerprint(config, positives, backgrounds, positive_sources)
    session_start = time.perf_counter()
    cascade, reports, earlier_seconds = load_resume(out, fingerprint, overwrite)
    remove_stale_temporaries(out)
    lbp = config.feature_type == "LBP"
    if cascade is None:
        cascade = empty_lbp_cascade((width, height)) if lbp else Cascade((width, height), [], [],
                                                                         feature_set=config.feature_set)
    else:
        notify("resume", {"stages": cascade.num_stages})
    miner = NegativeMiner(backgrounds, config.window_size)
    pool = _feature_pool(config)
    carried = carried_negatives(out, cascade, config.num_negatives) if config.reuse_negatives else None
    stop_reason = f"trained {config.num_stages} stages"
    for stage in range(cascade.num_stages, config.num_stages):
        started = time.perf_counter()
        accepted = cascade_accepts(cascade, positives)
        kept = positives[accepted]
        kept_sources = None if positive_sources is None else positive_sources[accepted][: config.max_positives]
        if len(kept) < config.min_positives:
            raise TooFewPositivesError(
                f"only {len(kept)} of {len(positives)} positives pass the {stage} stages trained so far "
                f"(need {config.min_positives}); lower --min-positives, raise --min-hit-rate or add positives")
        kept = kept[: config.max_positives]
        rng = np.random.default_rng([config.seed, stage])
        reused = 0 if carried is None else len(carried)
        try:
            mined = miner.mine(cascade, config.num_negatives - reused, rng, config.max_mining_windows,
                               lambda found, tried: notify("mining", {"stage": stage, "found": reused + found,
                                                                      "tried": tried}))
        except NoNegativesLeftError as exc:
            stop_reason = f"no negatives left to mine before stage {stage + 1}: {exc}"
            break
        if cascade.num_stages and mined.acceptance_ratio <= config.target_rate:
            stop_reason = (f"target false-positive rate reached: the cascade accepts {mined.acceptance_ratio:.2e} "
                           f"of background windows (target {config.target_rate:.2e})")
            break
        negatives = mined.windows if not reused else np.concatenate([carried, mined.windows])
        if config.reuse_negatives:
            save_stage_negatives(out, stage, negatives, reused)
        boost_started = time.perf_counter()
        stumps, threshold, hit_rate, false_alarm = train_stage(
            kept, negatives, pool, config,
            lambda r, hit, fa: notify("round", {"stage": stage, "round": r, "hit_rate": hit, "false_alarm": fa}),
            kept_sources)
        (add_lbp_stage if lbp else add_stage)(cascade, pool, stumps, threshold)
        finished = time.perf_counter()
        report = StageReport(stage, len(stumps), threshold, hit_rate, false_alarm, len(kept), len(negatives),
                             mined.acceptance_ratio, mined.per_second, finished - started, mined.seconds,
                             mined.windows_tried, finished - boost_started, negatives_reused=reused)
        report.seconds_left = estimate_seconds_left(reports + [report], config)
        reports.append(report)
        save_training(out, cascade, fingerprint, config, reports, "", earlier_seconds + finished - session_start)
        notify("stage", asdict(report))
        if config.reuse_negatives:
            carried = still_accepted(cascade, negatives, config.num_negatives // 2)
    training_seconds = earlier_seconds + time.perf_counter() - session_start
    if cascade.num_stages:
        save_training(out, cascade, fingerprint, config, reports, stop_reason, training_seconds)
    notify("stop", {"reason": stop_reason, "training_seconds": training_seconds})
    return TrainingResult(cascade, reports, stop_reason)
