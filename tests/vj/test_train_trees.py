"""Boosted trees (opencv_traincascade's ``-maxDepth``) and Real AdaBoost / LogitBoost
(``-bt RAB`` / ``-bt LB``): tree growth against an exhaustive NumPy search of every
node, the Numba node search against its NumPy twin, RAB and LB leaf values and weight
updates against a line-by-line transcription of OpenCV's ``CvCascadeBoost::update_weights``
and ``CvBoostTree::calc_node_value``, OpenCV's node numbering, the options on the command
line and in the resume fingerprint, and small real trainings on CBCL whose XML OpenCV 4
and vj read to the same boxes."""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict

import numpy as np
import pytest
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

import vj
from vj.boost import BoostState, add_stage, boost_round, evaluate_stumps, trimmed_mask
from vj.cascade import Cascade
from vj.cascade_train import STOPPING_SETTINGS, CascadeTrainingConfig, _fingerprint, stage_passes, train_cascade
from vj.haar_enum import enumerate_haar_features
from vj.mining import cascade_accepts
from vj.opencv_xml import load_cascade, parse_cascade, save_cascade
from vj.train_features import build_training_set, compute_feature_values, integrate_windows
from vj.tree_search import level_scores, node_scores, node_scores_reference
from vj.tree_train import MIN_SAMPLE_COUNT, TrainedTree, grow_tree

FLT_EPSILON = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def small_set():
    """240 random 10 x 10 windows labelled by a rule over three features: few enough that
    every feature is binned losslessly (the histogram search is then exact)."""
    rng = np.random.default_rng(21)
    windows = rng.integers(0, 256, (240, 10, 10), dtype=np.uint8)
    pool = enumerate_haar_features((10, 10))
    a, b, c = compute_feature_values(pool, integrate_windows(windows), [150, 1800, 2600])
    labels = ((a > np.median(a)) & (b > np.quantile(b, 0.3))) | (c > np.quantile(c, 0.85))
    flip = rng.random(240) < 0.1  # label noise: nodes stay impure
    data = build_training_set(windows, (labels ^ flip).astype(np.uint8), pool)
    assert data.index.lossless.all()
    return data, compute_feature_values(pool, data.integrals), windows


# ----------------------------------------------------------------------------- a NumPy reference


def brute_force_best(values: np.ndarray, w: np.ndarray, t: np.ndarray, faces: np.ndarray, boost_type: str) -> float:
    """The best split score of one node over every feature and every threshold between two
    distinct values, from the class / target sums on each side (Gini straight from the class
    weights for ``real``)."""
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    allowed = ordered[:, 1:] > ordered[:, :-1]
    ws, wts, fs = w[order], (w * t)[order], faces[order]

    def sides(x):
        left = np.cumsum(x, axis=1)[:, :-1]
        return left, x.sum(axis=1, keepdims=True) - left

    lw, rw = sides(ws)
    if boost_type == "gentle" or boost_type == "logit":
        lt, rt = sides(wts)
        scores = lt ** 2 / lw + rt ** 2 / rw
    else:
        lp, rp = sides(np.where(fs, ws, 0.0))
        lq, rq = lw - lp, rw - rp
        if boost_type == "real":  # OpenCV's GINI
            scores = (lp ** 2 + lq ** 2) / lw + (rp ** 2 + rq ** 2) / rw
        else:  # MISCLASS
            scores = np.maximum(lq + rp, lp + rq)
    return float(np.where(allowed, scores, -np.inf).max())


def split_score(left: np.ndarray, w: np.ndarray, t: np.ndarray, faces: np.ndarray, boost_type: str) -> float:
    """The same criterion for one given partition of a node."""
    def side(mask):
        b, p = w[mask].sum(), w[mask & faces].sum()
        return b, p, b - p, (w * t)[mask].sum()

    (lb, lp, lq, lt), (rb, rp, rq, rt) = side(left), side(~left)
    if boost_type in ("gentle", "logit"):
        return lt ** 2 / lb + rt ** 2 / rb
    if boost_type == "real":
        return (lp ** 2 + lq ** 2) / lb + (rp ** 2 + rq ** 2) / rb
    return max(lq + rp, lp + rq)


