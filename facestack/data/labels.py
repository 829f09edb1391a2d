"""The one label convention used everywhere in minicnn, and the age bins.

Canonical labels (every reader maps its source to these):

* ``age``: whole years, int16; the exact age is always kept, bins are derived.
* ``gender``: int8, **0 = male, 1 = female** (UTKFace's own convention),
  -1 = unknown. IMDB-WIKI stores 1 = male, 0 = female, NaN = unknown and is
  mapped by :func:`gender_from_imdb_wiki`.
* ``race``: int8, UTKFace's 0..4 = White, Black, Asian, Indian, Others; -1 = unknown.
* ``identity``: int32 person id within one source, -1 = unknown.

Age bins are closed integer intervals ``[low, high]`` of whole years. The paper's
text gives [0,30], [31,45], [46,60], [60,100]; 60 is in two bins there, so the
default here is [0,30], [31,45], [46,60], [61,100]. The authors' published code
uses <30, 30..45, 46..59, >=60 (:data:`CODE_AGE_BINS`). Ages outside every bin
(e.g. over 100 with the paper's bins) get bin -1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

MALE = 0
FEMALE = 1
UNKNOWN = -1
GENDER_NAMES = {MALE: "male", FEMALE: "female"}
RACE_NAMES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}


def gender_from_imdb_wiki(values: np.ndarray) -> np.ndarray:
    """IMDB-WIKI gender (1 = male, 0 = female, NaN = unknown) -> canonical int8.

    Args:
        values: float array of any shape.
    Returns:
        int8 array of the same shape: 0 male, 1 female, -1 unknown (NaN or any other value).
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, UNKNOWN, dtype=np.int8)
    out[values == 1.0] = MALE
    out[values == 0.0] = FEMALE
    return out


@dataclass(frozen=True)
class AgeBins:
    """Closed integer age intervals ``[low_i, high_i]`` in whole years.

    Build them with :meth:`from_edges` (``numpy.digitize``-style half-open edges)
    or :meth:`from_intervals`; ``math.inf`` is allowed as the last upper edge.

    Attributes:
        edges: ``K + 1`` increasing lower edges; bin ``i`` holds ages a with
            ``edges[i] <= a < edges[i + 1]``.
        name: a short name used in file names and figure titles.
    """

    edges: tuple[float, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.edges)
        if len(edges) < 2:
            raise ValueError(f"age bins need at least 2 edges, got {len(edges)}: {edges}")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"age bin edges must increase strictly, got {edges}")
        if any(math.isnan(e) for e in edges) or math.isinf(edges[0]):
            raise ValueError(f"age bin edges must be numbers (only the last may be inf), got {edges}")
        object.__setattr__(self, "edges", edges)

    @classmethod
    def from_edges(cls, edges: Sequence[float], name: str = "custom") -> "AgeBins":
        """Half-open edges: ``[0, 31, 46, 61, 101]`` gives [0,30], [31,45], [46,60], [61,100]."""
        return cls(tuple(edges), name)

    @classmethod
    def from_intervals(cls, intervals: Sequence[tuple[int, float]], name: str = "custom") -> "AgeBins":
        """Closed integer intervals, contiguous: ``[(0, 30), (31, 45), (46, 60), (61, 100)]``."""
        lows = [int(lo) for lo, _ in intervals]
        highs = [hi for _, hi in intervals]
        for (lo, hi), next_lo in zip(intervals, lows[1:]):
            if next_lo != hi + 1:
                raise ValueError(
                    f"intervals must be contiguous: ({lo}, {hi}) is followed by a bin starting at "
                    f"{next_lo}, expected {hi + 1}"
                )
        last = highs[-1]
        return cls(tuple(lows) + (math.inf if math.isinf(last) else last + 1,), name)

    @property
    def count(self) -> int:
        """Number of bins K."""
        return len(self.edges) - 1

    def intervals(self) -> list[tuple[int, float]]:
        """The closed integer intervals ``(low, high)``; ``high`` may be ``inf``."""
        out = []
        for lo, hi in zip(self.edges, self.edges[1:]):
            out.append((int(math.ceil(lo)), hi if math.isinf(hi) else int(math.ceil(hi)) - 1))
        return out

    def labels(self) -> list[str]:
        """Readable names: ``"[0,30]"``, ..., ``"[60,inf)"``."""
        return [f"[{lo},inf)" if math.isinf(hi) else f"[{lo},{hi}]" for lo, hi in self.intervals()]

    def assign(self, ages: np.ndarray) -> np.ndarray:
        """Bin index of each age.

        Args:
            ages: ages in years, any shape (ints or floats; NaN allowed).
        Returns:
            int64 array of the same shape, 0..K-1, or -1 outside every bin.
        """
        ages = np.asarray(ages, dtype=np.float64)
        index = np.searchsorted(np.asarray(self.edges), ages, side="right") - 1
        index[(index < 0) | (index >= self.count) | np.isnan(ages)] = -1
        return index.astype(np.int64)

    def key(self) -> str:
        """A file-name-safe identity of the edges, e.g. ``"paper-0_31_46_61_101"``."""
        parts = ["inf" if math.isinf(e) else f"{e:g}" for e in self.edges]
        return f"{self.name}-" + "_".join(parts)


