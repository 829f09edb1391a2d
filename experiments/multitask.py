"""The paper's joint gender and age network (section III.C) trained on UTKFace.

A thin entry point: the code lives in ``facestack.paper.multitask``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/multitask.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.multitask import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/multitask.py", main))
