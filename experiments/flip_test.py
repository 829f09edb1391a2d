"""Test accuracy of a finished run's models, plain and with mirror-image averaging.

A thin entry point: the code lives in ``facestack.paper.flip_test``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/flip_test.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.flip_test import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/flip_test.py", main))
