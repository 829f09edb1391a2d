"""Where a cascade loses the WebFaces faces it misses.

A thin entry point: the code lives in ``facestack.webfaces_misses``; run ``python experiments/webfaces_misses.py --help``.
"""
import sys

from facestack.webfaces_misses import main

if __name__ == "__main__":
    sys.exit(main())
