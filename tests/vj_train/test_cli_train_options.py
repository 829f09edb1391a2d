"""``vj train`` with opencv_traincascade's inputs and option names: a .vec file, an
info file and a bg.txt list; the stage line's time estimate and the sidecar's
training time; the trainer's time-left estimate."""
from __future__ import annotations

import dataclasses

import json

import numpy as np
import pytest
from PIL import Image
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

from vj import cascade_train
from vj.cascade_train import CascadeTrainingConfig, StageReport, estimate_seconds_left, training_memory_bytes
from vj.cli import main
from vj.opencv_xml import load_cascade
from vj.sample_files import write_vec


@pytest.fixture()
def sample_files(tmp_path):
    """faces.vec (300 synthetic 12 x 12 faces), info.txt (2 photos holding 3 faces) and
    bg.txt (20 backgrounds in neg/, listed relative to the list file)."""
    faces = synthetic_faces(300, seed=3)
    write_vec(tmp_path / "faces.vec", faces)
    (tmp_path / "neg").mkdir()
    names = []
    for k, image in enumerate(synthetic_backgrounds(20, seed=4)):
        names.append(f"neg/{k}.png")
        Image.fromarray(image).save(tmp_path / names[-1])
    (tmp_path / "bg.txt").write_text("# backgrounds\n" + "\n".join(names) + "\n")
    photo = np.full((40, 60), 120, np.uint8)
    photo[5:29, 2:26] = np.kron(faces[0], np.ones((2, 2), np.uint8))  # a face at 2x
    photo[10:22, 40:52] = faces[1]
    Image.fromarray(photo).save(tmp_path / "photo.png")
    (tmp_path / "info.txt").write_text("photo.png 2 2 5 24 24 40 10 12 12\nphoto.png 1 40 10 12 12\n")
    return tmp_path


