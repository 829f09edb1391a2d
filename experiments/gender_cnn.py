"""The paper's gender CNN (Kang, Jiang & Li, section III.A) trained on UTKFace.

A thin entry point: the code lives in ``facestack.paper.gender_cnn``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/gender_cnn.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.gender_cnn import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/gender_cnn.py", main))
