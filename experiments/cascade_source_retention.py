"""How many of each positive source's face windows a cascade still accepts.

A thin entry point: the code lives in ``facestack.source_retention``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/cascade_source_retention.py --help``
lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.source_retention import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/cascade_source_retention.py", main))
