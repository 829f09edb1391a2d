"""The paper's joint gender and age network (section III.C) trained on UTKFace.

A thin entry point: the code lives in ``facestack.paper.multitask``; run ``python experiments/multitask.py --help``.
"""
import sys

from facestack.paper.multitask import main

if __name__ == "__main__":
    sys.exit(main())
