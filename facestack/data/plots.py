"""The age distribution per gender in the age bins (the paper's Figure 11, for the data at hand)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .labels import AgeBinsArg, age_bins, count_by_bin_and_gender
from .validate import atomic_write


def plot_age_distribution(
    ages: np.ndarray,
    gender: np.ndarray,
    bins: AgeBinsArg = "paper",
    title: str = "Age distribution per gender",
    path: str | os.PathLike | None = None,
):
    """Grouped bars: images per age bin, male and female side by side, counts written on the bars.

    Args:
        ages: (N,) ages in years.
        gender: (N,) 0 male, 1 female (-1 unknown is not counted).
        bins: the age bins (default the paper's four).
        title: the figure title; the number of images outside every bin is added below it.
        path: where to save the figure (PNG, PDF, SVG by extension); None = do not save.
    Returns:
        The matplotlib Figure (not attached to pyplot; saving renders with Agg).
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global changed

    bins = age_bins(bins)
    table = count_by_bin_and_gender(ages, gender, bins)
    inside, outside = table[:-1], table[-1]
    figure = Figure(figsize=(7, 4.2), dpi=120)
    axes = figure.subplots()
    positions = np.arange(bins.count)
    width = 0.38
    for column, (label, color, shift) in enumerate((("male", "#3b6ea8", -width / 2), ("female", "#c8553d", width / 2))):
        bars = axes.bar(positions + shift, inside[:, column], width, label=label, color=color)
        axes.bar_label(bars, labels=[f"{v:,}" for v in inside[:, column]], fontsize=8, padding=2)
    axes.set_xticks(positions, bins.labels())
    axes.set_xlabel("age bin (years)")
    axes.set_ylabel("images")
    subtitle = f"{int(table[:, :].sum()):,} images"
    if outside.sum():
        subtitle += f"; {int(outside.sum()):,} outside the bins not shown"
    axes.set_title(f"{title}\n{subtitle}", fontsize=10)
    axes.legend(frameon=False)
    axes.margins(y=0.12)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: figure.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    return figure
