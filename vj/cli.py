"""The ``vj`` command line: one argparse subcommand per module.

Each subcommand lives in its own module (``vj/cli_detect.py`` for ``vj detect``, and
``vj/cli_train.py`` for ``vj train``), which defines
``register(subparsers)``: it adds its parser and sets ``func`` (called with the
parsed arguments, returning the exit status). A module listed in
``SUBCOMMAND_MODULES`` that is not installed is skipped.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = ("vj.cli_detect", "vj.cli_train")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="vj", description="Viola-Jones face detection with Haar cascades.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that subcommand is not part of this installation
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vj`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
