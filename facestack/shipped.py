"""The age/gender model that ships inside the package, and how a run becomes one.

``facestack/model/`` holds two files: ``weights.npz`` (the multi-task network's state,
float16 to halve the download; :func:`load_shipped_classifier` widens it back to float32)
and ``settings.json`` (the part of the run's settings that rebuilds the network and its
preprocessing, plus where it came from). The weights are read with ``allow_pickle=False``
and checked against :data:`SHIPPED_WEIGHTS_SHA256` first, so a damaged or swapped file is
refused instead of labelling faces wrongly. ``docs/model_card.md`` says how the model was
trained and how well it does.

:func:`export_model` writes those two files from a finished run folder; it prints nothing
(``facestack export-model`` reports what it wrote).
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from minicnn.serialization import load_arrays, save_arrays

from .data.validate import atomic_write_text, read_json_object
from .pipeline import FaceClassifier, classifier_from_state, widen_float16

#: SHA-256 of ``facestack/model/weights.npz`` as shipped; written by ``facestack export-model``.
SHIPPED_WEIGHTS_SHA256 = "077cd92e3808eb974d492db82e55a7bb612bd317a7344427c514913a2916920b"
#: settings.json keys a classifier needs (architecture, bins, preprocessing) and the record of origin.
KEPT_SETTINGS = ("script", "variant", "width", "dropout", "bins", "stretch", "preset", "weighting", "epochs",
                 "photo_augment", "augment", "seed", "split_seed", "command")
MODEL_FILES = ("weights.npz", "settings.json")


class ModelIntegrityError(ValueError):
    """The shipped weights' checksum is not the one written in the code."""


def shipped_model_dir() -> Path:
    """The folder of the shipped model inside the installed package."""
    return Path(str(resources.files("facestack") / "model"))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_shipped_classifier(model_dir: str | os.PathLike | None = None,
                            expected_sha256: str | None = SHIPPED_WEIGHTS_SHA256) -> FaceClassifier:
    """The shipped multi-task network, ready to classify faces.

    Args:
        model_dir: a folder with ``weights.npz`` and ``settings.json`` (default: the package's own).
        expected_sha256: the weights' checksum to insist on (None: do not check, for a folder
            you exported yourself).
    Raises:
        FileNotFoundError: a file is missing. ModelIntegrityError: the checksum differs.
        ValueError: the files do not describe a multi-task network.
    """
    folder = Path(model_dir) if model_dir is not None else shipped_model_dir()
    weights, settings_path = (folder / name for name in MODEL_FILES)
    for path in (weights, settings_path):
        if not path.is_file():
            raise FileNotFoundError(f"the model folder {folder} has no {path.name}")
    if expected_sha256 is not None:
        actual = file_sha256(weights)
        if actual != expected_sha256:
            raise ModelIntegrityError(f"{weights}: SHA-256 {actual} is not the shipped model's "
                                      f"{expected_sha256}; reinstall facestack")
    settings = read_json_object(settings_path)
    return classifier_from_state(widen_float16(load_arrays(weights)), settings, weights)


def export_model(run_dir: str | os.PathLike, out_dir: str | os.PathLike, which: str = "model",
                 dtype: str = "float16") -> dict[str, Any]:
    """Write a run's weights and settings as a model folder like the shipped one.

    Args:
        run_dir: a finished ``multitask`` run (``settings.json`` and ``model.npz``/``best.npz``).
        out_dir: the folder to write ``weights.npz`` and ``settings.json`` into (created).
        which: ``"model"`` (the final epoch's weights) or ``"best"`` (best validation epoch).
        dtype: ``"float16"`` or ``"float32"`` storage of the floating-point arrays.
    Returns:
        ``{"weights": path, "sha256": hex, "bytes": size}`` of the written weights.
    """
    if which not in ("model", "best"):
        raise ValueError(f"which must be 'model' or 'best', got {which!r}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    run, out = Path(run_dir), Path(out_dir)
    if not (run / "settings.json").is_file():
        raise FileNotFoundError(f"{run} is not a run folder: it has no settings.json")
    settings = read_json_object(run / "settings.json")
    if settings.get("script") != "multitask":
        raise ValueError(f"{run} holds a {settings.get('script')!r} run; the shipped model is a multitask network")
    state = load_arrays(run / f"{which}.npz")
    classifier_from_state(state, settings, run / f"{which}.npz")  # refuse weights that do not fit, before writing
    stored = {name: value.astype(dtype) if np.issubdtype(value.dtype, np.floating) else value
              for name, value in state.items()}
    out.mkdir(parents=True, exist_ok=True)
    weights = save_arrays(stored, out / "weights.npz")
    kept = {key: settings[key] for key in KEPT_SETTINGS if key in settings}
    kept.update({"source_run": run.name, "source_weights": f"{which}.npz", "storage_dtype": dtype})
    atomic_write_text(json.dumps(kept, indent=1) + "\n", out / "settings.json")
    return {"weights": str(weights), "sha256": file_sha256(weights), "bytes": weights.stat().st_size}
