"""Write the public-domain demo photo the docs and tests use.

A thin entry point: the code lives in ``facestack.demo_photo``; run ``python experiments/make_demo_photo.py --help``.
"""
import sys

from facestack.demo_photo import main

if __name__ == "__main__":
    sys.exit(main())
