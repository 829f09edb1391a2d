"""The paper's joint network (section III.C, eq. 5, Figure 9): gender and age from one trunk.

trunk -> FC6 4096->512 ReLU (shared) -> per task FC7 512->100 ReLU -> FC8 100->2 (gender) / ->4 (age),
trained on Loss = p * loss_age + q * loss_gender (``--weighting``).

Presets (any option given on the command line overrides them):

``--variant paper`` (default): MultiTaskNet("paper") (pool -> LRN after every conv, dropout 0.5
    after FC6 and FC7), eq. 5 taken literally (``--weighting paper``: p and q trainable, both
    starting at 0.5), SGD learning rate 0.01 times 0.96 every 5000 steps, L2 1e-4, momentum 0.9,
    batch 128, 30 epochs, the authors' initialisation, the text's age bins. Expect p and q to
    collapse through zero within the first epoch (see docs/experiments.md): add
    ``--weighting fixed`` for a run that trains the network on the plain sum instead.
``--variant authors-code``: MultiTaskNet("authors-code") (no dropout, no LRN after conv3),
    ``--weighting authors-code`` (p, q multiply the softmax probabilities: a no-op for the
    network; each cross-entropy is also averaged over its classes), learning rate 0.001 times
    0.98 every 5000 steps, L2 5e-4, batch 128, 400 epochs (the code's count), images min-max
    stretched, the code's age bins.
``--best``: our own preset: MultiTaskNet("paper", width=``--width``, default 1) with dropout 0.5,
    uncertainty weighting (Kendall et al. 2018: exp(-s_i) L_i + s_i, s_i = log sigma_i^2),
    augmentation (crop with 8 px padding, flip, brightness), PyTorch's default initialisation,
    L2 5e-4, batch 64, 40 epochs of cosine decay from 0.01 after one epoch of warm-up.
    ``--width 2`` doubles every conv's channels (about 3.5 times the work).

    python experiments/multitask.py --weighting fixed --task-weights 1,1
    python experiments/multitask.py --variant authors-code --epochs 60 --device gpu
    python experiments/multitask.py --best --width 2 --device gpu
"""
from __future__ import annotations

import argparse
import sys

from minicnn import nn
from facestack.models import MultiTaskNet
from facestack.train.cli import Experiment, main as cli_main
from minicnn.train.config import Task
from minicnn.train.weighting import TaskWeighting
from facestack.train.weighting import WEIGHTINGS, make_weighting

PRESETS = {
    "paper": {"variant": "paper", "weighting": "paper", "epochs": 30, "batch_size": 128, "lr": 0.01,
              "weight_decay": 1e-4, "schedule": "exponential", "decay_rate": 0.96, "decay_steps": 5000,
              "init": "paper", "bins": "paper"},
    "authors-code": {"variant": "authors-code", "weighting": "authors-code", "epochs": 400, "batch_size": 128,
                     "lr": 0.001, "weight_decay": 5e-4, "schedule": "exponential", "decay_rate": 0.98,
                     "decay_steps": 5000, "init": "paper", "bins": "authors-code", "stretch": True},
    "best": {"variant": "paper", "weighting": "uncertainty", "epochs": 40, "batch_size": 64, "lr": 0.01,
             "weight_decay": 5e-4, "schedule": "cosine", "warmup_epochs": 1.0, "min_lr_factor": 0.01,
             "init": "default", "bins": "paper", "augment": True, "dropout": 0.5},
}


def _weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1,0.5, got {text!r}") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weighting", choices=WEIGHTINGS, help="how the two task losses are combined")
    parser.add_argument("--task-weights", type=_weights, help="--weighting fixed: gender,age weights (default 1,1)")
    parser.add_argument("--weighting-lr", type=float, help="learning rate of p, q or log sigma^2 (default --lr)")
    parser.add_argument("--width", type=int, help="channel multiplier of the convs (default 1)")


def build_model(settings: argparse.Namespace, tasks: list[Task]) -> nn.Module:
    """MultiTaskNet of the settings' variant, dropout and width; outputs (gender, age)."""
    return MultiTaskNet(variant=settings.variant, age_classes=tasks[1].classes, dropout=settings.dropout,
                        width=settings.width)


def build_weighting(settings: argparse.Namespace, tasks: list[Task]) -> TaskWeighting:
    """The task weighting named by ``--weighting``."""
    return make_weighting(settings.weighting, [t.name for t in tasks], [t.classes for t in tasks],
                          settings.task_weights)


EXPERIMENT = Experiment("multitask", __doc__, PRESETS, build_model, ("gender", "age"), build_weighting,
                        add_arguments, extra_defaults={"width": 1, "task_weights": None, "weighting_lr": None})


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return cli_main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
