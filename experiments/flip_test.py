"""Test accuracy of a finished run's models, plain and with mirror-image averaging.

A thin entry point: the code lives in ``facestack.paper.flip_test``; run ``python experiments/flip_test.py --help``.
"""
import sys

from facestack.paper.flip_test import main

if __name__ == "__main__":
    sys.exit(main())
