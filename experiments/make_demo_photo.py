"""Write the public-domain demo photo the docs and tests use.

A thin entry point: the code lives in ``facestack.demo_photo``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/make_demo_photo.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.demo_photo import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/make_demo_photo.py", main))