def expected_leaf(w: np.ndarray, t: np.ndarray, faces: np.ndarray, boost_type: str) -> float:
    """``CvBoostTree::calc_node_value`` of a leaf (discrete: the class; vj scales it by alpha)."""
    face_w, nonface_w = w[faces].sum(), w[~faces].sum()
    if boost_type == "real":
        p = min(max(face_w / (face_w + nonface_w), 1e-5), 1 - 1e-5)
        return 0.5 * math.log(p / (1 - p))
    if boost_type == "discrete":
        return 1.0 if face_w > nonface_w else 0.0
    return float((w * t).sum() / w.sum())


def may_split(samples, depth, w, t, faces, boost_type, max_depth) -> bool:
    """OpenCV's ``try_split_node`` tests (traincascade: min_sample_count 10, regression_accuracy 0.01f)."""
    if len(samples) <= 10 or depth >= max_depth:
        return False
    if boost_type in ("discrete", "real"):
        return 0 < faces.sum() < len(samples)
    risk = (w * t * t).sum() - (w * t).sum() ** 2 / w.sum()
    return not math.sqrt(max(risk, 0.0)) / w.sum() < float(np.float32(0.01))


def check_tree_against_brute_force(tree: TrainedTree, leaf: np.ndarray, values: np.ndarray, weights: np.ndarray,
                                   trained: np.ndarray, targets: np.ndarray, faces: np.ndarray, boost_type: str,
                                   max_depth: int) -> int:
    """Walk ``tree`` from its root over the trained samples: every split is an exhaustive
    best, every leaf is where OpenCV stops, every leaf value is OpenCV's. Returns the node count."""
    crit_t = targets if boost_type in ("gentle", "logit") else np.where(faces, 1.0, -1.0)
    routed = np.full(faces.shape[0], -1)

    def at_leaf(index: int, samples: np.ndarray, depth: int) -> None:
        w, t, f = weights[samples], crit_t[samples], faces[samples]
        assert not may_split(samples, depth, w, t, f, boost_type, max_depth) or \
            brute_force_best(values[:, samples], w, t, f, boost_type) == -np.inf
        expected = float(np.float32(expected_leaf(w, targets[samples], f, boost_type)))
        assert tree.leaves[index] == pytest.approx(expected, rel=1e-6, abs=1e-12)
        routed[samples] = index

    def at_node(index: int, samples: np.ndarray, depth: int) -> None:
        w, t, f = weights[samples], crit_t[samples], faces[samples]
        assert may_split(samples, depth, w, t, f, boost_type, max_depth)
        best = brute_force_best(values[:, samples], w, t, f, boost_type)
        goes_left = values[tree.features[index], samples] < np.float32(tree.thresholds[index])
        assert goes_left.any() and not goes_left.all()
        assert split_score(goes_left, w, t, f, boost_type) == pytest.approx(best, rel=1e-9)
        for code, side in zip(tree.children[index], (samples[goes_left], samples[~goes_left])):
            (at_node(code, side, depth + 1) if code > 0 else at_leaf(-code, side, depth + 1))

    at_node(0, np.flatnonzero(trained), 0)
    assert np.array_equal(leaf[trained], routed[trained])
    node_values = values[list(tree.features)]
    assert np.array_equal(tree.leaf_index(node_values), leaf)
    return len(tree.features)


# ----------------------------------------------------------------------------- growth and search


