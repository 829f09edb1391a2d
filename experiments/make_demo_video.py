"""Write the demo video (WebFaces photos as frames) for the detect-then-classify pipeline.

A thin entry point: the code lives in ``facestack.demo_video``; errors are one line (``--debug``
for the traceback), as in every facestack command. ``python experiments/make_demo_video.py --help`` lists the options.
"""
import sys

from facestack.cli import run_command
from facestack.demo_video import main

if __name__ == "__main__":
    sys.exit(run_command("python experiments/make_demo_video.py", main))
