"""The task-weighting figure (p, q or sigma^2 per step) from finished multi-task runs.

A thin entry point: the code lives in ``facestack.paper.weighting_figure``; run ``python experiments/weighting_figure.py --help``.
"""
import sys

from facestack.paper.weighting_figure import main

if __name__ == "__main__":
    sys.exit(main())
