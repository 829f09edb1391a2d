"""The shared Trainer on tiny synthetic data: learning, records, exact resumption, NaN stop, weightings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from minicnn import Tensor, nn
from facestack.data import Augment
from minicnn.serialization import load_arrays
from minicnn.train import NonFiniteLossError, Task, Trainer, TrainConfig
from minicnn.train.checkpoint import load_checkpoint
from minicnn.train.report import read_csv
from facestack.train.weighting import make_weighting
from tests.facestack.experiments.synthetic import BAR, QUADRANT, TwoHeadNet, loaders, make_trainer, one_head_net

TASK_NAMES = [BAR.name, QUADRANT.name]
CLASSES = [BAR.classes, QUADRANT.classes]
TIMING_KEYS = ("train_seconds", "seconds_per_step", "eval_seconds", "epoch_seconds")


def weights_of(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: np.array(p.data) for name, p in module.named_parameters()}


def test_loss_falls_and_every_record_is_written(tmp_path):
    trainer = make_trainer(tmp_path, TwoHeadNet(dropout=0.0), epochs=6, figures=True, figures_every=1000,
                           weighting=make_weighting("fixed", TASK_NAMES, CLASSES))
    results = trainer.fit(*loaders())
    history = trainer.history
    assert history[-1]["train_objective"] < 0.6 * history[0]["train_objective"]
    assert results["final"]["quadrant"]["accuracy"] > 0.8  # chance is 0.25
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"log.csv", "steps.csv", "checkpoint.npz", "best.npz", "best.json", "model.npz", "results.json",
                "confusion.json", "curves-bar.png", "curves-quadrant.png", "losses.png", "weighting.png"}
    expected |= {f"confusion-{w}-{t}.png" for w in ("final", "best") for t in TASK_NAMES}
    assert expected <= names
    rows = read_csv(tmp_path / "log.csv")
    assert [r["epoch"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for split in ("train", "val", "test"):
        for task in TASK_NAMES:
            assert {f"{split}_{task}_loss", f"{split}_{task}_acc"} <= set(rows[0])
    assert {"lr", "epoch_seconds", "seconds_per_step", "w_bar", "w_quadrant"} <= set(rows[0])
    # best.npz loads into a fresh model and scores the recorded best validation accuracy
    best = json.loads((tmp_path / "best.json").read_text())
    fresh = TwoHeadNet(dropout=0.0, seed=5)
    fresh.load_state_dict(load_arrays(tmp_path / "best.npz"))
    check = Trainer(fresh, [BAR, QUADRANT], TrainConfig(), tmp_path / "check", progress=False)
    val_acc = {name: m["acc"] for name, m in check.evaluate(loaders()[1]).items()}
    assert val_acc == pytest.approx(best["val_acc"])
    assert best["score"] == max(np.mean([r[f"val_{t}_acc"] for t in TASK_NAMES]) for r in rows)
    # results: recall per class, macro recall, confusion, baseline
    quadrant = results["best"]["quadrant"]
    matrix = np.asarray(quadrant["confusion"])
    assert matrix.sum() == 64 and quadrant["accuracy"] == pytest.approx(np.trace(matrix) / 64)
    assert quadrant["macro_recall"] == pytest.approx(np.mean(np.diag(matrix) / matrix.sum(axis=1)))
    confusion = json.loads((tmp_path / "confusion.json").read_text())
    assert confusion["best"]["quadrant"]["matrix"] == quadrant["confusion"]
    assert set(results["baseline"]) == set(TASK_NAMES)


def _resume_setup(out, seed_of_init):
    model = TwoHeadNet(dropout=0.3, seed=seed_of_init)
    weighting = make_weighting("uncertainty", TASK_NAMES, CLASSES)
    config = {"epochs": 3, "decay_steps": 5, "decay_rate": 0.5, "seed": 7}
    return make_trainer(out, model, weighting=weighting, **config), weighting


class Interrupted(Exception):
    pass


def test_resume_gives_bit_identical_weights_with_dropout_and_augmentation(tmp_path):
    augment = Augment(crop_padding=2, flip=True, brightness=0.1)
    straight, straight_weighting = _resume_setup(tmp_path / "straight", seed_of_init=0)
    straight.fit(*loaders(augment=augment))

    first, _ = _resume_setup(tmp_path / "resumed", seed_of_init=0)

    def stop_after_first_epoch(row):
        if row["epoch"] == 1:
            raise Interrupted

    first.on_epoch_end = stop_after_first_epoch
    with pytest.raises(Interrupted):
        first.fit(*loaders(augment=augment))
    _, meta = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    assert meta["epoch"] == 1

    # a fresh process would build everything anew: different initial weights, new loaders
    second, second_weighting = _resume_setup(tmp_path / "resumed", seed_of_init=123)
    with pytest.raises(FileExistsError):
        second.fit(*loaders(augment=augment))
    second.fit(*loaders(augment=augment), resume=True)

    for name, value in weights_of(straight.model).items():
        assert np.array_equal(value, weights_of(second.model)[name]), name
    assert np.array_equal(straight_weighting.log_var.data, second_weighting.log_var.data)
    assert straight.optimizer.lr == second.optimizer.lr
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]  # noqa: E731
    assert strip(straight.history) == strip(second.history)
    assert straight.step_log == second.step_log


class NanAfter(nn.Module):
    """Wraps a model; its training-mode output becomes NaN from the ``bad_call``-th call on (0-based)."""

    def __init__(self, inner: nn.Module, bad_call: int) -> None:
        super().__init__()
        self.inner, self.bad_call, self.calls = inner, bad_call, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls - 1 >= self.bad_call:
                return out * Tensor(np.float32(np.nan))
        return out


def test_a_nan_loss_stops_training_and_names_the_step(tmp_path):
    model = NanAfter(one_head_net(), bad_call=5)  # 4 steps per epoch: step 5 is in epoch 2
    trainer = make_trainer(tmp_path, model, tasks=[QUADRANT], epochs=3)
    with pytest.raises(NonFiniteLossError, match="at step 5") as caught:
        trainer.fit(*loaders())
    assert "epoch 2" in " ".join(caught.value.__notes__)
    stopped = json.loads((tmp_path / "results.json").read_text())
    assert stopped["step"] == 5 and stopped["epochs_completed"] == 1
    assert len(read_csv(tmp_path / "log.csv")) == 1
    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 1


def test_a_step_without_gradients_stops_training_instead_of_silently_not_learning(tmp_path):
    from minicnn import set_grad_enabled

    trainer = make_trainer(tmp_path, one_head_net(), tasks=[QUADRANT], epochs=1)
    with set_grad_enabled(False), pytest.raises(RuntimeError, match="no gradient on any parameter"):
        trainer.fit(*loaders())


def test_paper_weighting_collapses(tmp_path):
    weighting = make_weighting("paper", TASK_NAMES, CLASSES)
    trainer = make_trainer(tmp_path, TwoHeadNet(), weighting=weighting, epochs=1, lr=0.01)
    trainer.fit(*loaders())
    log = trainer.step_log
    for name in TASK_NAMES:
        values = [entry[f"w_{name}"] for entry in log]
        assert values[0] < 0.5 and all(b < a for a, b in zip(values, values[1:])), name


def test_authors_code_weighting_grows_and_leaves_the_network_as_fixed_one_over_k(tmp_path):
    authors = make_weighting("authors-code", TASK_NAMES, CLASSES)
    with_authors = make_trainer(tmp_path / "authors", TwoHeadNet(), weighting=authors, epochs=2)
    with_authors.fit(*loaders())
    fixed = make_weighting("fixed", TASK_NAMES, CLASSES, [1.0 / k for k in CLASSES])
    with_fixed = make_trainer(tmp_path / "fixed", TwoHeadNet(), weighting=fixed, epochs=2)
    with_fixed.fit(*loaders())
    for name, value in weights_of(with_authors.model).items():
        np.testing.assert_allclose(value, weights_of(with_fixed.model)[name], rtol=1e-6, atol=1e-7, err_msg=name)
    values = [entry["w_bar"] for entry in with_authors.step_log]
    assert all(b > a for a, b in zip(values, values[1:])) and values[-1] > 0.5
    assert with_authors.history[-1]["train_objective"] < with_fixed.history[-1]["train_objective"]


def test_uncertainty_weighting_stays_finite_and_positive(tmp_path):
    weighting = make_weighting("uncertainty", TASK_NAMES, CLASSES)
    trainer = make_trainer(tmp_path, TwoHeadNet(), weighting=weighting, epochs=3, lr=0.1, weighting_lr=0.5)
    trainer.fit(*loaders())
    for entry in trainer.step_log:
        for name in TASK_NAMES:
            assert np.isfinite(entry[f"sigma2_{name}"]) and entry[f"sigma2_{name}"] > 0
    assert np.isfinite(trainer.history[-1]["train_objective"])


def test_loss_scale_one_over_k_equals_a_k_times_smaller_learning_rate(tmp_path):
    """The authors' single-task loss / K is the same update as lr / K without weight decay."""
    scaled = Task(QUADRANT.name, QUADRANT.label, QUADRANT.class_names, loss_scale=0.25)
    a = make_trainer(tmp_path / "a", one_head_net(), tasks=[scaled], epochs=1, lr=0.08, weight_decay=0.0)
    a.fit(*loaders())
    b = make_trainer(tmp_path / "b", one_head_net(), tasks=[QUADRANT], epochs=1, lr=0.02, weight_decay=0.0)
    b.fit(*loaders())
    for name, value in weights_of(a.model).items():
        assert np.array_equal(value, weights_of(b.model)[name]), name
    # the logged task loss is the plain cross-entropy in both runs
    assert a.history[0]["train_quadrant_loss"] == pytest.approx(b.history[0]["train_quadrant_loss"], rel=1e-6)
