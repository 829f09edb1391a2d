"""The cascade trainer on synthetic data: per-stage targets hold on its own training
data, an interrupted training resumes to the same cascade, and mining stops clearly."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.vj_cascade.synthetic import WINDOW, synthetic_backgrounds, synthetic_faces

from vj.cascade import Cascade
from vj.cascade_train import CascadeTrainingConfig, ResumeMismatchError, TooFewPositivesError, train_cascade
from vj.mining import NegativeMiner, NoNegativesLeftError, cascade_accepts
from vj.opencv_xml import load_cascade

CONFIG = CascadeTrainingConfig(window_size=WINDOW, num_stages=3, num_negatives=300, max_positives=500,
                               min_positives=50, target_false_positive_rate=1e-6, seed=5)


@pytest.fixture(scope="module")
def data():
    return synthetic_faces(500, seed=11), synthetic_backgrounds(30, seed=12)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("cascade") / "c.xml"
    result = train_cascade(*data, CONFIG, out)
    return result, out


def test_each_stage_meets_its_targets_on_its_own_training_data(data, trained):
    """Rebuild every stage's training set independently (the positives the earlier stages
    accept, the negatives mined with the stage's seeded generator) and run the saved
    stage through the detector's code: hit rate >= min_hit_rate and false-alarm rate
    <= max_false_alarm, as the trainer reported."""
    positives, backgrounds = data
    result, out = trained
    cascade = load_cascade(out)
    assert cascade.num_stages == len(result.stages) == CONFIG.num_stages
    miner = NegativeMiner(backgrounds, WINDOW)
    for s, report in enumerate(result.stages):
        before = Cascade(cascade.window_size, cascade.features, cascade.stages[:s], cascade.feature_set)
        kept = positives[cascade_accepts(before, positives)][: CONFIG.max_positives]
        negatives = miner.mine(before, CONFIG.num_negatives, np.random.default_rng([CONFIG.seed, s])).windows
        alone = Cascade(cascade.window_size, cascade.features, [cascade.stages[s]], cascade.feature_set)
        hit = cascade_accepts(alone, kept).mean()
        false_alarm = cascade_accepts(alone, negatives).mean()
        assert hit >= CONFIG.min_hit_rate
        assert false_alarm <= CONFIG.max_false_alarm
        assert (hit, false_alarm) == pytest.approx((report.hit_rate, report.false_alarm))
        assert len(kept) == report.positives
    # the cascade as a whole rejects most background windows and keeps most faces
    assert cascade_accepts(cascade, positives).mean() >= CONFIG.min_hit_rate ** CONFIG.num_stages - 1e-9
    assert result.stages[-1].acceptance_before < 0.5 ** (CONFIG.num_stages - 1) * 1.5


def test_resume_after_interruption_gives_the_same_cascade(data, trained, tmp_path):
    """Stop training right after stage 2 is saved (as a kill would), start it again with
    the same settings: it resumes at stage 3 and writes the same file byte for byte."""
    _, reference = trained
    out = tmp_path / "c.xml"

    class Killed(Exception):
        pass

    def kill_after_second_stage(event, info):
        if event == "stage" and info["stage"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train_cascade(*data, CONFIG, out, kill_after_second_stage)
    assert load_cascade(out).num_stages == 2
    events = []
    train_cascade(*data, CONFIG, out, lambda event, info: events.append(event))
    assert "resume" in events and events.count("stage") == 1
    assert out.read_bytes() == reference.read_bytes()
    # a finished shorter training continues to the same cascade when asked for more stages
    longer = tmp_path / "longer.xml"
    train_cascade(*data, dataclasses.replace(CONFIG, num_stages=2), longer)
    train_cascade(*data, CONFIG, longer)
    assert longer.read_bytes() == reference.read_bytes()
    # other settings may not resume from this file
    with pytest.raises(ResumeMismatchError):
        train_cascade(*data, dataclasses.replace(CONFIG, seed=6), out)


def test_no_negatives_left_stops_with_the_reason(data, tmp_path):
    """Flat backgrounds: OpenCV evaluates none of their windows, nothing can be mined."""
    flat = [np.full((40, 40), 128, np.uint8), np.full((30, 50), 10, np.uint8)]
    with pytest.raises(NoNegativesLeftError, match="accepted only 0 of"):
        NegativeMiner(flat, WINDOW).mine(None, 10, np.random.default_rng(0), max_windows=5000)
    config = CascadeTrainingConfig(window_size=WINDOW, num_stages=2, num_negatives=50, max_mining_windows=5000)
    result = train_cascade(data[0], flat, config, tmp_path / "c.xml")
    assert result.cascade.num_stages == 0
    assert result.stop_reason.startswith("no negatives left to mine before stage 1")


def test_a_draw_mines_each_window_position_at_most_once():
    """A level with fewer positions than a draw evaluates is evaluated whole, each position once:
    drawn with replacement, it used to hand the same window to training twice."""
    width, height = WINDOW
    noise = np.random.default_rng(3).integers(0, 256, (height, width + 20), dtype=np.uint8)  # 21 positions, scale 1
    result = NegativeMiner([noise], WINDOW, min_draws=1).mine(None, 21, np.random.default_rng(0))
    assert result.windows_tried == 21
    assert len(np.unique(result.windows.reshape(21, -1), axis=0)) == 21
    expected = np.stack([noise[:, x:x + width] for x in range(21)])
    assert sorted(map(bytes, result.windows)) == sorted(map(bytes, expected))


def test_too_few_positives_and_bad_shapes_are_clear_errors(data, tmp_path):
    positives, backgrounds = data
    config = CascadeTrainingConfig(window_size=WINDOW, num_stages=2, num_negatives=50, min_positives=600)
    with pytest.raises(TooFewPositivesError, match="only 500 of 500 positives pass the 0 stages"):
        train_cascade(positives, backgrounds, config, tmp_path / "c.xml")
    with pytest.raises(ValueError, match=r"positives must be \(N, 24, 24\)"):
        train_cascade(positives, backgrounds, CascadeTrainingConfig(window_size=(24, 24)), tmp_path / "d.xml")
    with pytest.raises(ValueError, match="no background image is at least as large"):
        NegativeMiner([np.zeros((5, 5), np.uint8)], WINDOW)
    with pytest.raises(ValueError, match="min_hit_rate"):
        CascadeTrainingConfig(min_hit_rate=1.5)
