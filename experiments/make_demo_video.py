"""Write the demo video (WebFaces photos as frames) for the detect-then-classify pipeline.

A thin entry point: the code lives in ``facestack.demo_video``; run ``python experiments/make_demo_video.py --help``.
"""
import sys

from facestack.demo_video import main

if __name__ == "__main__":
    sys.exit(main())