#: The paper's bins with 60 kept in one bin only: [0,30], [31,45], [46,60], [61,100].
PAPER_AGE_BINS = AgeBins((0, 31, 46, 61, 101), "paper")
#: The authors' code: <30, 30..45, 46..59, >=60.
CODE_AGE_BINS = AgeBins((0, 30, 46, 60, math.inf), "code")

AgeBinsArg = Union[str, AgeBins, Sequence[float]]


def age_bins(spec: AgeBinsArg = "paper") -> AgeBins:
    """``"paper"``, ``"code"``, an :class:`AgeBins`, or a sequence of half-open edges."""
    if isinstance(spec, AgeBins):
        return spec
    if isinstance(spec, str):
        named = {"paper": PAPER_AGE_BINS, "code": CODE_AGE_BINS}
        if spec not in named:
            raise ValueError(f"unknown age bins {spec!r}: expected 'paper', 'code' or a list of edges")
        return named[spec]
    return AgeBins.from_edges(spec)


def count_by_bin_and_gender(ages: np.ndarray, gender: np.ndarray, bins: AgeBinsArg = "paper") -> np.ndarray:
    """Counts per (bin, gender).

    Args:
        ages: (N,) ages in years.
        gender: (N,) canonical gender (0 male, 1 female, -1 unknown).
        bins: the age bins.
    Returns:
        int64 array (K + 1, 2): row k is bin k, the last row counts ages outside
        every bin; column 0 male, column 1 female. Unknown gender is not counted.
    """
    bins = age_bins(bins)
    ages = np.asarray(ages)
    gender = np.asarray(gender)
    if ages.shape != gender.shape:
        raise ValueError(f"ages and gender must have the same shape, got {ages.shape} and {gender.shape}")
    row = bins.assign(ages)
    row[row < 0] = bins.count
    table = np.zeros((bins.count + 1, 2), dtype=np.int64)
    known = gender >= 0
    np.add.at(table, (row[known], gender[known].astype(np.int64)), 1)
    return table


def format_counts(table: np.ndarray, bins: AgeBinsArg = "paper") -> str:
    """A text table of :func:`count_by_bin_and_gender`'s result."""
    bins = age_bins(bins)
    names = bins.labels() + ["outside"]
    lines = [f"{'age bin':<12}{'male':>8}{'female':>8}{'total':>8}"]
    for name, (m, f) in zip(names, table):
        lines.append(f"{name:<12}{m:>8,}{f:>8,}{m + f:>8,}")
    m, f = table.sum(axis=0)
    lines.append(f"{'all':<12}{m:>8,}{f:>8,}{m + f:>8,}")
    return "\n".join(lines)
