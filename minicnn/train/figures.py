"""The figures of a run: learning curves (the paper's Figures 7-9), task weights, confusion matrices.

Each function draws on a fresh matplotlib ``Figure`` (no pyplot: no GUI backend,
no global state), saves it when given a path, and returns it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

SPLIT_STYLES = {"train": ("#3b6ea8", "-"), "val": ("#e0a030", "--"), "test": ("#c8553d", "-")}


def _save(figure: Any, path: str | os.PathLike | None) -> Any:
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return figure


def _symlog_if_wide(axes: Any, values: Sequence[float], limit: float = 20.0) -> None:
    """Switch the y axis to symmetric-log when the values reach beyond +-``limit`` (a diverging run)."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if finite.size and np.abs(finite).max() > limit:
        axes.set_yscale("symlog", linthresh=0.1)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the rows that have ``key``."""
    rows = [r for r in history if r.get(key) is not None]
    return np.asarray([r["epoch"] for r in rows], float), np.asarray([r[key] for r in rows], float)


def plot_learning_curves(
    history: Sequence[Mapping[str, Any]],
    task: str,
    title: str,
    path: str | os.PathLike | None = None,
    best_epoch: int | None = None,
    baseline_accuracy: float | None = None,
) -> Any:
    """Loss and accuracy of one task per epoch, for train / validation / test (two panels).

    Args:
        history: one dict per epoch with ``epoch`` and ``{split}_{task}_loss`` / ``_acc`` keys.
        task: the task's name.
        best_epoch: draws a dotted vertical line at the epoch kept as best.
        baseline_accuracy: draws the majority-class test accuracy as a grey horizontal line.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), dpi=110)
    loss_axes, acc_axes = figure.subplots(1, 2)
    losses: list[float] = []
    for split, (color, style) in SPLIT_STYLES.items():
        for axes, metric in ((loss_axes, "loss"), (acc_axes, "acc")):
            x, y = _series(history, f"{split}_{task}_{metric}")
            if len(x):
                axes.plot(x, y, style, color=color, label=split, marker="." if len(x) < 40 else None)
            if metric == "loss":
                losses += list(y)
    _symlog_if_wide(loss_axes, losses, limit=100.0)
    if baseline_accuracy is not None:
        acc_axes.axhline(baseline_accuracy, color="#888888", lw=1, ls=":", label="majority class (test)")
    for axes, ylabel in ((loss_axes, "cross-entropy"), (acc_axes, "accuracy")):
        if best_epoch is not None:
            axes.axvline(best_epoch, color="#555555", lw=0.8, ls=":")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
    acc_axes.legend(frameon=False, fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_weighting(
    step_log: Sequence[Mapping[str, Any]], keys: Sequence[str], title: str, path: str | os.PathLike | None = None
) -> Any:
    """The task weighting's values (p and q, or sigma^2) against the training step.

    Args:
        step_log: rows with ``step`` and each of ``keys``.
        keys: the value names, e.g. ``["w_gender", "w_age"]`` or ``["sigma2_gender", "sigma2_age"]``.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4), dpi=110)
    axes = figure.subplots()
    plotted: list[float] = []
    for key in keys:
        rows = [r for r in step_log if r.get(key) is not None]
        axes.plot([r["step"] for r in rows], [r[key] for r in rows], label=key)
        plotted += [r[key] for r in rows]
    _symlog_if_wide(axes, plotted)
    axes.axhline(0.0, color="#888888", lw=0.8)
    axes.set_xlabel("training step")
    axes.set_ylabel("value")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], title: str, path: str | os.PathLike | None = None) -> Any:
    """A confusion matrix: colour = share of the true class (row), text = count and share."""
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    k = len(class_names)
    figure = Figure(figsize=(1.3 * k + 2.2, 1.1 * k + 1.6), dpi=110)
    axes = figure.subplots()
    image = axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            axes.text(j, i, f"{matrix[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                      color="white" if share[i, j] > 0.6 else "black")
    axes.set_xticks(range(k), class_names, rotation=30 if k > 2 else 0)
    axes.set_yticks(range(k), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of true class")
    return _save(figure, path)


def plot_step_losses(step_log: Sequence[Mapping[str, Any]], keys: Sequence[str], title: str,
                     path: str | os.PathLike | None = None) -> Any:
    """Batch losses against the training step (the objective and each task's cross-entropy)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4), dpi=110)
    axes = figure.subplots()
    plotted: list[float] = []
    for key in keys:
        rows = [r for r in step_log if r.get(key) is not None]
        axes.plot([r["step"] for r in rows], [r[key] for r in rows], label=key, lw=1)
        plotted += [r[key] for r in rows]
    _symlog_if_wide(axes, plotted, limit=100.0)
    axes.set_xlabel("training step")
    axes.set_ylabel("batch loss")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)
