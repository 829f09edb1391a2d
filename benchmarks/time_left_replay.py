"""Replay the trainer's time-left estimate on a finished training's sidecar.

For every stage of ``OUT.train.json`` it prints what ``vj.cascade_train.estimate_seconds_left``
says after that stage, beside the time the later stages of the sidecar really took. The
training's own settings are used, with its stage count cut to the stages the sidecar holds
(a training stopped by hand then ends where it really ended), so the two columns describe
the same stages.

    python benchmarks/time_left_replay.py docs/results/runs/cascade-shipped-recipe-21/train.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vj.cascade_train import CascadeTrainingConfig, estimate_seconds_left  # noqa: E402
from vj.train_record import SidecarError, StageReport, read_sidecar  # noqa: E402


def _minutes(seconds: float | None) -> str:
    return "not known yet" if seconds is None else f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sidecar", type=Path, help="a training's OUT.train.json")
    args = p.parse_args(argv)
    try:
        record = read_sidecar(args.sidecar)  # the trainer's own checks of every stage record
        reports = [StageReport(**stage) for stage in record["stages"]]
        fields = {f.name for f in dataclasses.fields(CascadeTrainingConfig)}
        config = CascadeTrainingConfig(**{k: v for k, v in record["config"].items() if k in fields})
    except (SidecarError, KeyError, TypeError) as error:
        reason = str(error).split("; delete it")[0]  # the trainer's resume hint does not apply here
        print(f"time_left_replay: {reason}", file=sys.stderr)
        return 2
    config = dataclasses.replace(config, num_stages=len(reports))
    print(f"{args.sidecar}: {len(reports)} stages, {sum(r.seconds for r in reports):.0f} s in stages")
    print("after stage | estimate of the time left | actual time of the later stages")
    for k, report in enumerate(reports[:-1]):
        actual = sum(r.seconds for r in reports[k + 1:])
        print(f"{report.stage + 1:>11} | {_minutes(estimate_seconds_left(reports[:k + 1], config)):>25} | "
              f"{_minutes(actual)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
