"""The task-weighting figure (p, q or sigma^2 per step) from finished multi-task runs.

A thin entry point: the code lives in ``facestack.paper.weighting_figure``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/weighting_figure.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.weighting_figure import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/weighting_figure.py", main))
