"""--reuse-negatives (vj/negative_reuse.py): a stage's negatives that the cascade still
accepts are carried into the next stage; training with it meets the per-stage targets,
mines fewer windows, and resumes after a kill to the same cascade, byte for byte."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.vj_cascade.synthetic import WINDOW, synthetic_backgrounds, synthetic_faces

from vj.cascade import Cascade
from vj.cascade_train import CascadeTrainingConfig, ResumeMismatchError, train_cascade
from vj.mining import NegativeMiner, cascade_accepts
from vj.negative_reuse import carried_negatives, negatives_path, save_stage_negatives
from vj.opencv_xml import load_cascade

CONFIG = CascadeTrainingConfig(window_size=WINDOW, num_stages=4, num_negatives=300, max_positives=500,
                               min_positives=50, target_false_positive_rate=1e-7, seed=5, reuse_negatives=True)


@pytest.fixture(scope="module")
def data():
    return synthetic_faces(500, seed=11), synthetic_backgrounds(30, seed=12)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reuse")
    reused = train_cascade(*data, CONFIG, folder / "reused.xml")
    fresh = train_cascade(*data, dataclasses.replace(CONFIG, reuse_negatives=False), folder / "fresh.xml")
    return reused, fresh, folder / "reused.xml"


def test_each_stage_trains_on_carried_and_mined_negatives_that_the_cascade_so_far_accepts(data, trained):
    """Rebuild each stage's negatives as the module doc says (the last stage's that the
    cascade still accepts, at most half, then the seeded mining of the rest): every one is
    accepted by the stages before, and the saved stage meets its targets on them."""
    positives, backgrounds = data
    reused, _, out = trained
    cascade = load_cascade(out)
    miner = NegativeMiner(backgrounds, WINDOW)
    carried = np.zeros((0, WINDOW[1], WINDOW[0]), np.uint8)
    for s, report in enumerate(reused.stages):
        before = Cascade(cascade.window_size, cascade.features, cascade.stages[:s], cascade.feature_set)
        rng = np.random.default_rng([CONFIG.seed, s])
        mined = miner.mine(before, CONFIG.num_negatives - len(carried), rng).windows
        negatives = np.concatenate([carried, mined])
        assert report.negatives == len(negatives) == CONFIG.num_negatives
        assert report.negatives_reused == len(carried) <= CONFIG.num_negatives // 2
        assert cascade_accepts(before, negatives).all()
        alone = Cascade(cascade.window_size, cascade.features, [cascade.stages[s]], cascade.feature_set)
        assert cascade_accepts(alone, negatives).mean() == pytest.approx(report.false_alarm)
        assert report.false_alarm <= CONFIG.max_false_alarm
        upto = Cascade(cascade.window_size, cascade.features, cascade.stages[:s + 1], cascade.feature_set)
        carried = negatives[cascade_accepts(upto, negatives)][: CONFIG.num_negatives // 2]
    assert sum(r.negatives_reused for r in reused.stages[1:]) > 0


def test_without_the_option_every_negative_is_mined(trained):
    _, fresh, out = trained
    assert all(r.negatives_reused == 0 for r in fresh.stages)
    assert not negatives_path(out.with_name("fresh.xml")).exists()


@pytest.mark.parametrize("kill_at", ["stage", "mining"])
def test_a_killed_training_resumes_to_the_same_cascade(data, trained, tmp_path, kill_at):
    """Killed after stage 2 was saved, or while stage 3 mines (its negatives file then
    still holds stage 2's): started again, it writes the uninterrupted cascade byte for byte."""
    _, _, reference = trained
    out = tmp_path / "c.xml"

    class Killed(Exception):
        pass

    def kill(event, info):
        if kill_at == "stage" and event == "stage" and info["stage"] == 1:
            raise Killed
        if kill_at == "mining" and event == "mining" and info["stage"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train_cascade(*data, CONFIG, out, kill)
    assert load_cascade(out).num_stages == 2
    train_cascade(*data, CONFIG, out)
    assert out.read_bytes() == reference.read_bytes()
    with pytest.raises(ResumeMismatchError):  # the choice is part of the training's fingerprint
        train_cascade(*data, dataclasses.replace(CONFIG, reuse_negatives=False), out)


def test_a_kill_after_the_next_stages_negatives_were_written_resumes_from_them(data, trained, tmp_path):
    """The file may already hold stage S's negatives when only S stages were saved: the
    carried ones are then its first ``reused``."""
    _, _, reference = trained
    out = tmp_path / "c.xml"
    train_cascade(*data, dataclasses.replace(CONFIG, num_stages=2), out)
    cascade = load_cascade(out)
    expected = carried_negatives(out, cascade, CONFIG.num_negatives)
    filler = np.zeros((7, WINDOW[1], WINDOW[0]), np.uint8)
    save_stage_negatives(out, 2, np.concatenate([expected, filler]), len(expected))
    assert np.array_equal(carried_negatives(out, cascade, CONFIG.num_negatives), expected)
    train_cascade(*data, CONFIG, out)
    assert out.read_bytes() == reference.read_bytes()


def test_a_damaged_or_foreign_negatives_file_is_named(data, trained, tmp_path):
    _, _, reference = trained
    cascade = load_cascade(reference)
    out = tmp_path / "c.xml"
    negatives_path(out).write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a readable negatives file"):
        carried_negatives(out, cascade, 100)
    save_stage_negatives(out, cascade.num_stages - 1, np.zeros((5, 30, 30), np.uint8), 0)
    with pytest.raises(ValueError, match=r"not the cascade's 12x12"):
        carried_negatives(out, cascade, 100)
    save_stage_negatives(out, 0, np.zeros((5, WINDOW[1], WINDOW[0]), np.uint8), 0)  # neither the last stage nor the next
    assert carried_negatives(out, cascade, 100) is None
    assert carried_negatives(out, None, 100) is None and not negatives_path(out).exists()  # a new training clears it
