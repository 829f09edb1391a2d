"""How the multi-task weightings behave in real runs: the paper's p and q against learned variances.

    python experiments/weighting_figure.py --paper runs/multitask-paper --uncertainty runs/multitask-best \\
        --out docs/results/multitask_weighting.png

Reads the ``steps.csv`` of two multitask.py runs (every step for the first 50, then every
10th) and draws, against the training step: the paper's literal eq. 5 weights p (age) and
q (gender), trained by the same SGD as the network; the objective they give; and, for the
uncertainty weighting (Kendall et al. 2018), each task's learned variance sigma^2, whose
inverse is the weight of that task's loss. It also prints where p and q end and where
they first crossed zero, so the paragraph in docs/results.md quotes the run, not a guess.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from ..cli import Parser


def read_steps(run: Path) -> dict[str, np.ndarray]:
    """The columns of ``run/steps.csv`` as float arrays (one entry per logged step)."""
    path = run / "steps.csv"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: train the run first (it is written at the end of each epoch)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{path} has no rows")
    return {key: np.array([float(r[key]) if r[key] not in ("", None) else np.nan for r in rows]) for key in rows[0]}


def first_crossing(steps: np.ndarray, values: np.ndarray, level: float = 0.0) -> float | None:
    """The first logged step at which ``values`` is at or below ``level`` (None if never)."""
    below = np.nonzero(values <= level)[0]
    return float(steps[below[0]]) if below.size else None


def summary(paper: dict[str, np.ndarray], uncertainty: dict[str, np.ndarray] | None) -> list[str]:
    """Sentences with the measured numbers: last values, first zero crossings, variances."""
    lines = []
    steps = paper["step"]
    for name, label in (("w_age", "p (age)"), ("w_gender", "q (gender)")):
        crossed = first_crossing(steps, paper[name])
        lines.append(f"paper weighting: {label} went from {paper[name][0]:.3f} to {paper[name][-1]:.3f} "
                     f"by step {int(steps[-1])}; " + ("never reached 0" if crossed is None
                                                     else f"first at or below 0 at logged step {int(crossed)}"))
    lines.append(f"paper weighting: objective {paper['objective'][0]:.3f} at the first step, "
                 f"{paper['objective'][-1]:.3f} at the last logged step")
    if uncertainty is not None:
        for name in ("sigma2_gender", "sigma2_age"):
            if name in uncertainty:
                lines.append(f"uncertainty weighting: {name} {uncertainty[name][0]:.3f} -> {uncertainty[name][-1]:.3f} "
                             f"(loss weight 1/sigma^2 = {1 / uncertainty[name][-1]:.2f}) by step "
                             f"{int(uncertainty['step'][-1])}")
    return lines


def draw(paper: dict[str, np.ndarray], uncertainty: dict[str, np.ndarray] | None, out: Path) -> Path:
    """The figure: p and q; the paper objective; the learned variances (when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if uncertainty is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4))
    ax = axes[0]
    ax.plot(paper["step"], paper["w_age"], label="p (age weight)")
    ax.plot(paper["step"], paper["w_gender"], label="q (gender weight)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1.0)  # linear within +-1, logarithmic beyond: the zero crossing and the blow-up
    ax.set(title="eq. 5 taken literally: p, q trained", xlabel="step", ylabel="weight (symlog)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(paper["step"], paper["objective"], color="C3", label="p L_age + q L_gender")
    ax.plot(paper["step"], paper["age_loss"], color="C0", lw=0.8, alpha=0.7, label="L_age")
    ax.plot(paper["step"], paper["gender_loss"], color="C1", lw=0.8, alpha=0.7, label="L_gender")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set(title="what SGD minimises then", xlabel="step", ylabel="loss (symlog)")
    ax.legend(fontsize=8)
    if uncertainty is not None:
        ax = axes[2]
        ax.plot(uncertainty["step"], uncertainty["sigma2_age"], label="sigma^2 age")
        ax.plot(uncertainty["step"], uncertainty["sigma2_gender"], label="sigma^2 gender")
        ax.set(title="uncertainty weighting (Kendall et al.)", xlabel="step", ylabel="learned variance")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", type=Path, required=True, help="run folder of multitask.py --weighting paper")
    parser.add_argument("--uncertainty", type=Path, help="run folder of multitask.py with --weighting uncertainty")
    parser.add_argument("--out", type=Path, default=Path("docs/results/multitask_weighting.png"))
    args = parser.parse_args(argv)
    paper = read_steps(args.paper)
    if "w_age" not in paper:
        raise SystemExit(f"{args.paper} was not trained with --weighting paper (no w_age column in steps.csv)")
    uncertainty = read_steps(args.uncertainty) if args.uncertainty else None
    if uncertainty is not None and "sigma2_age" not in uncertainty:
        raise SystemExit(f"{args.uncertainty} was not trained with --weighting uncertainty")
    for line in summary(paper, uncertainty):
        print(line)
    print(f"figure: {draw(paper, uncertainty, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
