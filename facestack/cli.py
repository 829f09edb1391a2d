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

Errors (docs/troubleshooting.md lists them): a command that fails prints one line,
``PROG: error: WHAT``, naming the file or option and what was expected, and exits with
status 2 for a wrong option or argument, 1 for any other failure and 130 when
interrupted (Ctrl-C); ``--debug`` anywhere on the command line shows the traceback
instead. :func:`run_command` gives the facestack commands this behaviour.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn

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
    "train-cascade": ("facestack.cascade_cli", "vj's cascade trainer with UTKFace / WebFaces faces as positives"),
}
NETWORKS = {
    "gender_cnn": "facestack.paper.gender_cnn",
    "lenet_age": "facestack.paper.lenet_age",
    "multitask": "facestack.paper.multitask",
}


EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEBUG_FLAG = "--debug"
DEBUG_HELP = "on an error, show the traceback instead of one line"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``PROG: error: WHAT (see PROG --help)``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error (without argparse's usage block) and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def describe_error(error: BaseException) -> str:
    """One line for an exception: its message, with the file of an OSError and the type of an unexpected one."""
    if isinstance(error, MemoryError):
        return "out of memory" + (f": {error}" if str(error) else "")
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, KeyError):
        text = f"missing key {error.args[0]!r}" if error.args else "missing key"
    else:
        text = str(error) or type(error).__name__
    if not isinstance(error, (OSError, ValueError, KeyError, RuntimeError)):
        text = f"{type(error).__name__}: {text}"
    return " ".join(text.split())


