"""Metrics, CSV/JSON records, checkpoints, the progress postfix and the CLI's option resolution."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from minicnn.progress import Progress, make_progress
from facestack.train import cli
from minicnn.train.checkpoint import load_checkpoint, save_checkpoint
from minicnn.train.report import (
    balanced_class_weights,
    classification_summary,
    confusion_matrix,
    majority_baseline,
    read_csv,
    write_csv,
)

metrics = pytest.importorskip("sklearn.metrics")


def random_labels(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
    return y_true, y_pred


@pytest.mark.parametrize("k", [2, 4])
def test_confusion_recall_and_macro_recall_agree_with_scikit_learn(k):
    y_true, y_pred = random_labels(300, k, seed=k)
    matrix = confusion_matrix(y_true, y_pred, k)
    np.testing.assert_array_equal(matrix, metrics.confusion_matrix(y_true, y_pred, labels=list(range(k))))
    names = [f"c{i}" for i in range(k)]
    summary = classification_summary(matrix, names)
    assert summary["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert summary["macro_recall"] == pytest.approx(metrics.recall_score(y_true, y_pred, average="macro"))
    per_class = metrics.recall_score(y_true, y_pred, average=None)
    assert [summary["recall"][n] for n in names] == pytest.approx(list(per_class))
    assert json.loads(json.dumps(summary)) == summary


def test_confusion_matrix_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


def test_majority_baseline_predicts_the_most_frequent_training_class():
    train = np.array([0, 1, 1, 2, 1, 0])
    test = np.array([1, 1, 0, 2, 2])
    baseline = majority_baseline(train, test, ["a", "b", "c"])
    assert baseline["class"] == "b" and baseline["class_index"] == 1
    assert baseline["train_share"] == pytest.approx(np.mean(train == 1))
    assert baseline["test_accuracy"] == pytest.approx(np.mean(test == 1))
    assert baseline["test_macro_recall"] == pytest.approx(1 / 3)


def test_balanced_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.random.default_rng(0).choice(4, 500, p=[0.55, 0.25, 0.13, 0.07])
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    np.testing.assert_allclose(balanced_class_weights(labels, 4), expected)


def test_csv_round_trip_keeps_every_column_in_order(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "w_age": -1.5}]
    write_csv(rows, tmp_path / "log.csv")
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "epoch,loss,w_age"
    assert read_csv(tmp_path / "log.csv") == [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0, "loss": 0.25, "w_age": -1.5}]


def test_checkpoint_round_trip_without_pickle(tmp_path):
    states = {"model": {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3)},
              "optimizer": {"lr": 0.01, "0.velocity": np.ones(3, np.float32)}, "schedule": {"t": 7, "base_lr": 0.1}}
    meta = {"epoch": 3, "history": [{"epoch": 1, "loss": 0.5}], "best": None}
    save_checkpoint(tmp_path / "c.npz", states, meta)
    loaded, loaded_meta = load_checkpoint(tmp_path / "c.npz")
    assert loaded_meta == meta
    np.testing.assert_array_equal(loaded["model"]["fc.weight"], states["model"]["fc.weight"])
    assert float(loaded["optimizer"]["lr"]) == 0.01 and int(loaded["schedule"]["t"]) == 7
    with np.load(tmp_path / "c.npz", allow_pickle=False) as archive:  # readable without pickle
        assert archive["meta"].dtype.kind == "U"
    with pytest.raises(ValueError, match="may not contain"):
        save_checkpoint(tmp_path / "d.npz", {"a/b": {}}, {})


def test_progress_postfix_is_drawn_after_the_bar():
    bar = Progress(10, "epoch 1/3", stream=io.StringIO(), force=True, min_interval=0.0)
    bar.set_postfix("loss 0.4121 gender 0.812")
    bar.update(5)
    assert bar.render().startswith("epoch 1/3:  50%") and bar.render().endswith(" loss 0.4121 gender 0.812")
    calls = []
    callback = make_progress(lambda done, total: calls.append((done, total)), 3)
    callback.set_postfix("ignored")
    callback.update()
    assert calls == [(1, 3)]


def _experiment() -> cli.Experiment:
    presets = {"paper": {"epochs": 30, "lr": 0.01}, "authors-code": {"variant": "authors-code", "epochs": 10},
               "best": {"epochs": 40, "augment": True}}
    return cli.Experiment("toy", "toy", presets, build_model=lambda s, t: None, task_names=("gender",))


def test_options_come_from_the_command_line_then_the_preset_then_the_defaults(tmp_path):
    settings, resuming = cli.resolve_settings(_experiment(), ["--out", str(tmp_path), "--lr", "0.5"])
    assert not resuming and settings.preset == "paper" and settings.lr == 0.5 and settings.epochs == 30
    assert settings.batch_size == cli.COMMON_DEFAULTS["batch_size"]
    code, _ = cli.resolve_settings(_experiment(), ["--variant", "authors-code"])
    assert code.epochs == 10 and code.variant == "authors-code" and code.out.startswith("runs/toy-authors-code-")
    best, _ = cli.resolve_settings(_experiment(), ["--best", "--no-augment"])
    assert best.preset == "best" and best.epochs == 40 and best.augment is False


def test_resume_reads_the_saved_settings_and_lets_new_options_win(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"epochs": 5, "lr": 0.2, "preset": "best"}))
    settings, resuming = cli.resolve_settings(_experiment(), ["--resume", str(tmp_path), "--epochs", "9"])
    assert resuming and settings.epochs == 9 and settings.lr == 0.2 and settings.out == str(tmp_path)
    with pytest.raises(cli.UsageError, match="no such run folder"):
        cli.resolve_settings(_experiment(), ["--resume", str(tmp_path / "missing")])
    (tmp_path / "settings.json").write_text(json.dumps({"epochs": 0}))
    with pytest.raises(ValueError, match="settings.json: epochs must be an integer >= 1"):
        cli.resolve_settings(_experiment(), ["--resume", str(tmp_path)])


def test_seeded_initialisation_is_reproducible():
    from facestack.models import MultiTaskNet

    a = cli.seeded_default_init(MultiTaskNet("paper", dropout=0.0), seed=3)
    b = cli.seeded_default_init(MultiTaskNet("paper", dropout=0.0), seed=3)
    c = cli.seeded_default_init(MultiTaskNet("paper", dropout=0.0), seed=4)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert np.array_equal(pa.data, pb.data), name
        assert not np.array_equal(pa.data, pc.data), name


def test_results_table_reports_a_stopped_run(tmp_path):
    """A run stopped by a non-finite loss gets a row that says so, not test numbers."""
    import json

    from facestack.paper import results_table

    run = tmp_path / "multitask-paper"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({"script": "multitask", "preset": "paper", "weighting": "paper",
                                                    "epochs": 1, "command": "multitask.py --variant paper"}))
    (run / "results.json").write_text(json.dumps({"stopped": "loss is nan at step 11", "step": 11, "epoch": 1,
                                                   "epochs_completed": 0}))
    table = results_table.markdown([run])
    assert "stopped: loss not finite at step 11" in table and "`python experiments/multitask.py --variant paper`" in table
    with pytest.raises(SystemExit, match="missing"):
        results_table.markdown([tmp_path / "nothing"])
