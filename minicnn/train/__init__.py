"""Training: one step (``step``), task weightings, and the shared loop with its records.

``Trainer`` (loop.py) trains one or several classification tasks with checkpoints,
exact resumption, logs and figures; ``weighting`` holds the general ways of adding up
several task losses. What a particular application trains (its data, tasks and command
line) lives with the application (``facestack.train``).
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Task, TrainConfig
from .loop import Trainer
from .report import balanced_class_weights, classification_summary, confusion_matrix, majority_baseline
from .step import NonFiniteLossError, check_finite, evaluate, train_step
from .weighting import FixedWeighting, TaskWeighting, UncertaintyWeighting

__all__ = [
    "NonFiniteLossError", "check_finite", "train_step", "evaluate", "Task", "TrainConfig", "Trainer",
    "save_checkpoint", "load_checkpoint", "confusion_matrix", "classification_summary", "majority_baseline",
    "balanced_class_weights", "TaskWeighting", "FixedWeighting", "UncertaintyWeighting",
]
