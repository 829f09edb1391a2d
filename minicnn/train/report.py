"""Metrics and records of a run: confusion matrices, recall, baselines, the CSV log, JSON files.

All functions take NumPy integer label arrays; nothing here knows about models.
The figures are drawn by :mod:`minicnn.train.figures`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """Counts of (true class, predicted class).

    Args:
        y_true, y_pred: (N,) integer labels in ``0..classes-1``.
    Returns:
        int64 (classes, classes): row = true class, column = predicted class.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"{name} must lie in [0, {classes - 1}], got values from {y.min()} to {y.max()}")
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_summary(matrix: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class recall and macro recall of a confusion matrix.

    Macro recall is the mean recall over the classes that occur (support > 0); it is
    what a classifier scores that treats every class as equally important, and is
    1 / K for any constant prediction.

    Returns:
        ``{"accuracy", "macro_recall", "recall": {class: value or None}, "support": {class: n},
        "confusion": [[...]], "class_names": [...]}`` (JSON-ready).
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    support = matrix.sum(axis=1)
    total = int(support.sum())
    recall = {
        name: (float(matrix[k, k] / support[k]) if support[k] else None) for k, name in enumerate(class_names)
    }
    present = [v for v in recall.values() if v is not None]
    return {
        "accuracy": float(np.trace(matrix) / total) if total else None,
        "macro_recall": float(np.mean(present)) if present else None,
        "recall": recall,
        "support": {name: int(n) for name, n in zip(class_names, support)},
        "confusion": matrix.tolist(),
        "class_names": list(class_names),
    }


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """The accuracy of always predicting the most frequent training class, measured on the test labels.

    Returns:
        ``{"class": name, "class_index": k, "train_share": float, "test_accuracy": float,
        "test_macro_recall": float}`` (the macro recall of a constant prediction is 1 / K
        over the classes present in the test labels).
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    test_labels = np.asarray(test_labels, dtype=np.int64)
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise ValueError("majority_baseline: empty label array")
    counts = np.bincount(train_labels, minlength=len(class_names))
    k = int(np.argmax(counts))
    predicted = np.full(len(test_labels), k)
    summary = classification_summary(confusion_matrix(test_labels, predicted, len(class_names)), class_names)
    return {
        "class": str(class_names[k]),
        "class_index": k,
        "train_share": float(counts[k] / counts.sum()),
        "test_accuracy": summary["accuracy"],
        "test_macro_recall": summary["macro_recall"],
    }


def balanced_class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Weights n / (K * n_k) that give every class the same total weight (scikit-learn's "balanced").

    Classes absent from ``labels`` get weight 0. Returns float64 (classes,).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes).astype(np.float64)
    weights = np.zeros(classes)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def history_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order each first appears."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write ``rows`` (one dict per line, e.g. one per epoch) as CSV, atomically (temp file + rename)."""
    path = Path(path)
    buffer = io.StringIO()
    columns = history_columns(rows)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return write_text(buffer.getvalue(), path)


def read_csv(path: str | os.PathLike) -> list[dict[str, float | str]]:
    """Read a CSV written by :func:`write_csv`; numeric cells become floats, empty cells are left out."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, float | str] = {}
            for key, text in raw.items():
                if text == "":
                    continue
                try:
                    row[key] = float(text)
                except ValueError:
                    row[key] = text
            rows.append(row)
    return rows


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(value: Any, path: str | os.PathLike) -> Path:
    """Write ``value`` as indented JSON, atomically."""
    return write_text(json.dumps(value, indent=1, sort_keys=False, allow_nan=True) + "\n", path)
