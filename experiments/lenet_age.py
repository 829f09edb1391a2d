"""The paper's LeNet age classifier (section III.B) trained on UTKFace, four age bins.

A thin entry point: the code lives in ``facestack.paper.lenet_age``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/lenet_age.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.lenet_age import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/lenet_age.py", main))