def _stop_on_signal(signum: int, frame: Any) -> None:
    """SIGTERM's handler inside :func:`interruptible`: stop like Ctrl-C (a KeyboardInterrupt)."""
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside the block, Ctrl-C (SIGINT) and SIGTERM raise KeyboardInterrupt in the main thread.

    Why: Python leaves SIGINT ignored when the process that started it ignored it, as a
    shell does for a command run in the background (``python experiments/x.py ... &`` in a
    script, or a launcher that detaches it); Ctrl-C or ``kill -INT`` then did nothing at all,
    and a training ran on to its end. Installing Python's handler explicitly makes Ctrl-C
    stop the command wherever it was started; SIGTERM takes the same path, so the command
    still prints its one line and leaves consistent files. The previous handlers come back
    afterwards; outside the main thread (where handlers cannot be set) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def run_command(prog: str, body: Callable[[list[str]], int | None], argv: list[str] | None = None) -> int:
    """Run a command's ``body(argv)`` with facestack's error contract; returns the exit status.

    ``--debug`` is taken out of ``argv`` (anywhere) and lets every exception through with
    its traceback. Without it: a :class:`UsageError` prints ``PROG: error: ...`` and gives
    2, any other exception prints one line (:func:`describe_error`) and gives 1, Ctrl-C
    prints ``PROG: interrupted`` and gives 130 (:func:`interruptible` makes sure Ctrl-C and
    SIGTERM arrive); argparse's own exits pass through.
    """
    from .data.validate import UsageError  # here: ``facestack --help`` stays free of NumPy and Pillow

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        with interruptible():
            return int(body(argv) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as error:
        if debug:
            raise
        print(f"{prog}: error: {describe_error(error)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # the contract: one line, never a traceback without --debug
        if debug:
            raise
        print(f"{prog}: error: {describe_error(error)}", file=sys.stderr)
        return EXIT_FAILURE


#: Delegated commands whose ``main`` already follows the error contract (run_command inside).
CONTRACT_INSIDE = ("classify", "data")


def _delegate(command: str, argv: list[str]) -> int:
    entry: Callable[[list[str]], int] = importlib.import_module(DELEGATED[command][0]).main
    if command in CONTRACT_INSIDE:
        return int(entry(argv) or 0)
    return run_command(f"{PROG} {command}", entry, argv)


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
        print(f"{PROG} train: error: unknown network {argv[0]!r}: expected one of {', '.join(NETWORKS)}",
              file=sys.stderr)
        return EXIT_USAGE
    entry: Callable[[list[str]], int] = importlib.import_module(NETWORKS[argv[0]]).main
    return int(entry(argv[1:]) or 0)


def _evaluate(argv: list[str]) -> int:
    from .data.validate import UsageError, atomic_write_text
    from .evaluate import evaluate_on_utkface, format_report
    from .pipeline import load_classifier
    from .shipped import load_shipped_classifier

    p = Parser(prog=f"{PROG} evaluate", description=_evaluate_doc())
    p.add_argument("--model", help="a multitask run folder, or one written by export-model "
                                   "(default: the shipped model)")
    p.add_argument("--data", help="the UTKFace folder (default $FACESTACK_DATA/utkface)")
    p.add_argument("--cache-dir", help="where preprocessed caches live (default $FACESTACK_CACHE)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--through-detector", action="store_true",
                   help="find each chip's face with the shipped cascade and classify the re-framed box, "
                        "as a photo's faces are (facestack.evaluate_framed)")
    p.add_argument("--face-size", type=float, metavar="PX",
                   help="--through-detector: shrink each chip so its face is about PX pixels wide (at least 20)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the split's first N faces (quick checks)")
    p.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    args = p.parse_args(argv)
    from .data.validate import check_number
    from .evaluate_framed import MIN_FACE_SIZE, evaluate_through_detector
    from .train.cli import default_data_dir

    check_number(args.face_size, "--face-size", minimum=MIN_FACE_SIZE, maximum=100_000, optional=True)
    check_number(args.limit, "--limit", integer=True, minimum=1, optional=True)
    if args.face_size is not None and not args.through_detector:
        raise UsageError("--face-size needs --through-detector (the cached chips have one size)")
    if args.json:
        check_new_file(Path(args.json), args.overwrite, "--json")
    classifier = load_classifier(args.model) if args.model else load_shipped_classifier()  # the model first: cheap
    data = Path(args.data) if args.data else default_data_dir()
    if not data.exists():
        raise UsageError(f"no data at {data}: pass --data, or set FACESTACK_DATA to the folder holding utkface/")
    if args.through_detector:
        result = evaluate_through_detector(classifier, str(data), args.split, args.cache_dir,
                                           face_size=args.face_size, limit=args.limit)
    else:
        result = evaluate_on_utkface(classifier, str(data), args.cache_dir, args.split, progress=True,
                                     limit=args.limit)
    print(format_report(result))
    if args.json:
        import json

        atomic_write_text(json.dumps(result, indent=1) + "\n", args.json)
        print(f"figures: {args.json}")
    return 0


def check_new_file(path: Path, overwrite: bool, option: str) -> Path:
    """Refuse (UsageError) an output file that exists unless ``overwrite``; prove its folder writable."""
    from .data.validate import UsageError, check_writable_folder

    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; name a file")
    if path.exists() and not overwrite:
        raise UsageError(f"{option} {path} exists: pass --overwrite to replace it, or name another file")
    check_writable_folder(path.parent if str(path.parent) else Path("."), f"the folder of {option}")
    return path


def _evaluate_doc() -> str:
    from . import evaluate

    return (evaluate.__doc__ or "").split("\n\n")[0]


def _export(argv: list[str]) -> int:
    from .data.validate import UsageError, check_writable_folder
    from .shipped import export_model

    p = Parser(prog=f"{PROG} export-model",
                                description="Write a multitask run's weights and settings as a model folder "
                                            "(weights.npz, settings.json) like the shipped one.")
    p.add_argument("run", help="a finished multitask run folder")
    p.add_argument("out", help="the model folder to write")
    p.add_argument("--which", choices=("model", "best"), default="model",
                   help="the final epoch's weights (model, default) or the best validation epoch's (best)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    p.add_argument("--overwrite", action="store_true", help="replace the model files already in OUT")
    p.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    args = p.parse_args(argv)
    out = Path(args.out)
    existing = [name for name in ("weights.npz", "settings.json") if (out / name).exists()]
    if existing and not args.overwrite:
        raise UsageError(f"{out} already holds {', '.join(existing)}: pass --overwrite to replace them, "
                         "or another folder")
    check_writable_folder(out, "the model folder")
    written = export_model(args.run, args.out, args.which, args.dtype)
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
        return _delegate(command, rest)
    handlers = {"train": _train, "evaluate": _evaluate, "export-model": _export}
    if command not in handlers:
        print(f"{PROG}: error: unknown subcommand {command!r} (see {PROG} --help)", file=sys.stderr)
        return EXIT_USAGE
    if command == "train":  # the training command has its own error handling (facestack.train.cli.main)
        return _train(rest)
    return run_command(f"{PROG} {command}", handlers[command], rest)


if __name__ == "__main__":
    sys.exit(main())
