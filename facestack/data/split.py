"""A deterministic, seeded train/validation/test split, stratified by age bin and gender.

Each (age bin, gender) stratum is shuffled with its own generator, seeded by
``(seed, bin, gender)``, and cut by the fractions (largest-remainder rounding),
so every stratum has the same proportions in every part and the split depends
only on the labels, the bins, the fractions and the seed. Rows outside every
age bin or of unknown gender are left out of all three parts (and counted).

The split is saved next to the cache (``split-<bins>-<fractions>-seed<seed>.npz``)
so every experiment on that cache uses the same one.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .labels import AgeBinsArg, age_bins

if TYPE_CHECKING:
    from .cache import FaceCache

PART_NAMES = ("train", "val", "test")
#: The authors' 85 / 5 / 10 proportions.
DEFAULT_FRACTIONS = (0.85, 0.05, 0.10)


@dataclass
class Split:
    """Row indices of each part (sorted int64), and how they were made.

    Attributes:
        train, val, test: indices into the cache's rows.
        excluded: rows in no part (age outside every bin or gender unknown).
        seed, fractions, bins_key: the inputs that define the split.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    excluded: np.ndarray
    seed: int
    fractions: tuple[float, float, float]
    bins_key: str

    def parts(self) -> dict[str, np.ndarray]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (temporary file in the same folder, then rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".split-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    train=self.train,
                    val=self.val,
                    test=self.test,
                    excluded=self.excluded,
                    seed=np.int64(self.seed),
                    fractions=np.asarray(self.fractions, dtype=np.float64),
                    bins_key=np.asarray(self.bins_key),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Split":
        """Read a split written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["train"], z["val"], z["test"], z["excluded"], int(z["seed"]),
                tuple(float(f) for f in z["fractions"]), str(z["bins_key"]),
            )


def _allocate(count: int, fractions: np.ndarray) -> np.ndarray:
    """Split ``count`` into integer parts proportional to ``fractions`` (largest remainder)."""
    exact = count * fractions
    parts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[: count - parts.sum()]] += 1
    return parts


def stratified_split(
    age_bin: np.ndarray,
    gender: np.ndarray,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    bins_key: str = "",
) -> Split:
    """Split rows into train/val/test with the same proportions in every (bin, gender) stratum.

    Args:
        age_bin: (N,) bin index per row, -1 = outside every bin.
        gender: (N,) 0 / 1, -1 = unknown.
        fractions: (train, val, test), non-negative, summing to 1.
        seed: the seed; the same inputs always give the same split.
        bins_key: recorded in the result (which bins ``age_bin`` came from).
    Returns:
        A :class:`Split` with sorted indices.
    """
    age_bin = np.asarray(age_bin, dtype=np.int64)
    gender = np.asarray(gender, dtype=np.int64)
    if age_bin.shape != gender.shape or age_bin.ndim != 1:
        raise ValueError(f"age_bin and gender must be 1-D of equal length, got {age_bin.shape} and {gender.shape}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    parts: list[list[np.ndarray]] = [[], [], []]
    valid = (age_bin >= 0) & (gender >= 0)
    for b, g in sorted(set(zip(age_bin[valid].tolist(), gender[valid].tolist()))):
        rows = np.flatnonzero((age_bin == b) & (gender == g))
        rows = rows[np.random.default_rng([seed, b, g]).permutation(len(rows))]
        bounds = np.cumsum(_allocate(len(rows), fr))
        for k, piece in enumerate(np.split(rows, bounds[:-1])):
            parts[k].append(piece)
    train, val, test = (np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
    return Split(train, val, test, np.flatnonzero(~valid), int(seed), tuple(float(f) for f in fr), bins_key)


def split_file_name(bins_key: str, fractions: tuple[float, float, float], seed: int) -> str:
    """``split-paper-0_31_46_61_101-0.85_0.05_0.1-seed0.npz``."""
    fr = "_".join(f"{f:g}" for f in fractions)
    return f"split-{bins_key}-{fr}-seed{seed}.npz"


def split_for_cache(
    cache: FaceCache,
    bins: AgeBinsArg = "paper",
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """The saved split of ``cache`` for these bins, fractions and seed; made and saved the first time."""
    bins = age_bins(bins)
    path = Path(cache.directory) / split_file_name(bins.key(), tuple(fractions), seed)
    if path.is_file():
        split = Split.load(path)
        total = len(split.train) + len(split.val) + len(split.test) + len(split.excluded)
        if total == len(cache):
            return split
    split = stratified_split(cache.age_bin(bins), cache.gender, fractions, seed, bins.key())
    split.save(path)
    return split
