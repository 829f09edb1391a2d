"""``facestack``: the application's one command, with a subcommand per job.

    facestack classify photo.jpg --json faces.json   # label faces with the shipped model
    facestack classify clip.mp4 --model runs/mt-26   # your own run, a video (PyAV extra)
    facestack evaluate                               # the shipped model on the UTKFace test split
    facestack train multitask --best --out runs/mt   # the paper's networks (gender_cnn, lenet_age, multitask)
    facestack data build --data ../shared/data/utkface
    facestack export-model runs/mt models/mt         # a run as a model folder like the shipped one

``facestack SUBCOMMAND --help`` describes each. The table and figure scripts of the paper
reproduction are here too (``results-table``, ``flip-test``, ``weighting-figure``) and so is
the detector analysis ``webfaces-misses``; each is also ``python experiments/NAME.py``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Callable

PROG = "facestack"
#: Subcommands whose whole command line belongs to another module's ``main``.
DELEGATED = {
    "classify": ("facestack.classify", "detect faces and label gender and age (images, videos, cameras)"),
    "data": ("facestack.data.__main__", "build the UTKFace / IMDB-WIKI cache and split, or download IMDB-WIKI"),
    "results-table": ("facestack.paper.results_table", "the results table from finished run folders"),
    "flip-test": ("facestack.paper.flip_test", "a run's test accuracy, plain and with mirror-image averaging"),
    "weighting-figure": ("facestack.paper.weighting_figure", "the task-weighting figure of multi-task runs"),
    "webfaces-misses": ("facestack.webfaces_misses", "where a cascade loses the WebFaces faces it misses"),
    "eval-detector": ("facestack.detector_eval_cli", "cascades' recall against false detections on WebFaces"),
}
NETWORKS = {
    "gender_cnn": "facestack.paper.gender_cnn",
    "lenet_age": "facestack.paper.lenet_age",
    "multitask": "facestack.paper.multitask",
}


def _delegate(module: str, argv: list[str]) -> int:
    entry: Callable[[list[str]], int] = importlib.import_module(module).main
    return int(entry(argv) or 0)


def _usage() -> str:
    lines = [f"usage: {PROG} SUBCOMMAND [options]   ({PROG} SUBCOMMAND --help for each)", "", "subcommands:"]
    rows = [(name, text) for name, (_, text) in DELEGATED.items()]
    rows += [("train", "train a paper network: train {" + ",".join(NETWORKS) + "} [options]"),
             ("evaluate", "score a model (default: the shipped one) on the UTKFace test split"),
             ("export-model", "write a run's weights as a model folder like the shipped one")]
    lines += [f"  {name:<17} {text}" for name, text in sorted(rows)]
    return "\n".join(lines)


def _train(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {PROG} train {{{','.join(NETWORKS)}}} [options]   ({PROG} train NETWORK --help)")
        return 0 if argv else 2
    if argv[0] not in NETWORKS:
        print(f"{PROG} train: unknown network {argv[0]!r}: expected one of {', '.join(NETWORKS)}", file=sys.stderr)
        return 2
    return _delegate(NETWORKS[argv[0]], argv[1:])


def _evaluate(argv: list[str]) -> int:
    from .evaluate import evaluate_on_utkface, format_report
    from .pipeline import load_classifier
    from .shipped import load_shipped_classifier

    p = argparse.ArgumentParser(prog=f"{PROG} evaluate", description=_evaluate_doc())
    p.add_argument("--model", help="a multitask run folder (default: the shipped model)")
    p.add_argument("--data", help="the UTKFace folder (default $FACESTACK_DATA/utkface)")
    p.add_argument("--cache-dir", help="where preprocessed caches live (default $FACESTACK_CACHE)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    from .train.cli import default_data_dir

    data = Path(args.data) if args.data else default_data_dir()
    if not data.exists():
        print(f"{PROG} evaluate: no data at {data}: pass --data, or set FACESTACK_DATA to the folder holding "
              "utkface/", file=sys.stderr)
        return 2
    try:
        classifier = load_classifier(args.model) if args.model else load_shipped_classifier()
        result = evaluate_on_utkface(classifier, str(data), args.cache_dir, args.split, progress=True)
    except (OSError, ValueError) as error:
        print(f"{PROG} evaluate: {error}", file=sys.stderr)
        return 1
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"figures: {args.json}")
    return 0


def _evaluate_doc() -> str:
    from . import evaluate

    return (evaluate.__doc__ or "").split("\n\n")[0]


def _export(argv: list[str]) -> int:
    from .shipped import export_model

    p = argparse.ArgumentParser(prog=f"{PROG} export-model",
                                description="Write a multitask run's weights and settings as a model folder "
                                            "(weights.npz, settings.json) like the shipped one.")
    p.add_argument("run", help="a finished multitask run folder")
    p.add_argument("out", help="the model folder to write")
    p.add_argument("--which", choices=("model", "best"), default="model",
                   help="the final epoch's weights (model, default) or the best validation epoch's (best)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = p.parse_args(argv)
    try:
        written = export_model(args.run, args.out, args.which, args.dtype)
    except (OSError, ValueError) as error:
        print(f"{PROG} export-model: {error}", file=sys.stderr)
        return 1
    print(f"{written['weights']}: {written['bytes']:,} bytes, SHA-256 {written['sha256']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facestack`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in DELEGATED:
        return _delegate(DELEGATED[command][0], rest)
    handlers = {"train": _train, "evaluate": _evaluate, "export-model": _export}
    if command not in handlers:
        print(f"{PROG}: unknown subcommand {command!r}\n{_usage()}", file=sys.stderr)
        return 2
    return handlers[command](rest)


if __name__ == "__main__":
    sys.exit(main())
