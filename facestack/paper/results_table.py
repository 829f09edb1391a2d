"""The results table of docs/results.md, printed from run folders (nothing typed by hand).

    python experiments/results_table.py runs/gender-paper runs/lenet-paper runs/multitask-best ...

For each run folder (written by gender_cnn.py, lenet_age.py or multitask.py) it reads
``settings.json`` (script, preset, weighting, the exact command), ``results.json`` (test
metrics of the final and the best-on-validation model, majority baselines) and
``log.csv`` (minutes per epoch), and prints one Markdown row per run: test gender
accuracy, test 4-bin age accuracy, macro recall of each task, epochs completed of the
epochs planned, minutes per epoch on this machine and the command. The paper's
reported numbers and the majority-class baselines are printed beside them.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from ..cli import Parser

#: What Kang, Jiang & Li report on IMDB-WIKI (shared/paper/original-code-notes.md, "Reported results"):
#: approximate test accuracies read off their figures; their training sets were far smaller than ours.
PAPER_REPORTED = {
    "gender_cnn": "gender about 85% (6,000 images)",
    "lenet_age": "age about 40% (same small set)",
    "multitask": "gender peak about 87.5%, age peak about 52% (ending at 47-48%)",
}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: is {path.parent} a finished run folder?")
    return json.loads(path.read_text())


def minutes_per_epoch(run: Path) -> float | None:
    """Median wall-clock minutes of one epoch (training plus evaluation) from ``log.csv``."""
    log = run / "log.csv"
    if not log.is_file():
        return None
    with open(log, newline="") as f:
        seconds = sorted(float(row["epoch_seconds"]) for row in csv.DictReader(f) if row.get("epoch_seconds"))
    return seconds[len(seconds) // 2] / 60 if seconds else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def run_row(run: Path, which: str) -> dict[str, str]:
    """The table cells of one run folder; ``which`` is "best" (best validation epoch) or "final"."""
    settings = _read_json(run / "settings.json")
    results = _read_json(run / "results.json")
    cells = {"run": run.name, "script": settings["script"], "preset": settings["preset"],
             "weighting": settings.get("weighting") or "-"}
    command = settings["command"].replace(str(Path.cwd().resolve()) + "/", "")  # run folders relative to here
    cells["command"] = f"`python experiments/{command}`"
    cells["paper"] = PAPER_REPORTED.get(settings["script"], "-")
    if "stopped" in results:  # a NaN/inf loss stopped the run: say where, there are no test results
        cells.update({"gender_acc": "-", "age_acc": "-", "gender_recall": "-", "age_recall": "-", "minutes": "-",
                      "epochs": f"stopped: loss not finite at step {results['step']}",
                      "epoch_used": str(results["epochs_completed"])})
        return cells
    model = results.get(which) or results["final"]
    for task in ("gender", "age"):
        metrics = model.get(task)
        cells[f"{task}_acc"] = _pct(metrics["accuracy"]) if metrics else "-"
        cells[f"{task}_recall"] = _pct(metrics["macro_recall"]) if metrics else "-"
    minutes = minutes_per_epoch(run)
    cells["epochs"] = f"{results['epochs_completed']} of {settings['epochs']}"
    cells["epoch_used"] = str(model["epoch"])
    cells["minutes"] = "-" if minutes is None else f"{minutes:.1f}"
    return cells


def baselines(runs: list[Path]) -> dict[str, float]:
    """Majority-class test accuracy of each task, from the first run that reports it."""
    found: dict[str, float] = {}
    for run in runs:
        for task, base in (_read_json(run / "results.json").get("baseline") or {}).items():
            found.setdefault(task, base["test_accuracy"])
    return found


def markdown(runs: list[Path], which: str = "best") -> str:
    """The Markdown table (and the baseline line under it) for ``runs``."""
    head = ("| run | preset | weighting | test gender acc. | test age acc. (4 bins) | gender / age macro recall "
            "| epochs (model from epoch) | min/epoch | paper reports | command |")
    lines = [head, "|" + "---|" * 10]
    for run in runs:
        c = run_row(run, which)
        lines.append(f"| {c['script']} | {c['preset']} | {c['weighting']} | {c['gender_acc']} | {c['age_acc']} "
                     f"| {c['gender_recall']} / {c['age_recall']} | {c['epochs']} ({c['epoch_used']}) "
                     f"| {c['minutes']} | {c['paper']} | {c['command']} |")
    base = baselines(runs)
    if base:
        lines.append("")
        lines.append("Majority-class baseline on the same test split: "
                     + ", ".join(f"{task} {_pct(acc)}" for task, acc in base.items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--model", choices=("best", "final"), default="best",
                        help="report the best-on-validation model (default) or the final one")
    args = parser.parse_args(argv)
    print(markdown(args.runs, args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
