"""What a training run is made of: its tasks and its settings, as plain dataclasses.

A :class:`Task` names one classification head of a model (the model returns one
logits Tensor, or a tuple with one per task, in the order of the tasks) and the
label array of the loader it is trained against. A :class:`TrainConfig` holds the
optimiser, schedule and bookkeeping settings; both turn into JSON for the run's
records.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

SCHEDULES = ("exponential", "cosine", "constant")


@dataclass(frozen=True)
class Task:
    """One classification task.

    Attributes:
        name: short name used in logs and file names (``"gender"``, ``"age"``).
        label: key of the label array in the loader's batches (``"gender"``, ``"age_bin"``).
        class_names: one readable name per class, in label order.
        class_weights: per-class weights of the cross-entropy (PyTorch's weighted mean), or None.
        loss_scale: constant factor on this task's loss; ``1 / K`` reproduces the authors'
            code, whose cross-entropy was averaged over the K classes as well as the batch.
    """

    name: str
    label: str
    class_names: tuple[str, ...]
    class_weights: tuple[float, ...] | None = None
    loss_scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if len(self.class_names) < 2:
            raise ValueError(f"task {self.name!r} needs at least 2 classes, got {list(self.class_names)}")
        if self.class_weights is not None:
            weights = tuple(float(w) for w in self.class_weights)
            if len(weights) != len(self.class_names):
                raise ValueError(
                    f"task {self.name!r}: {len(weights)} class weights for {len(self.class_names)} classes"
                )
            object.__setattr__(self, "class_weights", weights)
        if not self.loss_scale > 0:
            raise ValueError(f"task {self.name!r}: loss_scale must be positive, got {self.loss_scale}")

    @property
    def classes(self) -> int:
        """Number of classes K."""
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        out = asdict(self)
        out["class_names"] = list(self.class_names)
        out["class_weights"] = None if self.class_weights is None else list(self.class_weights)
        return out


@dataclass
class TrainConfig:
    """Optimiser, schedule and run settings.

    Attributes:
        epochs: passes over the training loader.
        lr: base learning rate of the network's SGD.
        momentum: SGD momentum (0.9 in the authors' code; the text names plain SGD).
        weight_decay: L2 coefficient added to every network parameter's gradient.
        schedule: ``"exponential"`` (TensorFlow's exponential_decay, per step),
            ``"cosine"`` (per step, with linear warm-up) or ``"constant"``.
        decay_rate, decay_steps, staircase: the exponential schedule
            (the paper: 0.96 every 5000 steps, staircase).
        warmup_steps, min_lr_factor: the cosine schedule (steps of linear warm-up;
            final learning rate as a fraction of ``lr``).
        weighting_lr: learning rate of the task weighting's own SGD (same momentum,
            same schedule, no weight decay); None = ``lr``.
        seed: seeds dropout each epoch (the loaders carry their own seed).
        device: ``"cpu"`` or ``"gpu"``.
        threads: on the CPU, split each batch over this many threads, one model replica each
            (:class:`minicnn.parallel.DataParallel`); 1 = one plain step. Results are
            reproducible for a given value (dropout masks and rounding depend on it).
            With class weights, each slice's weighted mean loss counts by the slice's
            share of images: close to, not exactly, the whole batch's weighted mean.
        max_steps_per_epoch: stop each epoch after this many steps (smoke tests); None = all.
        log_every, log_first: record the batch losses and the weighting's values (``steps.csv``)
            at every one of the first ``log_first`` steps, then every ``log_every`` steps.
        figures_every: redraw the learning-curve figures every this many epochs (and at the end).
        figures: draw the PNG figures at all (False: CSV and JSON records only).
        patience: stop early once the best mean validation accuracy is this many epochs old
            (None: train all ``epochs``).
    """

    epochs: int = 30
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "exponential"
    decay_rate: float = 0.96
    decay_steps: int = 5000
    staircase: bool = True
    warmup_steps: int = 0
    min_lr_factor: float = 0.0
    weighting_lr: float | None = None
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    max_steps_per_epoch: int | None = None
    log_every: int = 10
    log_first: int = 50
    figures_every: int = 1
    figures: bool = True
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.log_every < 1 or self.figures_every < 1:
            raise ValueError(f"log_every and figures_every must be >= 1, got {self.log_every}, {self.figures_every}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError(f"max_steps_per_epoch must be >= 1 or None, got {self.max_steps_per_epoch}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def check_tasks(tasks: Sequence[Task]) -> list[Task]:
    """The tasks as a list, checked for at least one task and unique names."""
    tasks = list(tasks)
    if not tasks:
        raise ValueError("a trainer needs at least one task")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    return tasks
