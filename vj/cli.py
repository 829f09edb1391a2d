"""The ``vj`` command line: one argparse subcommand per module.

Each subcommand lives in its own module (``vj/cli_detect.py`` for ``vj detect``, and
``vj/cli_train.py`` for ``vj train``, ``vj/cli_report.py`` for ``vj report``), which defines
``register(subparsers)``: it adds its parser and sets ``func`` (called with the
parsed arguments, returning the exit status). A module listed in
``SUBCOMMAND_MODULES`` that is not installed is skipped.

Errors are one line on stderr naming the file or option at fault: exit status 2 for
a usage error (a bad option value, from argparse and the range checks below), 1 for a
failure, 130 after Ctrl-C or SIGTERM. ``vj --debug COMMAND ...`` (or ``--debug`` after the
subcommand) shows the traceback instead.
"""
from __future__ import annotations

import argparse
from typing import NoReturn
import importlib
import math
import signal
import sys
import threading
from typing import Callable

SUBCOMMAND_MODULES = ("vj.cli_detect", "vj.cli_train", "vj.cli_report")

#: Exit statuses: a failure, a usage error, and Ctrl-C (128 + SIGINT, as shells report it).
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``PROG: error: WHAT (see PROG --help)``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error (without argparse's usage block) and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered (all with one-line errors)."""
    parser = OneLineParser(prog="vj", description="Viola-Jones face detection with Haar cascades.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that subcommand is not part of this installation
            raise
        module.register(subparsers)
    for sub in subparsers.choices.values():  # --debug may also follow the subcommand
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vj`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    previous = _terminate_as_interrupt()
    try:
        return guarded(f"vj {args.command}", args.func, args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_interrupt():
    """Let SIGTERM end a command as Ctrl-C does (one line, exit 130, files left consistent); returns the
    handler it replaced (None off the main thread, where signals cannot be handled)."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, interrupt)


def guarded(prog: str, func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a subcommand, turning an uncaught error into one line on stderr (exit 1) and Ctrl-C into
    ``interrupted`` (exit 130); with ``args.debug`` the traceback is shown instead."""
    debug = bool(getattr(args, "debug", False))
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: one line instead of a traceback
        if debug:
            raise
        print(f"{prog}: error: {describe(exc)} (run with vj --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def describe(exc: BaseException) -> str:
    """A one-line description of an exception, naming the file of an OSError."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (OSError, ValueError)) else f"{type(exc).__name__}: {text}"


# ------------------------------------------------------------------ option types (range checks)


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_at_least(low: int, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]`` (``why`` is added to the message)."""
    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}{why}, got {value}")
        return value
    return parse


def float_in(low: float, high: float, low_open: bool = False, high_open: bool = False,
             why: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number in the interval from ``low`` to ``high`` (NaN refused)."""
    def parse(text: str) -> float:
        value = float(_number(text, float))
        if (value < low or (low_open and value == low)) or (value > high or (high_open and value == high)):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"must be in {interval}{why}, got {text}")
        return value
    return parse


if __name__ == "__main__":
    sys.exit(main())
