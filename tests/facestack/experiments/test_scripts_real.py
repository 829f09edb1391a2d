"""Each experiment script on a small real UTKFace subset (skipped without ../shared/data).

``--limit 256`` caches only the 256 training + 32 validation + 32 test images it uses
(about a second), and ``--steps-per-epoch 2`` keeps each run to four training steps
of the full-size 128x128 networks (each 1-10 s on a shared 2-core machine). The LeNet
resume check runs at batch 16 to halve its cost.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from facestack.paper import flip_test, gender_cnn, lenet_age, multitask, results_table, weighting_figure
from minicnn.serialization import load_arrays
from facestack.train.cli import MAJORITY_MARGIN
from minicnn.train.report import read_csv

SMOKE = ["--limit", "256", "--epochs", "2", "--batch-size", "32", "--steps-per-epoch", "2", "--no-progress"]
OUTPUTS = ("settings.json", "log.csv", "steps.csv", "checkpoint.npz", "best.npz", "model.npz", "results.json",
           "confusion.json")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("experiment-cache")


def run(script, utkface_dir, cache_dir, out, *extra):
    """``script.main`` with the smoke options; options in ``extra`` come later and so take precedence."""
    return script.main(SMOKE + ["--data", str(utkface_dir), "--cache-dir", str(cache_dir), "--out", str(out), *extra])


def check_run(out, tasks):
    for name in OUTPUTS + tuple(f"curves-{t}.png" for t in tasks):
        assert (out / name).is_file(), name
    rows = read_csv(out / "log.csv")
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert rows[1]["train_objective"] < rows[0]["train_objective"]
    results = json.loads((out / "results.json").read_text())
    for task in tasks:
        assert 0.0 <= results["final"][task]["accuracy"] <= 1.0
        assert sum(results["final"][task]["support"].values()) == 32
        assert results["baseline"][task]["test_accuracy"] > 0
    return rows, results


def test_gender_cnn_paper_variant(utkface_dir, cache_dir, tmp_path, capsys):
    # one plain step per batch: with the paper's initialisation (weights of std 0.1, biases 0.1) the first
    # losses are about 10 and four steps are too few for "loss falls" to hold for every dropout draw;
    # --threads 1 keeps the draw this check was written for (the data-parallel path is tested below)
    assert run(gender_cnn, utkface_dir, cache_dir, tmp_path / "gender", "--threads", "1") == 0
    check_run(tmp_path / "gender", ["gender"])
    settings = json.loads((tmp_path / "gender" / "settings.json").read_text())
    assert settings["preset"] == "paper" and settings["weight_decay"] == 1e-4 and settings["decay_rate"] == 0.96
    assert "epoch 2/2" in capsys.readouterr().out


def test_multitask_with_uncertainty_weighting(utkface_dir, cache_dir, tmp_path):
    out = tmp_path / "multitask"
    assert run(multitask, utkface_dir, cache_dir, out, "--weighting", "uncertainty") == 0
    rows, results = check_run(out, ["gender", "age"])
    assert (out / "weighting.png").is_file()
    assert all(np.isfinite(r["sigma2_age"]) and r["sigma2_age"] > 0 for r in rows)
    assert results["final"]["age"]["class_names"] == ["[0,30]", "[31,45]", "[46,60]", "[61,100]"]
    # the flip test re-scores the saved models on the same split: its plain figures are results.json's
    assert flip_test.main([str(out)]) == 0
    scored = json.loads((out / "flip_test.json").read_text())
    for which in ("final", "best"):
        for task in ("gender", "age"):
            assert scored[which][task]["plain"] == pytest.approx(results[which][task]["accuracy"])
            assert 0.0 <= scored[which][task]["flip"] <= 1.0


def test_paper_weighting_run_feeds_the_table_and_the_weighting_figure(utkface_dir, cache_dir, tmp_path, capsys):
    out = tmp_path / "multitask-paper"
    assert run(multitask, utkface_dir, cache_dir, out) == 0  # --variant paper: eq. 5 with trainable p, q
    capsys.readouterr()
    assert results_table.main([str(out)]) == 0
    table = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    gender = results["best"]["gender"]["accuracy"]
    assert f"| multitask | paper | paper | {100 * gender:.1f}% |" in table
    assert "2 of 2" in table and "Majority-class baseline" in table
    figure = tmp_path / "weighting.png"
    assert weighting_figure.main(["--paper", str(out), "--out", str(figure)]) == 0
    printed = capsys.readouterr().out
    assert figure.is_file() and "paper weighting: p (age) went from" in printed and "q (gender) went from" in printed
    with pytest.raises(SystemExit, match="not trained with --weighting uncertainty"):
        weighting_figure.main(["--paper", str(out), "--uncertainty", str(out), "--out", str(figure)])


def test_lenet_age_resumes_to_the_same_weights(utkface_dir, cache_dir, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "resumed"
    assert run(lenet_age, utkface_dir, cache_dir, straight, "--lr", "0.1", "--batch-size", "16") == 0
    check_run(straight, ["age"])
    assert run(lenet_age, utkface_dir, cache_dir, interrupted, "--lr", "0.1", "--batch-size", "16",
               "--epochs", "1") == 0
    assert lenet_age.main(["--resume", str(interrupted), "--epochs", "2"]) == 0
    a, b = load_arrays(straight / "model.npz"), load_arrays(interrupted / "model.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert len(read_csv(interrupted / "log.csv")) == 2


def test_lenet_age_writes_its_diagnostics_for_a_short_run(utkface_dir, cache_dir, tmp_path):
    """--diagnostics-epochs: per-layer activation and gradient rows before training and after each epoch."""
    out = tmp_path / "lenet-diagnostics"
    assert run(lenet_age, utkface_dir, cache_dir, out, "--diagnostics-epochs", "1") == 0
    rows = read_csv(out / "diagnostics.csv")
    assert sorted({r["epoch"] for r in rows}) == [0.0, 1.0]  # epoch 2 is past --diagnostics-epochs
    before = [r for r in rows if r["epoch"] == 0.0]
    sigmoids = [r for r in before if r["kind"] == "activation" and r["layer"] == "Sigmoid"]
    grads = [r for r in before if r["kind"] == "gradient"]
    assert sigmoids and all(0.0 <= r["saturated_fraction"] <= 1.0 for r in sigmoids)  # the text's sigmoid LeNet
    assert grads and all(r["grad_norm"] >= 0.0 and r["param_norm"] >= 0.0 for r in grads)
    assert any(r["grad_norm"] > 0.0 for r in grads)


def test_lenet_age_names_the_fix_when_it_ends_at_the_majority_class(utkface_dir, cache_dir, tmp_path, capsys):
    """The default (sigmoid) LeNet's output says when it is no better than the majority class, and names tanh."""
    out = tmp_path / "lenet-hint"
    assert run(lenet_age, utkface_dir, cache_dir, out) == 0
    results = json.loads((out / "results.json").read_text())
    at_majority = (results["best"]["age"]["accuracy"]
                   <= results["baseline"]["age"]["test_accuracy"] + MAJORITY_MARGIN)
    printed = capsys.readouterr().out
    assert ("no better than the majority class" in printed) == at_majority
    if at_majority:
        assert "--activation tanh" in printed


def test_lenet_age_says_after_three_epochs_that_it_is_still_at_the_majority_class(utkface_dir, cache_dir, tmp_path,
                                                                                   capsys):
    """Six steps cannot lift the text's sigmoid LeNet off the majority class: the note
    after epoch 3 says so and names tanh, long before the run's last epoch would."""
    out = tmp_path / "lenet-note"
    assert run(lenet_age, utkface_dir, cache_dir, out, "--epochs", "4") == 0
    printed = capsys.readouterr().out.splitlines()
    notes = [line for line in printed if line.startswith("note: after epoch 3 ")]
    assert len(notes) == 1 and "--activation tanh" in notes[0]
    assert printed.index(notes[0]) < next(i for i, line in enumerate(printed) if line.startswith("epoch 4/4"))


def test_lenet_majority_hint_names_tanh_only_for_the_sigmoid_lenet():
    from argparse import Namespace

    assert "--activation tanh" in lenet_age.majority_hint(Namespace(model="lenet", activation="sigmoid"))
    assert "--activation tanh" not in lenet_age.majority_hint(Namespace(model="lenet", activation="tanh"))
    assert "--activation tanh" not in lenet_age.majority_hint(Namespace(model="trunk", activation="sigmoid"))
