"""The paper's gender CNN (Kang, Jiang & Li, section III.A) trained on UTKFace.

A thin entry point: the code lives in ``facestack.paper.gender_cnn``; run ``python experiments/gender_cnn.py --help``.
"""
import sys

from facestack.paper.gender_cnn import main

if __name__ == "__main__":
    sys.exit(main())