def test_train_from_vec_info_and_bg_with_opencv_option_names(sample_files, capsys):
    out = sample_files / "c.xml"
    status = main(["train", "--vec", str(sample_files / "faces.vec"), "--info", str(sample_files / "info.txt"),
                   "--bg", str(sample_files / "bg.txt"), "-w", "12", "-h", "12", "--num-pos", "300",
                   "--num-neg", "200", "--num-stages", "2", "--min-positives", "50", "--bt", "GAB",
                   "--weight-trim-rate", "0.9", "--max-false-alarm-rate", "0.5", "--max-weak-count", "20",
                   "--mode", "BASIC", "--acceptance-ratio-break-value", "-1", "--memory-budget", "1",
                   "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "faces.vec: 300 samples (.vec)" in printed and "info.txt: 3 boxes (info file)" in printed
    assert "bg.txt: 20 background images" in printed
    assert "303 positives, window 12x12" in printed
    stage_lines = [line for line in printed.splitlines() if line.startswith("stage ")]
    # stage 1 of 2 is followed by one more stage, but mined too few windows to time it
    assert len(stage_lines) == 2 and stage_lines[0].endswith("time left not known yet (the first stages mine "
                                                             "too few windows to time)")
    assert stage_lines[1].endswith("about 0 s left")
    assert "whole training" in printed
    assert load_cascade(out).num_stages == 2
    record = json.loads((sample_files / "c.xml.train.json").read_text())
    assert record["config"]["weight_trim_rate"] == 0.9 and record["config"]["boost_type"] == "gentle"
    assert record["config"]["target_false_positive_rate"] is None and record["config"]["window_size"] == [12, 12]
    assert record["training_seconds"] >= sum(s["seconds"] for s in record["stages"]) > 0
    assert all(s["mining_seconds"] > 0 and s["windows_tried"] >= 200 for s in record["stages"])


def test_bad_sample_files_and_budgets_are_clear_errors(sample_files, capsys):
    base = ["train", "--bg", str(sample_files / "bg.txt"), "--window", "12", "--out", str(sample_files / "x.xml")]
    assert main(base + ["--vec", str(sample_files / "faces.vec"), "-w", "10"]) == 2
    assert "144 pixels, but a 10x12 window has 120" in capsys.readouterr().err
    (sample_files / "bad.txt").write_text("photo.png 1 50 30 20 20\n")
    assert main(base + ["--info", str(sample_files / "bad.txt")]) == 2
    assert "bad.txt:1: box 1 [50, 30, 20, 20] reaches outside" in capsys.readouterr().err
    assert main(base + ["--vec", str(sample_files / "faces.vec"), "--memory-budget", "0.001"]) == 2
    assert "over --memory-budget 0.001 GB" in capsys.readouterr().err
    assert main(["train", "--vec", str(sample_files / "faces.vec"), "--window", "12", "--out", "y.xml"]) == 2
    assert "no negatives" in capsys.readouterr().err
    # opencv's break value stops at it, or at max-false-alarm ** stages if that is higher
    z = sample_files / "z.xml"
    assert main(base + ["--vec", str(sample_files / "faces.vec"), "--num-stages", "2", "--num-neg", "100",
                        "--min-positives", "50", "--acceptance-ratio-break-value", "0.3", "--out", str(z)]) == 0
    assert json.loads((sample_files / "z.xml.train.json").read_text())["config"]["target_false_positive_rate"] == 0.3


def _report(stage: int, num_weak: int, acceptance: float, false_alarm: float = 0.5) -> StageReport:
    return StageReport(stage, num_weak, 0.0, 0.995, false_alarm, 1000, 1000, acceptance, 100.0, 12.0,
                       mining_seconds=2.0, windows_tried=int(1000 / acceptance), boost_seconds=10.0)


def test_time_left_estimate(monkeypatch):
    config = CascadeTrainingConfig(num_stages=4, num_negatives=1000, max_weak_per_stage=100,
                                   target_false_positive_rate=1e-9)
    assert estimate_seconds_left([], config) == 0.0
    # no stage has mined enough windows to time: no estimate, unless no stage is left
    assert cascade_train.MIN_TIMED_WINDOWS > 2000
    assert estimate_seconds_left([_report(0, 10, 1.0), _report(1, 20, 0.5)], config) is None
    assert estimate_seconds_left([_report(k, 10, 0.5 ** k) for k in range(4)], config) == 0.0
    timed = dataclasses.replace(_report(1, 20, 0.5), windows_tried=cascade_train.MIN_TIMED_WINDOWS, mining_seconds=1.0)
    assert estimate_seconds_left([_report(0, 10, 1.0), timed], config) > 0
    monkeypatch.setattr(cascade_train, "MIN_TIMED_WINDOWS", 1000)  # the small figures below are all timed
    reports = [_report(0, 10, 1.0), _report(1, 20, 0.5)]
    # 2 stages left; mining: 1000 / acceptance windows at 1000 windows/s (2000 tried in 2 s),
    # acceptance 0.25 then 0.125; boosting: 0.5 s per stump, 30 then 40 stumps
    expected = (4000 / 1000 + 30 * 0.5) + (8000 / 1000 + 40 * 0.5)
    assert estimate_seconds_left(reports, config) == pytest.approx(expected)
    # --reuse-negatives: the 500 negatives the last stage still accepts are carried, 500 are mined
    reusing = dataclasses.replace(config, reuse_negatives=True)
    assert estimate_seconds_left(reports, reusing) == pytest.approx((2 + 30 * 0.5) + (4 + 40 * 0.5))
    assert estimate_seconds_left(reports + [_report(2, 30, 0.25), _report(3, 40, 0.125)], config) == 0.0
    reached = CascadeTrainingConfig(num_stages=10, target_false_positive_rate=0.3)
    assert estimate_seconds_left(reports, reached) == 0.0  # 0.5 * 0.5 <= 0.3: the target stops it next
    # the acceptance falls by the factor seen (0.8 a stage here), not by each stage's own false alarm
    # (0.5), and mining goes at the best rate any stage reached (stage 1: 1250 windows in 0.5 s);
    # boosting: 10 s for the last stage's 30 stumps, 10 more stumps a stage
    slow_fall = [_report(0, 10, 1.0), dataclasses.replace(_report(1, 20, 0.8), mining_seconds=0.5),
                 _report(2, 30, 0.64)]
    three_left = dataclasses.replace(config, num_stages=6)
    assert estimate_seconds_left(slow_fall, three_left) == pytest.approx(
        sum(1000 / (0.64 * 0.8 ** k) / 2500 + (30 + 10 * k) * 10 / 30 for k in (1, 2, 3)))
    assert training_memory_bytes(CascadeTrainingConfig(max_positives=2000, num_negatives=8000)) \
        == 162_336 * 10_000 + 4 * 25 * 25 * 10_000 + 24 * 24 * 10_000
