"""``--diagnostics-epochs N``: why a paper network does or does not learn, measured as it trains.

Before the first epoch and after each of the first ``N`` epochs, the network's per-layer
activation statistics (saturated sigmoids, dead ReLUs) and per-parameter gradient norms
are measured on one fixed batch of the validation split (its first ``batch_size`` faces,
augmentation off) with :func:`minicnn.train.diagnostics.layer_statistics`, and appended
to ``diagnostics.csv`` in the run folder, one row per layer or parameter and epoch. The
loss whose gradients are measured is the plain sum of the tasks' cross-entropies.

A network stuck at the majority class is also said while it trains: after epoch
``MAJORITY_NOTE_EPOCH`` the command prints a note with the experiment's hint when every
task's validation accuracy is still that of always predicting the most frequent
training class (``majority_note``), so a 30-epoch run that will not learn says so early.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minicnn import backend, nn
from minicnn.functions.loss import cross_entropy
from minicnn.tensor import Tensor
from minicnn.train.config import Task
from minicnn.train.diagnostics import layer_statistics, write_rows
from minicnn.train.report import majority_baseline

DIAGNOSTICS_FILE = "diagnostics.csv"
#: The epoch after which a run still at the majority class says so (``majority_note``).
MAJORITY_NOTE_EPOCH = 3


class DiagnosticsRecorder:
    """Measures a model on one fixed batch and appends the rows to ``diagnostics.csv``.

    Args:
        model: the network being trained (measured in place, left unchanged).
        tasks: its tasks, in the order of its outputs.
        loader: the validation loader (its first ``batch_size`` rows are the fixed batch).
        out_dir: the run folder.
        epochs: measure after epochs 1..epochs (and before training, epoch 0).
        device: ``"cpu"`` or ``"gpu"`` (where the batch is moved).
    """

    def __init__(self, model: nn.Module, tasks: Sequence[Task], loader: Any, out_dir: Path, epochs: int,
                 device: str = "cpu") -> None:
        if epochs < 1:
            raise ValueError(f"--diagnostics-epochs must be >= 1, got {epochs}")
        self.model, self.tasks, self.epochs = model, list(tasks), int(epochs)
        self.path = Path(out_dir) / DIAGNOSTICS_FILE
        x, labels = loader.make_batch(loader.indices[: loader.batch_size])
        self.x = backend.to_device(x, device)
        self.labels = [backend.to_device(labels[task.label], device) for task in self.tasks]

    def _loss(self, outputs: Any) -> Tensor:
        outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
        total = cross_entropy(outputs[0], self.labels[0])
        for logits, y in zip(outputs[1:], self.labels[1:]):
            total = total + cross_entropy(logits, y)
        return total

    def measure(self, epoch: int) -> Path | None:
        """Append the statistics after ``epoch`` (0 = before training) if it is one to measure."""
        if epoch > self.epochs:
            return None
        return write_rows(layer_statistics(self.model, self.x, self._loss), epoch, self.path)


def majority_val_accuracy(train: Any, val: Any, tasks: Sequence[Task]) -> dict[str, float]:
    """Each task's validation accuracy of always predicting its most frequent training
    class (``train`` and ``val`` are loaders with ``labels`` and ``indices``)."""
    out = {}
    for task in tasks:
        train_labels = np.asarray(train.labels[task.label])[np.asarray(train.indices)]
        val_labels = np.asarray(val.labels[task.label])[np.asarray(val.indices)]
        out[task.name] = majority_baseline(train_labels, val_labels, task.class_names)["test_accuracy"]
    return out


def majority_note(row: dict[str, Any], tasks: Sequence[Task], val_majority: dict[str, float],
                  margin: float) -> str | None:
    """A one-line note when every task's validation accuracy in the epoch record ``row``
    is within ``margin`` of the majority class's (``majority_val_accuracy``); else None."""
    if not all(row[f"val_{t.name}_acc"] <= val_majority[t.name] + margin for t in tasks):
        return None
    scores = ", ".join(f"{t.name} {row[f'val_{t.name}_acc']:.3f} (majority class {val_majority[t.name]:.3f})"
                       for t in tasks)
    return f"note: after epoch {row['epoch']} the validation accuracy is still the majority class's ({scores})"
