"""The paper's gender CNN (section III.B.1, Figure 7): three convs, two FC layers, 2 classes.

Presets (any option given on the command line overrides them):

``--variant paper`` (default): what the text says.
    GenderNet("paper"): conv -> ReLU -> pool -> LRN after all three convs, FC 4096->512 ReLU,
    dropout 0.5 (the text: "dropout layer" after the FC layers), FC 512->2.
    SGD, learning rate 0.01 times 0.96 every 5000 steps (staircase), L2 1e-4, momentum 0.9
    (the text names SGD only; 0.9 is the code's), batch 128 (the code's; the text gives none),
    30 epochs (the text gives no count), the authors' initialisation (truncated normal 0.1,
    biases 0.1), the text's age bins, no augmentation.
``--variant authors-code``: what the published code trained.
    GenderNet("authors-code"): conv -> ReLU -> LRN -> pool, no LRN after conv3, no dropout.
    L2 5e-4, learning rate 0.01 times 0.98 every 5000 steps, batch 128, 10 epochs, the
    cross-entropy averaged over the 2 classes as well (loss / 2), images min-max stretched,
    the code's age bins.
``--best``: our own preset, beyond the paper.
    GenderNet("paper") with dropout 0.5, PyTorch's default initialisation, augmentation
    (random crop with 8 px padding, horizontal flip, brightness +-0.1), L2 5e-4, batch 64,
    40 epochs of cosine decay from 0.01 after one epoch of warm-up.

    python experiments/gender_cnn.py                       # paper, CPU
    python experiments/gender_cnn.py --variant authors-code --device gpu
    python experiments/gender_cnn.py --best --device gpu --out runs/gender-best
    python experiments/gender_cnn.py --resume runs/gender-best --epochs 60
"""
from __future__ import annotations

import argparse
import sys

from minicnn import nn
from facestack.models import GenderNet
from facestack.train.cli import Experiment, main as cli_main
from minicnn.train.config import Task

PRESETS = {
    "paper": {"variant": "paper", "epochs": 30, "batch_size": 128, "lr": 0.01, "weight_decay": 1e-4,
              "schedule": "exponential", "decay_rate": 0.96, "decay_steps": 5000, "init": "paper", "bins": "paper"},
    "authors-code": {"variant": "authors-code", "epochs": 10, "batch_size": 128, "lr": 0.01, "weight_decay": 5e-4,
                     "schedule": "exponential", "decay_rate": 0.98, "decay_steps": 5000, "init": "paper",
                     "bins": "authors-code", "stretch": True, "loss_over_classes": True},
    "best": {"variant": "paper", "epochs": 40, "batch_size": 64, "lr": 0.01, "weight_decay": 5e-4,
             "schedule": "cosine", "warmup_epochs": 1.0, "min_lr_factor": 0.01, "init": "default",
             "bins": "paper", "augment": True, "dropout": 0.5},
}


def build_model(settings: argparse.Namespace, tasks: list[Task]) -> nn.Module:
    """GenderNet of the settings' variant, with the settings' dropout (None = the variant's)."""
    return GenderNet(variant=settings.variant, classes=tasks[0].classes, dropout=settings.dropout)


EXPERIMENT = Experiment("gender_cnn", __doc__, PRESETS, build_model, ("gender",))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return cli_main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
