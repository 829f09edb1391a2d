"""How the labels hold up as faces get small: UTKFace chips shrunk, found, re-framed, classified.

A thin entry point: the code lives in ``facestack.face_size``; errors are one line (``--debug``
for the traceback), as in every facestack command.
``python experiments/face_size_accuracy.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.face_size import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/face_size_accuracy.py", main))
