"""The results table of docs/results.md from finished run folders.

A thin entry point: the code lives in ``facestack.paper.results_table``; run ``python experiments/results_table.py --help``.
"""
import sys

from facestack.paper.results_table import main

if __name__ == "__main__":
    sys.exit(main())
