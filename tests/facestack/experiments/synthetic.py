"""Tiny synthetic face-like data and networks for testing the Trainer in seconds.

Images are 16x16 uint8. Task "quadrant" (4 classes): which quadrant holds a bright
8x8 square. Task "bar" (2 classes): whether a bright vertical bar sits in the middle
columns, independent of the square. Both are learnable by a small conv net in a few epochs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from minicnn import nn
from facestack.data import Augment, BatchLoader
from minicnn.train import Task, Trainer, TrainConfig

QUADRANT = Task("quadrant", "quadrant", ("top-left", "top-right", "bottom-left", "bottom-right"))
BAR = Task("bar", "bar", ("no bar", "bar"))


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(n, 1, 16, 16) uint8 images and their labels ``{"quadrant": (n,), "bar": (n,)}``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 70, size=(n, 1, 16, 16)).astype(np.int32)
    quadrant = rng.integers(0, 4, n)
    bar = rng.integers(0, 2, n)
    for i in range(n):
        top, left = 8 * (quadrant[i] // 2), 8 * (quadrant[i] % 2)
        images[i, 0, top:top + 8, left:left + 8] += 110
        if bar[i]:
            images[i, 0, :, 7:9] += 70
    return np.clip(images, 0, 255).astype(np.uint8), {"quadrant": quadrant, "bar": bar}


def loaders(n_train: int = 128, n_eval: int = 64, batch_size: int = 32, seed: int = 0,
            augment: Augment | None = None) -> tuple[BatchLoader, BatchLoader, BatchLoader]:
    """Train / validation / test loaders over one synthetic array (train shuffles and augments)."""
    images, labels = synthetic_images(n_train + 2 * n_eval)
    rows = np.arange(len(images))
    train = BatchLoader(images, labels, rows[:n_train], batch_size=batch_size, seed=seed, augment=augment)
    val = BatchLoader(images, labels, rows[n_train:n_train + n_eval], batch_size=batch_size, shuffle=False)
    test = BatchLoader(images, labels, rows[n_train + n_eval:], batch_size=batch_size, shuffle=False)
    return train, val, test


class TwoHeadNet(nn.Module):
    """conv 3x3 1->4, ReLU, max-pool 2 -> 256 features -> per task: FC 16, ReLU, dropout, FC K."""

    def __init__(self, dropout: float = 0.25, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        self.bar_head = nn.Sequential(nn.Linear(256, 16, rng=rng), nn.ReLU(), *drop, nn.Linear(16, 2, rng=rng))
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        self.quadrant_head = nn.Sequential(nn.Linear(256, 16, rng=rng), nn.ReLU(), *drop, nn.Linear(16, 4, rng=rng))

    def forward(self, x: Any) -> tuple[Any, Any]:
        h = self.features(x)
        return self.bar_head(h), self.quadrant_head(h)


def one_head_net(seed: int = 0) -> nn.Sequential:
    """A single-task net for the quadrant task."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(256, 4, rng=rng))


def make_trainer(out: Path, model: nn.Module, tasks=(BAR, QUADRANT), weighting=None, **config: Any) -> Trainer:
    """A Trainer with quiet progress and the given config overrides (lr 0.05, 3 epochs by default).

    No figures unless ``figures=True`` is passed (each takes ~0.5 s on a busy 2-core machine).
    """
    settings = {"epochs": 3, "lr": 0.05, "weight_decay": 1e-4, "log_every": 1, "figures": False}
    settings.update(config)
    return Trainer(model, list(tasks), TrainConfig(**settings), out, weighting=weighting, title="synthetic",
                   progress=False)
