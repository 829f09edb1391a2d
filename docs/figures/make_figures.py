"""Draw every figure of the docs from the code it explains.

    python docs/figures/make_figures.py                  # all of them, into docs/figures/
    python docs/figures/make_figures.py --only lrn im2col --out /tmp/figs

The figures live in two modules beside this script, one per library:
``figures_minicnn.py`` and ``figures_vj.py``. Each figure is a function
``figure_NAME(out_dir) -> path`` that writes ``NAME.png``; nothing in a figure is
typed in by hand: every number on it is computed when it is drawn. The vj figures
need the ``dev`` and ``ref`` extras (scikit-image's astronaut photo and the cascades
shipped with OpenCV).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent.parent):  # the sibling modules; the repository (works without installing)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import figures_minicnn  # noqa: E402
import figures_vj  # noqa: E402

FIGURES: dict[str, Callable[[Path], Path]] = {**figures_minicnn.FIGURES, **figures_vj.FIGURES}
#: Optional packages each figure needs, by figure name.
REQUIRES: dict[str, tuple[str, ...]] = dict(figures_vj.REQUIRES)


def main(argv: list[str] | None = None) -> int:
    """Draw the chosen figures (all by default) and print each one's path, size and time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help=f"output folder (default {HERE})")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="draw only these figures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name in args.only or FIGURES:
        t0 = time.perf_counter()
        path = FIGURES[name](args.out)
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB  {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{len(args.only or FIGURES)} figures in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