@pytest.mark.parametrize("boost_type", ["gentle", "discrete", "real", "logit"])
@pytest.mark.parametrize("max_depth", [1, 2, 3])
def test_tree_growth_equals_an_exhaustive_search_of_every_node(small_set, boost_type, max_depth):
    data, values, _ = small_set
    rng = np.random.default_rng(max_depth * 10 + len(boost_type))
    weights = rng.exponential(size=data.num_samples)
    weights /= weights.sum()
    trained = trimmed_mask(weights, 0.95)
    faces = data.labels > 0
    targets = np.where(faces, 1.0, -1.0)
    if boost_type == "logit":  # working responses of some earlier stage sum, as LogitBoost has them
        p = 1 / (1 + np.exp(-rng.normal(0, 1, data.num_samples)))
        targets = np.where(faces, np.minimum(1 / p, 10), -np.minimum(1 / (1 - p), 10)).astype(np.float32)
    tree, leaf = grow_tree(data, weights, trained, targets, boost_type, max_depth)
    nodes = check_tree_against_brute_force(tree, leaf, values, weights, trained, np.asarray(targets, np.float64),
                                           faces, boost_type, max_depth)
    assert nodes <= 2 ** max_depth - 1 and len(tree.leaves) == nodes + 1
    if max_depth > 1:
        assert nodes > 1


def test_numba_node_search_equals_its_numpy_twin_bit_for_bit(small_set):
    data, _, _ = small_set
    rng = np.random.default_rng(3)
    w = rng.exponential(size=data.num_samples)
    t = np.where(data.labels > 0, 1.0, -1.0) * rng.uniform(0.5, 3, data.num_samples)
    order = data.index.order
    columns = np.sort(rng.choice(data.num_samples, 90, replace=False))
    for criterion in ("sqerr", "misclass"):
        fast = node_scores(data.index, columns, w[order], (w * t)[order], criterion)
        slow = node_scores_reference(data.index, columns, w[order], (w * t)[order], criterion)
        np.testing.assert_array_equal(fast, slow)
        assert (fast >= 0).sum() > 0.9 * fast.shape[0]
    trained = np.ones(data.num_samples, bool)
    for boost_type in ("gentle", "discrete"):
        trees = [grow_tree(data, w / w.sum(), trained, np.sign(t), boost_type, 3, use_reference=ref)[0]
                 for ref in (False, True)]
        assert trees[0] == trees[1]


def test_one_pass_over_a_level_scores_each_node_as_its_own_search_does(small_set):
    """The nodes of a tree level (disjoint samples, interleaved columns) histogrammed in
    one pass give each node's scores of a search over that node alone, bit for bit."""
    data, _, _ = small_set
    rng = np.random.default_rng(4)
    w = rng.exponential(size=data.num_samples)
    wt = w * np.where(data.labels > 0, 1.0, -1.0) * rng.uniform(0.5, 3, data.num_samples)
    order = data.index.order
    node = rng.integers(0, 4, data.num_samples)  # 4 nodes; some columns in none (node 3)
    nodes = [np.flatnonzero(node == m) for m in range(3)]
    for criterion in ("sqerr", "misclass"):
        level = level_scores(data.index, nodes, w[order], wt[order], criterion)
        assert level.shape == (3, data.index.num_features)
        for m, columns in enumerate(nodes):
            np.testing.assert_array_equal(level[m], node_scores_reference(data.index, columns, w[order], wt[order],
                                                                          criterion))
        # +-1 targets: face and non-face weights histogrammed apart, one update per sample
        signs = np.where(data.labels > 0, 1.0, -1.0)
        two_class = level_scores(data.index, nodes, w[order], (w * signs)[order], criterion,
                                 face_col=(data.labels > 0)[order])
        for m, columns in enumerate(nodes):
            reference = node_scores_reference(data.index, columns, w[order], (w * signs)[order], criterion,
                                              face_col=(data.labels > 0)[order])
            np.testing.assert_array_equal(two_class[m], reference)
            general = node_scores_reference(data.index, columns, w[order], (w * signs)[order], criterion)
            np.testing.assert_allclose(two_class[m], general, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="disjoint"):
        level_scores(data.index, [nodes[0], nodes[0]], w[order], wt[order], "sqerr")


