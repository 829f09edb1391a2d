"""Detect faces with vj, then classify gender and age with a trained network.

A thin entry point: the code lives in ``facestack.classify``; run ``python experiments/detect_and_classify.py --help``.
"""
import sys

from facestack.classify import main

if __name__ == "__main__":
    sys.exit(main())
