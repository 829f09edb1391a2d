"""``--diagnostics-epochs N``: why a paper network does or does not learn, measured as it trains.

Before the first epoch and after each of the first ``N`` epochs, the network's per-layer
activation statistics (saturated sigmoids, dead ReLUs) and per-parameter gradient norms
are measured on one fixed batch of the validation split (its first ``batch_size`` faces,
augmentation off) with :func:`minicnn.train.diagnostics.layer_statistics`, and appended
to ``diagnostics.csv`` in the run folder, one row per layer or parameter and epoch. The
loss whose gradients are measured is the plain sum of the tasks' cross-entropies.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from minicnn import backend, nn
from minicnn.functions.loss import cross_entropy
from minicnn.tensor import Tensor
from minicnn.train.config import Task
from minicnn.train.diagnostics import layer_statistics, write_rows

DIAGNOSTICS_FILE = "diagnostics.csv"


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
