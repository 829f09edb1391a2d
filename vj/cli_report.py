"""``vj report``: a finished or running training's stages, from its sidecar, as a table.

    vj report frontalface.xml                 # reads frontalface.xml.train.json beside it
    vj report frontalface.xml.train.json --stages 20

``vj train`` writes ``OUT.train.json`` after every stage (``vj.train_record``); this prints
what it holds, one Markdown row per stage (weak classifiers, hit rate and false alarm on
the stage's own samples, the share of background windows the cascade accepted before the
stage, mining speed, and the stage's seconds split into mining and binning + boosting),
then the totals: the time a training's report is judged by. ``--stages N`` reports the
first N stages only, which is the record of the cascade a ``--stages N`` training gives
(the trainer is deterministic, so its first N stages are those of any longer run).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import EXIT_USAGE, int_at_least
from .train_record import SIDECAR_SUFFIX, read_sidecar, sidecar_path

HEADER = ("| stage | weak | hit rate | false alarm | background windows accepted before | negatives/s "
          "| mining s | binning + boosting s | seconds |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def stage_table(record: dict, stages: int | None = None) -> str:
    """The Markdown table and totals of a sidecar ``record`` (as ``read_sidecar`` returns it).

    Args:
        record: the sidecar's contents; its ``stages`` are StageReport dicts.
        stages: report the first ``stages`` stages only (None: all).
    Returns:
        The table, a blank line, and one line of totals (stumps, seconds in stages with their
        mining and boosting parts, and the whole training's wall time where all stages are
        reported, as the sidecar's ``training_seconds`` covers all of them).
    """
    reports = record["stages"][:stages]
    rows = [HEADER]
    for r in reports:
        rows.append(f"| {r['stage'] + 1} | {r['num_weak']} | {r['hit_rate']:.4f} | {r['false_alarm']:.4f} "
                    f"| {r['acceptance_before']:.2e} | {r['negatives_per_second']:,.0f} "
                    f"| {r['mining_seconds']:,.0f} | {r['boost_seconds']:,.0f} | {r['seconds']:,.0f} |")
    weak = sum(r["num_weak"] for r in reports)
    seconds = sum(r["seconds"] for r in reports)
    mining = sum(r["mining_seconds"] for r in reports)
    boosting = sum(r["boost_seconds"] for r in reports)
    total = (f"{len(reports)} stages, {weak:,} weak classifiers, {seconds:,.0f} s in stages "
             f"({mining:,.0f} s mining, {boosting:,.0f} s binning and boosting)")
    if len(reports) == len(record["stages"]):
        total += f"; whole training {record['training_seconds']:,.0f} s"
        if record.get("stop_reason"):
            total += f"; stop: {record['stop_reason']}"
    else:
        total += f" (the first {len(reports)} of the sidecar's {len(record['stages'])} stages)"
    return "\n".join(rows) + "\n\n" + total


def run(args: argparse.Namespace) -> int:
    """Print the table of ``args.training``: a cascade with its sidecar beside it, or a sidecar (a
    ``.json`` file, such as a copy kept under another name)."""
    given = Path(args.training)
    path = given if given.suffix == ".json" else sidecar_path(given)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training sidecar (vj train writes OUT{SIDECAR_SUFFIX} beside OUT)")
    record = read_sidecar(path)
    if args.stages is not None and args.stages > len(record["stages"]):
        print(f"vj report: error: --stages {args.stages}: {path} records only {len(record['stages'])} stages",
              file=sys.stderr)
        return EXIT_USAGE
    print(stage_table(record, args.stages))
    return 0


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``vj`` parser."""
    parser = subparsers.add_parser("report", help="a training's stages from its sidecar, as a table",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("training", metavar="CASCADE_OR_SIDECAR",
                        help=f"a cascade vj train wrote (its {SIDECAR_SUFFIX} beside it is read), or the sidecar "
                        "(any .json file)")
    parser.add_argument("--stages", type=int_at_least(1), default=None, metavar="N",
                        help="report the first N stages only")
    parser.set_defaults(func=run)
