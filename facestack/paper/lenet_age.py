"""The paper's age classifier (section III.B.2, Figure 8): 4 age bins.

Presets (any option given on the command line overrides them):

``--variant paper`` (default): the LeNet the text describes.
    LeNetAge: C1 conv 5x5 1->6 (128 -> 124), S2 trainable 2x2 subsampling + sigmoid, C3 conv
    5x5 6->16, S4 subsampling + sigmoid, C5 conv 5x5 16->120 + sigmoid, F6 FC -> 84 sigmoid,
    FC 84 -> 4. SGD, learning rate 0.01 times 0.96 every 5000 steps, L2 1e-4, momentum 0.9,
    batch 128, 30 epochs, PyTorch's default initialisation (the text gives none for LeNet),
    the text's age bins [0,30] [31,45] [46,60] [61,100] (60 moved out of the last bin).
    As written it does not learn: it stays at the majority class (docs/results.md, "The text's
    LeNet"). ``--activation tanh`` is the one change that makes it learn.
``--variant authors-code``: what the published code trained: no LeNet at all, but the gender
    network's trunk with 4 outputs (GenderNet("authors-code", classes=4), no dropout), the
    authors' initialisation, L2 5e-4, learning rate 0.01 times 0.98 every 5000 steps, batch 128,
    400 epochs (the code's count; pass --epochs for less), loss averaged over the 4 classes
    (loss / 4), images min-max stretched, the code's bins <30, 30..45, 46..59, >=60.
``--best``: our own preset: the conv trunk (``--model trunk``: GenderNet("paper", classes=4),
    dropout 0.5) with augmentation (crop with 8 px padding, flip, brightness), PyTorch's default
    initialisation, L2 5e-4, batch 64, 40 epochs of cosine decay from 0.01 after one epoch of
    warm-up. ``--class-weights balanced`` trades accuracy for macro recall on the rarer bins.

    python experiments/lenet_age.py
    python experiments/lenet_age.py --variant authors-code --epochs 40 --device gpu
    python experiments/lenet_age.py --best --device gpu
"""
from __future__ import annotations

import argparse
import sys

from minicnn import nn
from facestack.models import GenderNet, LeNetAge
from facestack.train.cli import Experiment, main as cli_main
from minicnn.train.config import Task

PRESETS = {
    "paper": {"variant": "paper", "model": "lenet", "epochs": 30, "batch_size": 128, "lr": 0.01, "weight_decay": 1e-4,
              "schedule": "exponential", "decay_rate": 0.96, "decay_steps": 5000, "init": "default", "bins": "paper"},
    "authors-code": {"variant": "authors-code", "model": "trunk", "epochs": 400, "batch_size": 128, "lr": 0.01,
                     "weight_decay": 5e-4, "schedule": "exponential", "decay_rate": 0.98, "decay_steps": 5000,
                     "init": "paper", "bins": "authors-code", "stretch": True, "loss_over_classes": True},
    "best": {"variant": "paper", "model": "trunk", "epochs": 40, "batch_size": 64, "lr": 0.01, "weight_decay": 5e-4,
             "schedule": "cosine", "warmup_epochs": 1.0, "min_lr_factor": 0.01, "init": "default", "bins": "paper",
             "augment": True, "dropout": 0.5},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("lenet", "trunk"),
                        help="lenet: the text's LeNet; trunk: the gender network's trunk with 4 outputs")
    parser.add_argument("--activation", choices=tuple(LeNetAge.ACTIVATIONS),
                        help="the LeNet's activation (default sigmoid, as the text; tanh learns, see the docstring)")


def build_model(settings: argparse.Namespace, tasks: list[Task]) -> nn.Module:
    """LeNetAge, or the gender network with one output per age bin."""
    if settings.model == "lenet":
        return LeNetAge(classes=tasks[0].classes, activation=settings.activation)
    return GenderNet(variant=settings.variant, classes=tasks[0].classes, dropout=settings.dropout)


def majority_hint(settings: argparse.Namespace) -> str:
    """What to try when the run ended at the majority class (the text's sigmoid LeNet does)."""
    if settings.model == "lenet" and settings.activation == "sigmoid":
        return ("the text's sigmoid LeNet saturates its 75,000-input F6 and hardly trains its first layers; "
                "--activation tanh learns (docs/results.md, 'The text's LeNet')")
    return "see docs/results.md for the runs that learn"


EXPERIMENT = Experiment("lenet_age", __doc__, PRESETS, build_model, ("age",), add_arguments=add_arguments,
                        extra_defaults={"activation": "sigmoid"}, majority_hint=majority_hint)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return cli_main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
