"""Test accuracy of a finished run's models, plain and with mirror-image averaging.

    python experiments/flip_test.py runs/multitask-best-30

For the final model (``model.npz``) and the best-on-validation model (``best.npz``) of
a run folder written by gender_cnn.py, lenet_age.py or multitask.py, it scores every
test face of the run's own split twice: as trained (the argmax of the network's
output, the figure ``results.json`` holds) and with test-time flipping (the softmax
probabilities of the face and of its left-right mirror image averaged, then the
argmax). The mirror image is a face the network has learnt to read: ``--best`` runs
train with random flips. Nothing is retrained; the data split, model and bins come
from the run's ``settings.json``. Prints one line per model and task and writes
``flip_test.json`` into the run folder.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from minicnn import Tensor, backend, no_grad
from minicnn.functions import softmax
from minicnn.serialization import load_arrays
from facestack.train.cli import build_tasks, make_loaders, prepare_data
from ..cli import Parser

MODEL_FILES = {"final": "model.npz", "best": "best.npz"}


def predict_probabilities(model: Any, loader: Any, tasks: list[Any], flip: bool) -> list[np.ndarray]:
    """Per task, ``(N, classes)`` softmax probabilities over ``loader`` (eval mode, no graph);
    with ``flip`` the mean of the image's and its mirror image's probabilities."""
    model.eval()
    per_task: list[list[np.ndarray]] = [[] for _ in tasks]
    with no_grad():
        for batch in loader:
            views = [batch.x]
            if flip:
                xp = backend.get_array_module(batch.x)
                views.append(xp.ascontiguousarray(batch.x[..., ::-1]))
            summed: list[np.ndarray] | None = None
            for x in views:
                outputs = model(Tensor(x))
                outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
                probs = [backend.to_numpy(softmax(o.data)) for o in outputs]
                summed = probs if summed is None else [s + p for s, p in zip(summed, probs)]
            for i, p in enumerate(summed or []):
                per_task[i].append(p / len(views))
    return [np.concatenate(parts) for parts in per_task]


def evaluate_run(run: Path) -> dict[str, Any]:
    """``{model: {task: {"plain": acc, "flip": acc}}}`` for the run's final and best models on its test split."""
    settings_file = run / "settings.json"
    if not settings_file.is_file():
        raise SystemExit(f"{settings_file} is missing: is {run} a run folder?")
    settings = argparse.Namespace(**json.loads(settings_file.read_text()))
    experiment = importlib.import_module(f"facestack.paper.{settings.script}").EXPERIMENT
    settings.no_progress = True
    data = prepare_data(settings)
    tasks = build_tasks(experiment, settings, data)
    model = experiment.build_model(settings, tasks)
    test = make_loaders(data, settings)[2]
    truth = [np.asarray(data.labels[t.label])[np.asarray(data.test)] for t in tasks]
    out: dict[str, Any] = {"run": str(run), "test_faces": int(len(data.test))}
    for which, name in MODEL_FILES.items():
        if not (run / name).is_file():
            continue
        model.load_state_dict(load_arrays(run / name))
        out[which] = {}
        plain = predict_probabilities(model, test, tasks, flip=False)
        flipped = predict_probabilities(model, test, tasks, flip=True)
        for task, y, p, f in zip(tasks, truth, plain, flipped):
            out[which][task.name] = {"plain": float((p.argmax(axis=1) == y).mean()),
                                     "flip": float((f.argmax(axis=1) == y).mean())}
    if len(out) == 2:
        raise SystemExit(f"{run} holds neither model.npz nor best.npz: has the run finished?")
    return out


def main(argv: list[str] | None = None) -> int:
    """Score each run folder given on the command line; returns the exit status."""
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    args = parser.parse_args(argv)
    for run in args.runs:
        result = evaluate_run(run)
        for which in MODEL_FILES:
            for task, acc in result.get(which, {}).items():
                print(f"{run} {which} model, {task}: test accuracy {acc['plain']:.4f}, with flip {acc['flip']:.4f} "
                      f"({result['test_faces']} faces)")
        (run / "flip_test.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