def test_stopping_rules_and_opencv_node_numbering(small_set):
    data, values, _ = small_set
    weights = np.full(data.num_samples, 1 / data.num_samples)
    faces = data.labels > 0
    # a node of MIN_SAMPLE_COUNT samples or fewer is never split: a root that small raises
    few = np.zeros(data.num_samples, bool)
    few[np.r_[np.flatnonzero(faces)[:5], np.flatnonzero(~faces)[:5]]] = True
    with pytest.raises(ValueError, match="root cannot be split"):
        grow_tree(data, weights, few, np.where(faces, 1.0, -1.0), "gentle", 3)
    assert few.sum() <= MIN_SAMPLE_COUNT
    # breadth-first numbering as CvCascadeBoostTree::write: internal nodes 1, 2, ... in the
    # order a queue meets them, leaves 0, -1, ... in the order their parents are dequeued
    tree, _ = grow_tree(data, weights, np.ones(data.num_samples, bool), np.where(faces, 1.0, -1.0), "gentle", 3)
    internal, leaves = [], []
    for left, right in tree.children:
        for code in (left, right):
            (internal if code > 0 else leaves).append(code)
    assert internal == list(range(1, len(tree.features)))
    assert leaves == [-k for k in range(len(tree.leaves))]


# ----------------------------------------------------------------------------- RAB and LB rounds


def opencv_round(boost_type: str, weights, labels, scores, leaf_of, leaves_before_scale, z=None):
    """``CvCascadeBoost::update_weights`` after one tree, written out sample by sample:
    returns (weights, z) after the round; ``leaf_of`` the sample's leaf, its value f."""
    n = len(labels)
    new_w, new_z, sum_w = np.empty(n), np.empty(n, np.float32), 0.0
    for i in range(n):
        y = 1 if labels[i] else -1
        f = leaves_before_scale[leaf_of[i]]
        if boost_type == "real":
            w = weights[i] * math.exp(-y * f)
        else:  # LOGIT: F = sum_response += 0.5 * f; p = 1 / (1 + exp(-2 F))
            s = 0.5 * scores[i]
            p = 1.0 / (1.0 + math.exp(-2 * s))
            w = max(p * (1 - p), FLT_EPSILON)
            new_z[i] = min(1.0 / p, 10.0) if y > 0 else -min(1.0 / (1 - p), 10.0)
        new_w[i] = w
        sum_w += w
    return new_w / sum_w, new_z


@pytest.mark.parametrize("boost_type", ["real", "logit"])
def test_real_and_logit_leaves_and_weight_updates_are_opencvs(small_set, boost_type):
    data, values, _ = small_set
    state = BoostState.start(data.labels, boost_type, weight_trim_rate=0.95, max_depth=2)
    assert np.allclose(state.weights, 1 / data.num_samples)  # OpenCV: w0 = 1 / n
    if boost_type == "logit":
        assert np.array_equal(state.targets, np.where(data.labels > 0, 2.0, -2.0).astype(np.float32))
    for _ in range(4):
        weights, scores, z = state.weights.copy(), state.scores.copy(), None if state.targets is None else \
            state.targets.astype(np.float64)
        tree = boost_round(state, data)
        leaf = tree.leaf_index(values[list(tree.features)])
        trained = trimmed_mask(weights, 0.95)
        faces = data.labels > 0
        for k, value in enumerate(tree.leaves):  # CvBoostTree::calc_node_value over the trained samples
            mine = trained & (leaf == k)
            pw, qw = weights[mine & faces].sum(), weights[mine & ~faces].sum()
            if boost_type == "real":
                p = min(max(pw / (pw + qw), 1e-5), 1 - 1e-5)
                expected = 0.5 * math.log(p / (1 - p))
            else:
                expected = (weights[mine] * z[mine]).sum() / weights[mine].sum()
            assert value == pytest.approx(float(np.float32(expected)), rel=1e-6)
        f = np.asarray(tree.leaves)
        assert np.array_equal(state.scores, scores + f[leaf])
        expected_w, expected_z = opencv_round(boost_type, weights, faces, state.scores, leaf, f)
        np.testing.assert_allclose(state.weights, expected_w, rtol=1e-12, atol=0)
        if boost_type == "logit":
            np.testing.assert_array_equal(state.targets, expected_z)
    assert state.training_error() < 0.5


