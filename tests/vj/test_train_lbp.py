"""LBP cascade training (``vj train --feature-type LBP``): the feature pool in OpenCV's order,
codes equal to the detector's, the categorical split against brute force, training decisions
equal to OpenCV's detector, and a small real training on CBCL whose XML OpenCV 4 and vj load
and detect with identically (skipped without the data)."""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import asdict, replace

import numpy as np
import pytest
from tests.conftest import find_shared_data
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

import vj
from vj.cascade_train import STOPPING_SETTINGS, CascadeTrainingConfig, _fingerprint, train_cascade, train_stage
from vj.cli import main
from vj.integral import integral_image
from vj.lbp import lbp_code
from vj.lbp_split import (CATEGORIES, best_lbp_split, feature_split, lbp_feature_errors,
                          lbp_feature_errors_reference)
from vj.lbp_train import (LbpBoostState, add_lbp_stage, build_lbp_training_set, empty_lbp_cascade, lbp_boost_round,
                          lbp_codes, lbp_feature_pool, lbp_pool_size)
from vj.mining import cascade_accepts
from vj.train_features import integrate_windows

DATA = find_shared_data()


def opencv_loop(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """``CvLBPEvaluator::generateFeatures`` re-enumerated: for x, for y, for w, for h."""
    return [(x, y, w, h) for x in range(width) for y in range(height) for w in range(1, width // 3 + 1)
            for h in range(1, height // 3 + 1) if x + 3 * w <= width and y + 3 * h <= height]


@pytest.mark.parametrize("window", [(11, 7), (9, 14), (19, 19), (20, 20), (24, 24)])
def test_pool_is_opencvs_in_its_order(window):
    pool = lbp_feature_pool(window)
    assert pool.dtype == np.int64 and pool.shape[1] == 4
    assert list(map(tuple, pool.tolist())) == opencv_loop(*window)
    assert lbp_pool_size(window) == len(pool)
    assert {(24, 24): 8464, (20, 20): 3969, (19, 19): 3249}.get(window, len(pool)) == len(pool)


def test_codes_equal_the_detectors_reference():
    rng = np.random.default_rng(5)
    windows = rng.integers(0, 256, (40, 13, 11), dtype=np.uint8)
    windows[0] = 77  # flat: every cell equals the centre, so every bit is set (>=)
    windows[1] = rng.choice([0, 255], (13, 11)).astype(np.uint8)
    pool = lbp_feature_pool((11, 13))
    codes = lbp_codes(pool, integrate_windows(windows).sums, (11, 13))
    assert codes.shape == (len(pool), 40) and codes.dtype == np.uint8
    expected = np.array([[lbp_code(integral_image(w), *f) for w in windows] for f in pool.tolist()])
    np.testing.assert_array_equal(codes, expected)
    assert np.all(codes[:, 0] == 255)
    big = rng.integers(0, 256, (12, 20, 20), dtype=np.uint8)
    pool20 = lbp_feature_pool((20, 20))[rng.choice(3969, 300, replace=False)]
    codes20 = lbp_codes(pool20, integrate_windows(big).sums, (20, 20))
    np.testing.assert_array_equal(codes20, [[lbp_code(integral_image(w), *f) for w in big] for f in pool20.tolist()])


def brute_force(codes_row, weights, labels, gentle):
    """Least error over every split of the codes present (both sides non-empty)."""
    present = sorted(set(codes_row[weights > 0].tolist()))
    y = np.where(labels > 0, 1.0, -1.0)
    best, best_left = np.inf, None
    for r in range(1, len(present)):
        for subset in itertools.combinations(present, r):
            left = np.isin(codes_row, subset)
            if gentle:
                error = 0.0
                for side in (left, ~left):
                    w = weights[side]
                    error += (w * (y[side] - (w * y[side]).sum() / w.sum()) ** 2).sum()
            else:
                error = min(weights[left & (y > 0)].sum() + weights[~left & (y < 0)].sum(),
                            weights[left & (y < 0)].sum() + weights[~left & (y > 0)].sum())
            if error < best - 1e-12:
                best, best_left = error, set(subset)
    return best, best_left, set(present)


@pytest.mark.parametrize("boost_type", ["gentle", "discrete"])
@pytest.mark.parametrize("seed", range(6))
def test_split_is_the_brute_force_optimum(boost_type, seed):
    rng = np.random.default_rng(seed)
    n, features = 60, 5
    categories = rng.choice(CATEGORIES, 7, replace=False)
    codes = categories[rng.integers(0, 7, (features, n))].astype(np.uint8)
    labels = (rng.random(n) < 0.4).astype(np.uint8)
    weights = rng.random(n) * (rng.random(n) > 0.15)  # some trimmed (weight 0)
    weights /= weights.sum()
    errors = lbp_feature_errors(codes, weights, labels, boost_type)
    reference, lefts = lbp_feature_errors_reference(codes, weights, labels, boost_type)
    np.testing.assert_array_equal(errors, reference)
    for f in range(features):
        best, best_left, present = brute_force(codes[f], weights, labels, boost_type == "gentle")
        assert errors[f] == pytest.approx(best, rel=1e-9, abs=1e-15)
        split = feature_split(codes[f], weights, labels, boost_type, f)
        np.testing.assert_array_equal(split.left, lefts[f])
        left = set(np.flatnonzero(split.left).tolist())
        assert left <= present  # codes no weighted sample has go right (bit clear)
        if boost_type == "gentle":
            assert left in (best_left, present - best_left)
    choice = best_lbp_split(codes, weights, labels, boost_type)
    assert choice.feature_index == int(np.argmin(reference)) and choice.error == reference.min()


def test_left_is_the_low_mean_side_and_kernel_equals_reference_at_scale():
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (64, 3000), dtype=np.uint8)
    labels = (rng.random(3000) < 0.5).astype(np.uint8)
    codes[3, labels > 0] = rng.choice([1, 2, 3], int(labels.sum()))  # a feature telling faces apart
    weights = rng.random(3000)
    for boost_type in ("gentle", "discrete"):
        errors = lbp_feature_errors(codes, weights / weights.sum(), labels, boost_type)
        reference, _ = lbp_feature_errors_reference(codes, weights / weights.sum(), labels, boost_type)
        np.testing.assert_array_equal(errors, reference)
        choice = best_lbp_split(codes, weights / weights.sum(), labels, boost_type)
        assert choice.feature_index == 3 and not choice.left[[1, 2, 3]].any()  # face codes go right
    data = build_lbp_training_set(rng.integers(0, 256, (50, 9, 9), dtype=np.uint8), labels[:50],
                                  lbp_feature_pool((9, 9)))
    for boost_type in ("gentle", "discrete"):
        a, b = LbpBoostState.start(data.labels, boost_type, 0.95), LbpBoostState.start(data.labels, boost_type, 0.95)
        for _ in range(3):
            s, t = lbp_boost_round(a, data), lbp_boost_round(b, data, use_reference=True)
            assert s.feature_index == t.feature_index and np.array_equal(s.left, t.left)
            assert (s.left_value, s.right_value) == (t.left_value, t.right_value)
            assert s.left_value < s.right_value and np.float32(s.right_value) == s.right_value
        np.testing.assert_array_equal(a.scores, b.scores)


#: ``CascadeTrainingConfig``'s fields when sidecars had no ``feature_type`` (newer fields, at their
#: defaults, must likewise stay out of the fingerprint).
FIELDS_BEFORE_LBP = ("window_size", "num_stages", "min_hit_rate", "max_false_alarm", "target_false_positive_rate",
                     "num_negatives", "max_positives", "min_positives", "max_weak_per_stage", "feature_set",
                     "feature_fraction", "boost_type", "weight_trim_rate", "max_mining_windows", "seed")


def test_old_haar_sidecars_keep_their_fingerprint():
    config = CascadeTrainingConfig(window_size=(12, 12))
    positives, backgrounds = synthetic_faces(5), synthetic_backgrounds(2)
    old = {k: v for k, v in asdict(config).items() if k in FIELDS_BEFORE_LBP and k not in STOPPING_SETTINGS}
    digest = hashlib.sha256(json.dumps(old, sort_keys=True).encode())
    digest.update(positives.tobytes())
    for image in backgrounds:
        digest.update(np.asarray(image.shape).tobytes())
        digest.update(np.ascontiguousarray(image[:: max(1, image.shape[0] // 8)]).tobytes())
    assert _fingerprint(config, positives, backgrounds) == digest.hexdigest()
    assert _fingerprint(replace(config, feature_type="LBP"), positives, backgrounds) != digest.hexdigest()
    with pytest.raises(ValueError, match="Haar setting"):
        CascadeTrainingConfig(feature_type="LBP", feature_set="ALL")
    with pytest.raises(ValueError, match="feature_type"):
        CascadeTrainingConfig(feature_type="HOG")


def test_cli_trains_lbp_and_refuses_haar_modes(tmp_path, capsys):
    from vj.sample_files import write_vec
    from PIL import Image

    write_vec(tmp_path / "faces.vec", synthetic_faces(300, seed=3))
    (tmp_path / "neg").mkdir()
    for k, image in enumerate(synthetic_backgrounds(20, seed=4)):
        Image.fromarray(image).save(tmp_path / "neg" / f"{k}.png")
    base = ["train", "--vec", str(tmp_path / "faces.vec"), "--neg", str(tmp_path / "neg"), "-w", "12", "-h", "12",
            "--num-neg", "200", "--min-positives", "50", "--feature-type", "LBP", "--out", str(tmp_path / "c.xml")]
    assert main(base + ["--mode", "ALL"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--mode ALL" in err and "LBP" in err
    assert main(base + ["--num-stages", "2", "--bt", "DAB"]) == 0, capsys.readouterr()
    cascade = vj.load_cascade(tmp_path / "c.xml")
    assert isinstance(cascade, vj.LbpCascade) and cascade.num_stages == 2
    assert json.loads((tmp_path / "c.xml.train.json").read_text())["config"]["feature_type"] == "LBP"
    assert main(base + ["--num-stages", "3", "--bt", "DAB"]) == 0
    assert "resuming after stage 2" in capsys.readouterr().out


needs_cbcl = pytest.mark.skipif(
    DATA is None or not (DATA / "cbcl" / "train" / "faces").is_dir() or not (DATA / "backgrounds").is_dir(),
    reason=f"needs cbcl/train/faces and backgrounds under {DATA or '../shared/data'} (FACESTACK_DATA)")
#: 8 stages of 2 to 4 stumps, in about 5 s on 2 cores (mining included).
CONFIG = CascadeTrainingConfig(window_size=(19, 19), num_stages=8, num_negatives=1000, max_positives=2000,
                               max_weak_per_stage=50, feature_type="LBP", seed=0)


@pytest.fixture(scope="module")
def cbcl():
    from vj.positives import image_files, read_crop_folder, read_gray

    positives, _ = read_crop_folder(DATA / "cbcl" / "train" / "faces", (19, 19))
    nonfaces = np.stack([read_gray(f) for f in image_files(DATA / "cbcl" / "train" / "non-faces")[::20]])
    backgrounds = [read_gray(f) for f in image_files(DATA / "backgrounds")[::8]]
    return positives, nonfaces, backgrounds


@pytest.fixture(scope="module")
def trained(cbcl, tmp_path_factory):
    positives, _, backgrounds = cbcl
    out = tmp_path_factory.mktemp("lbp") / "cbcl_lbp19.xml"
    start = time.perf_counter()
    result = train_cascade(positives, backgrounds, CONFIG, out)
    return result, out, time.perf_counter() - start


@needs_cbcl
@pytest.mark.parametrize("boost_type", ["gentle", "discrete"])
def test_stage_decisions_are_the_detectors(cbcl, boost_type, tmp_path):
    """A stage's training hit / false-alarm rates are those of vj's miner and of OpenCV's detector."""
    cv2 = pytest.importorskip("cv2")
    positives, nonfaces, _ = cbcl
    config = replace(CONFIG, boost_type=boost_type)
    pool = lbp_feature_pool((19, 19))
    stumps, threshold, hit_rate, false_alarm = train_stage(positives[:1000], nonfaces, pool, config)
    cascade = empty_lbp_cascade((19, 19))
    add_lbp_stage(cascade, pool, stumps, threshold)
    assert cascade_accepts(cascade, positives[:1000]).mean() == hit_rate >= config.min_hit_rate
    assert cascade_accepts(cascade, nonfaces).mean() == false_alarm
    vj.save_cascade(cascade, tmp_path / "one.xml")
    opencv = cv2.CascadeClassifier(str(tmp_path / "one.xml"))
    windows = np.concatenate([positives[:150], nonfaces[:150]])
    theirs = np.array([len(opencv.detectMultiScale(w, 1.1, 0)) > 0 for w in windows])
    np.testing.assert_array_equal(theirs, cascade_accepts(cascade, windows))


@needs_cbcl
def test_cbcl_training_is_fast_and_resumes(trained, cbcl, tmp_path):
    result, out, seconds = trained
    assert seconds < 60 and result.cascade.num_stages >= 3
    positives, _, backgrounds = cbcl
    resumed = tmp_path / "resumed.xml"
    train_cascade(positives, backgrounds, replace(CONFIG, num_stages=2), resumed)
    again = train_cascade(positives, backgrounds, CONFIG, resumed)
    assert again.cascade == vj.load_cascade(out) and resumed.read_bytes() == out.read_bytes()


@needs_cbcl
def test_opencv_and_vj_find_the_same_boxes(trained):
    cv2 = pytest.importorskip("cv2")
    from vj.positives import image_files, read_gray

    _, out, _ = trained
    opencv = cv2.CascadeClassifier(str(out))
    assert not opencv.empty() and opencv.getFeatureType() == 1
    ours = vj.CascadeClassifier(str(out))
    photos = sorted((DATA / "webfaces" / "images").iterdir())[:4] if (DATA / "webfaces" / "images").is_dir() else []
    photos += image_files(DATA / "backgrounds")[1::300]
    total = 0
    for photo in photos:
        gray = read_gray(photo)
        expected = np.asarray(opencv.detectMultiScale(gray, 1.1, 3), dtype=np.int64).reshape(-1, 4)
        found = np.asarray(ours.detectMultiScale(gray, 1.1, 3), dtype=np.int64).reshape(-1, 4)
        assert sorted(map(tuple, found.tolist())) == sorted(map(tuple, expected.tolist())), photo.name
        total += len(found)
    assert total > 0
