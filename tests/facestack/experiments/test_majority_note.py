"""A run still at the majority class says so after a few epochs, not only at its end."""
from __future__ import annotations

import numpy as np

from facestack.train.diagnose import MAJORITY_NOTE_EPOCH, majority_note, majority_val_accuracy
from tests.facestack.experiments.synthetic import BAR, QUADRANT, loaders


def test_majority_accuracy_is_the_most_frequent_training_class_scored_on_validation():
    train, val, _ = loaders()
    shares = majority_val_accuracy(train, val, [QUADRANT, BAR])
    for task in (QUADRANT, BAR):
        train_labels = np.asarray(train.labels[task.label])[train.indices]
        val_labels = np.asarray(val.labels[task.label])[val.indices]
        majority = np.bincount(train_labels, minlength=len(task.class_names)).argmax()
        assert shares[task.name] == np.mean(val_labels == majority)


def test_the_note_names_every_task_only_when_all_are_at_the_majority_class():
    majority = {"quadrant": 0.30, "bar": 0.55}
    stuck = {"epoch": MAJORITY_NOTE_EPOCH, "val_quadrant_acc": 0.30, "val_bar_acc": 0.552}
    note = majority_note(stuck, [QUADRANT, BAR], majority, margin=0.005)
    assert note.startswith(f"note: after epoch {MAJORITY_NOTE_EPOCH} ")
    assert "quadrant 0.300 (majority class 0.300)" in note and "bar 0.552 (majority class 0.550)" in note
    learning = dict(stuck, val_bar_acc=0.60)  # one task above its majority class: no note
    assert majority_note(learning, [QUADRANT, BAR], majority, margin=0.005) is None