def test_real_leaf_clamp_and_logit_z_clamp():
    from vj.tree_train import logit_weights, real_leaf_value

    assert real_leaf_value(1.0, 0.0) == pytest.approx(0.5 * math.log((1 - 1e-5) / 1e-5))
    assert real_leaf_value(0.0, 2.0) == pytest.approx(-0.5 * math.log((1 - 1e-5) / 1e-5))
    weights, z = logit_weights(np.array([-40.0, 40.0, 0.0, 0.0]), np.array([True, False, True, False]))
    assert z.tolist() == [10.0, -10.0, 2.0, -2.0]  # min(1 / p, 10); at F = 0, p = 1/2
    raw = np.array([FLT_EPSILON, FLT_EPSILON, 0.25, 0.25])  # p (1 - p) floored at FLT_EPSILON
    np.testing.assert_allclose(weights, raw / raw.sum(), rtol=1e-12)


def test_depth_one_gentle_and_discrete_keep_the_stump_path(small_set):
    data, _, _ = small_set
    for boost_type in ("gentle", "discrete"):
        state = BoostState.start(data.labels, boost_type, max_depth=1)
        assert not state.grows_trees
        assert type(boost_round(state, data)).__name__ == "TrainedStump"
    assert BoostState.start(data.labels, "real").grows_trees
    assert BoostState.start(data.labels, "gentle", max_depth=2).grows_trees


@pytest.mark.parametrize("boost_type", ["gentle", "discrete", "real", "logit"])
def test_a_stage_of_trees_decides_in_the_cascade_as_in_training(small_set, tmp_path, boost_type):
    data, _, windows = small_set
    state = BoostState.start(data.labels, boost_type, weight_trim_rate=0.95, max_depth=3)
    for _ in range(5):
        boost_round(state, data)
    cascade = Cascade((10, 10), [], [])
    stage = add_stage(cascade, data.pool, state.stumps, state.stage_threshold)
    used = {f for tree in state.stumps for f in tree.features}
    assert len(cascade.features) == len(used)  # every feature a tree uses, each once
    for tree, weak in zip(state.stumps, stage.weak_classifiers):
        used_here = [cascade.features[int(i)] for i in weak.nodes[:, 2]]
        assert [data.pool.haar_feature(f) for f in tree.features] == used_here
    np.testing.assert_array_equal(evaluate_stumps(state.stumps, data.pool, data.integrals), state.scores)
    save_cascade(cascade, tmp_path / "trees.xml")
    again = load_cascade(tmp_path / "trees.xml")
    assert again.stages[0].weak_classifiers == stage.weak_classifiers
    # the detector's decision on the training windows (at their own size) is training's
    expected = stage_passes(state.scores, state.stage_threshold) & data.integrals.opencv_accepts
    np.testing.assert_array_equal(cascade_accepts(again, windows), expected)


# ----------------------------------------------------------------------------- options and resuming


def test_cli_trains_logit_trees_and_records_the_options(tmp_path):
    from PIL import Image

    from vj.cli import main

    (tmp_path / "neg").mkdir()
    for k, image in enumerate(synthetic_backgrounds(12, seed=5)):
        Image.fromarray(image).save(tmp_path / "neg" / f"{k}.png")
    (tmp_path / "pos").mkdir()
    for k, face in enumerate(synthetic_faces(200, seed=6)):
        Image.fromarray(face).save(tmp_path / "pos" / f"{k}.png")
    out = tmp_path / "lb.xml"
    status = main(["train", "--pos", str(tmp_path / "pos"), "--neg", str(tmp_path / "neg"), "-w", "12", "-h", "12",
                   "--num-stages", "2", "--num-neg", "150", "--min-positives", "50", "--max-weak-count", "8",
                   "--bt", "LB", "--max-depth", "2", "--out", str(out)])
    assert status == 0
    config = json.loads((tmp_path / "lb.xml.train.json").read_text())["config"]
    assert config["boost_type"] == "logit" and config["max_depth"] == 2
    cascade = load_cascade(out)
    assert max(w.nodes.shape[0] for s in cascade.stages for w in s.weak_classifiers) > 1
    assert "<maxDepth>2</maxDepth>" in out.read_text()
    with pytest.raises(SystemExit) as refused:
        main(["train", "--bt", "RAB", "--max-depth", "0", "--pos", "x", "--neg", "y", "--out", "z.xml"])
    assert refused.value.code == 2


