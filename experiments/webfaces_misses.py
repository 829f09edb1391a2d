"""Where a cascade loses the WebFaces faces it misses.

A thin entry point: the code lives in ``facestack.webfaces_misses``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/webfaces_misses.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.webfaces_misses import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/webfaces_misses.py", main))
