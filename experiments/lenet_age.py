"""The paper's LeNet age classifier (section III.B) trained on UTKFace, four age bins.

A thin entry point: the code lives in ``facestack.paper.lenet_age``; run ``python experiments/lenet_age.py --help``.
"""
import sys

from facestack.paper.lenet_age import main

if __name__ == "__main__":
    sys.exit(main())