def test_fingerprint_of_depth_one_is_that_of_sidecars_from_before_the_option():
    config = CascadeTrainingConfig(window_size=(12, 12))
    positives, backgrounds = np.zeros((3, 12, 12), np.uint8), [np.zeros((20, 20), np.uint8)]
    old = {k: v for k, v in asdict(config).items()
           if k not in STOPPING_SETTINGS
           and k not in ("max_depth", "feature_type", "reuse_negatives", "hit_rate_per_source")}
    digest = hashlib.sha256(json.dumps(old, sort_keys=True).encode())
    digest.update(positives.tobytes())
    digest.update(np.asarray(backgrounds[0].shape).tobytes())
    digest.update(np.ascontiguousarray(backgrounds[0][::2]).tobytes())
    assert _fingerprint(config, positives, backgrounds) == digest.hexdigest()
    deeper = CascadeTrainingConfig(window_size=(12, 12), max_depth=2)
    assert _fingerprint(deeper, positives, backgrounds) != digest.hexdigest()
    reusing = CascadeTrainingConfig(window_size=(12, 12), reuse_negatives=True)
    assert _fingerprint(reusing, positives, backgrounds) != digest.hexdigest()
    per_source = CascadeTrainingConfig(window_size=(12, 12), hit_rate_per_source=True)
    assert _fingerprint(per_source, positives, backgrounds, np.zeros(3, np.int64)) != digest.hexdigest()
    with pytest.raises(ValueError, match="max_depth"):
        CascadeTrainingConfig(max_depth=0)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def cbcl(shared_data):
    from vj.positives import image_files, read_crop_folder, read_gray

    faces_dir = shared_data / "cbcl" / "train" / "faces"
    if not faces_dir.is_dir() or not (shared_data / "backgrounds").is_dir():
        pytest.skip(f"needs cbcl/train/faces and backgrounds under {shared_data} (FACESTACK_DATA)")
    positives, _ = read_crop_folder(faces_dir, (19, 19))
    backgrounds = [read_gray(f) for f in image_files(shared_data / "backgrounds")[::8]]
    photos = sorted((shared_data / "webfaces" / "images").glob("*.jpg"))[:4]
    if not photos:
        pytest.skip(f"needs webfaces/images under {shared_data}")
    return positives, backgrounds, [read_gray(p) for p in photos]


@pytest.mark.parametrize("boost_type", ["real", "logit"])
def test_cbcl_depth_two_training_loads_in_opencv_with_the_same_boxes(cbcl, tmp_path, boost_type):
    cv2 = pytest.importorskip("cv2")
    positives, backgrounds, photos = cbcl
    config = CascadeTrainingConfig(window_size=(19, 19), num_stages=4, num_negatives=500, max_positives=1000,
                                   min_positives=50, feature_fraction=0.1, max_weak_per_stage=20,
                                   target_false_positive_rate=1e-5, boost_type=boost_type, max_depth=2, seed=1)
    out = tmp_path / f"cbcl_{boost_type}.xml"
    started = time.perf_counter()
    result = train_cascade(positives, backgrounds, config, out)
    assert time.perf_counter() - started < 60
    assert result.cascade.num_stages == 4, result.stop_reason
    assert any(w.nodes.shape[0] > 1 for s in result.cascade.stages for w in s.weak_classifiers)
    assert all(s.hit_rate >= 0.995 for s in result.stages)
    opencv = cv2.CascadeClassifier(str(out))
    assert not opencv.empty()
    ours_classifier = vj.CascadeClassifier(str(out))
    assert parse_cascade(out.read_bytes()).stages[0].weak_classifiers == result.cascade.stages[0].weak_classifiers
    total = 0
    for gray in photos:
        theirs = np.asarray(opencv.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3), np.int64).reshape(-1, 4)
        ours = np.asarray(ours_classifier.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3), np.int64)
        assert sorted(map(tuple, ours.reshape(-1, 4).tolist())) == sorted(map(tuple, theirs.tolist()))
        total += len(theirs)
    assert total > 0
