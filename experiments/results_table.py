"""The results table of docs/results.md from finished run folders.

A thin entry point: the code lives in ``facestack.paper.results_table``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/results_table.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.paper.results_table import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/results_table.py", main))
