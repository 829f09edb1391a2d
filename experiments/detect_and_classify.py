"""Detect faces with vj, then classify gender and age with a trained network.

A thin entry point: the code lives in ``facestack.classify``; errors are one line (``--debug``
for the traceback), as in every facestack command.
``python experiments/detect_and_classify.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.classify import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/detect_and_classify.py", main))
