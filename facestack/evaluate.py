"""Score an age/gender classifier on the UTKFace test split: per task, per class, per race group.

The test split is the one every training run here uses (``facestack.train.cli.prepare_data``
with the model's own ``split_seed``, bins and preprocessing), so the figures of a model
folder's card can be reproduced from its weights alone:

    facestack evaluate                      # the shipped model
    facestack evaluate --model runs/mt-26   # a run of your own

UTKFace's race field (0 White, 1 Black, 2 Asian, 3 Indian, 4 Others) groups the faces for
the per-group accuracies; faces whose name lacks the field (-1) are counted only overall.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from minicnn.train.report import classification_summary, confusion_matrix

from .pipeline import FaceClassifier

RACE_NAMES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}


def predict(classifier: FaceClassifier, images: np.ndarray, rows: np.ndarray,
            batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Gender and age-bin predictions of cached images.

    Args:
        classifier: the network and its preprocessing (the cache must be built with it).
        images: uint8 ``(N, 1, 128, 128)`` cache images (already grey, resized, stretched as trained).
        rows: int indices into ``images``.
    Returns:
        ``(gender (R,), age_bin (R,))`` int64 class indices.
    """
    genders, ages = [], []
    for start in range(0, len(rows), batch_size):
        x = np.asarray(images[rows[start:start + batch_size]], dtype=np.float32) * np.float32(1.0 / 255.0)
        gender_probs, age_probs = classifier.classify(x)
        genders.append(gender_probs.argmax(axis=1))
        ages.append(age_probs.argmax(axis=1))
    return np.concatenate(genders).astype(np.int64), np.concatenate(ages).astype(np.int64)


def score(classifier: FaceClassifier, labels: dict[str, np.ndarray], predictions: dict[str, np.ndarray],
          rows: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class recall and confusion per task, and accuracy per race group.

    Args:
        labels: the cache's label arrays (``gender``, ``age_bin``, ``race``), indexed by row.
        predictions: ``{"gender": (R,), "age": (R,)}`` for ``rows``.
        rows: the evaluated rows.
    """
    tasks = {"gender": ("gender", classifier.gender_names), "age": ("age_bin", tuple(classifier.age_names))}
    out: dict[str, Any] = {"faces": int(len(rows)), "tasks": {}, "race_groups": {}}
    for task, (label, names) in tasks.items():
        truth = np.asarray(labels[label])[rows].astype(np.int64)
        matrix = confusion_matrix(truth, predictions[task], len(names))
        summary = classification_summary(matrix, names)
        summary["confusion"] = matrix.tolist()
        out["tasks"][task] = summary
    race = np.asarray(labels["race"])[rows]
    for code, name in RACE_NAMES.items():
        chosen = race == code
        group: dict[str, Any] = {"faces": int(chosen.sum())}
        for task, (label, _) in tasks.items():
            truth = np.asarray(labels[label])[rows][chosen]
            group[f"{task}_accuracy"] = float((predictions[task][chosen] == truth).mean()) if chosen.any() else None
        out["race_groups"][name] = group
    return out


def prepare_run_data(classifier: FaceClassifier, data_dir: str | None, cache_dir: str | None = None,
                     progress: bool = False) -> Any:
    """The cache and split of the classifier's run (its split seed, bins, stretch): a ``RunData``."""
    from .train.cli import prepare_data

    settings = classifier.settings
    namespace = argparse.Namespace(data=data_dir, format="auto", cache_dir=cache_dir, workers=None,
                                   stretch=bool(settings.get("stretch", False)), bins=settings.get("bins", "paper"),
                                   split_seed=int(settings.get("split_seed", 0)), limit=None,
                                   no_progress=not progress)
    return prepare_data(namespace)


def evaluate_on_utkface(classifier: FaceClassifier, data_dir: str | None, cache_dir: str | None = None,
                        split: str = "test", progress: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Build (or reuse) the cache and split of the classifier's run, and score it on ``split``
    (its first ``limit`` faces, if given)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    data = prepare_run_data(classifier, data_dir, cache_dir, progress)
    rows = getattr(data, split)
    rows = rows if limit is None else rows[:limit]
    gender, age = predict(classifier, data.images, rows)
    result = score(classifier, data.labels, {"gender": gender, "age": age}, rows)
    result.update({"split": split, "data": data.source, **weights_record(classifier)})
    return result


def weights_record(classifier: FaceClassifier) -> dict[str, str]:
    """``{"weights": path, "weights_sha256": hex}``: which weights an evaluation scored, so a
    figure quoted in the docs can be checked against the weights that ship."""
    from .shipped import file_sha256

    return {"weights": str(classifier.weights), "weights_sha256": file_sha256(classifier.weights)}


def format_report(result: dict[str, Any]) -> str:
    """The evaluation as readable lines (overall, per class, per race group)."""
    lines = [f"{result['data']} {result['split']} split, {result['faces']:,} faces, weights {result['weights']}"]
    if "found" in result:  # through the detector
        size = ("the chips as they are" if result.get("face_size") is None
                else f"faces about {result['face_size']:g} px")
        lines.append(f"through the detector ({size}): found {result['found']:,}, missed {result['missed']:,}; "
                     "the figures below are over the faces found")
    for task, summary in result["tasks"].items():
        recalls = ", ".join(f"{name} {'n/a' if value is None else format(value, '.3f')}"
                            for name, value in summary["recall"].items())
        lines.append(f"{task}: accuracy {summary['accuracy']:.4f} (recall {recalls})")
    lines.append("per race group: " + "; ".join(
        f"{name} ({group['faces']:,}): gender {group['gender_accuracy']:.4f}, age {group['age_accuracy']:.4f}"
        for name, group in result["race_groups"].items() if group["faces"]))
    return "\n".join(lines)
