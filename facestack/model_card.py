"""The tables of docs/model_card.md, written from ``facestack evaluate --json`` figures.

    python -m facestack.model_card docs/results/model_card.json    # prints the Markdown tables

The card quotes these tables verbatim and a test checks that it does, so the card's
figures are always the ones the code produced from the shipped weights.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cli import Parser


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def task_table(result: dict[str, Any]) -> str:
    """Accuracy and per-class recall (with support) per task, as a Markdown table."""
    lines = ["| task | accuracy | recall per class (faces) |", "|---|---|---|"]
    for task, summary in result["tasks"].items():
        recalls = ", ".join(f"{name} {_percent(summary['recall'][name])} ({summary['support'][name]:,})"
                            for name in summary["class_names"])
        lines.append(f"| {task} | {_percent(summary['accuracy'])} | {recalls} |")
    return "\n".join(lines)


def race_table(result: dict[str, Any]) -> str:
    """Gender and age accuracy per UTKFace race group, and the gap to the overall gender accuracy."""
    overall = result["tasks"]["gender"]["accuracy"]
    lines = ["| race group | faces | gender | gender - overall | age |", "|---|---|---|---|---|"]
    for name, group in result["race_groups"].items():
        if not group["faces"]:
            continue
        gap = 100 * (group["gender_accuracy"] - overall)
        lines.append(f"| {name} | {group['faces']:,} | {_percent(group['gender_accuracy'])} | {gap:+.1f} points | "
                     f"{_percent(group['age_accuracy'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print both tables for a JSON file written by ``facestack evaluate --json``."""
    parser = Parser(prog="python -m facestack.model_card", description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", help="JSON written by facestack evaluate --json")
    args = parser.parse_args(argv)
    try:
        with open(args.figures) as handle:
            result = json.load(handle)
        print(task_table(result) + "\n\n" + race_table(result))
    except (OSError, ValueError, KeyError) as error:
        print(f"python -m facestack.model_card: {args.figures}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
