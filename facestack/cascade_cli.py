"""``facestack train-cascade``: vj's cascade trainer with this project's face data sets as positives.

    facestack train-cascade --pos-utkface ../shared/data/utkface/UTKFace --jitter 0.1 --mirror \\
        --neg ../shared/data/backgrounds --window 20 --stages 26 --out frontalface.xml
    facestack train-cascade --pos-webfaces ../shared/data/webfaces-train/WebFaces_GroundThruth.txt ...

Every ``vj train`` option works here (``vj train --help``); two positive sources are added:

* ``--pos-utkface DIR``: UTKFace's aligned 200 x 200 chips, each cut by
  ``facestack.cascade_data.UTKFACE_CHIP_BOX`` (the box fitted to OpenCV's frontal-face
  detections) and moved by ``--jitter`` / ``--grow``, turned by ``--rotate``, blurred by
  ``--blur`` like vj's ``--pos-chips``;
* ``--pos-webfaces FILE``: the faces of a WebFaces ground-truth file, boxed from their eyes
  by ``facestack.webfaces.WEBFACES_FRAMING``, each face once as framed; with
  ``--webfaces-copies K``, K times, each copy moved, turned and blurred at random by
  ``--jitter`` / ``--grow`` / ``--rotate`` / ``--blur`` (real-photo faces are few beside
  UTKFace's chips, so this gives them more weight in each stage's positives). With
  ``--webfaces-framing chip`` the faces are boxed as the UTKFace positives are
  (``facestack.cascade_data.landmark_framing_like_chip_box``: 90 % of OpenCV's side, 5 %
  lower), so that every positive has one framing; the default ``opencv`` keeps
  OpenCV's box, as every cascade before the sixteenth session was trained. Train on
  ``webfaces-train/``; ``webfaces/`` is for the final evaluation only.
"""
from __future__ import annotations

import argparse
import sys
from functools import partial

from vj import cli_train
from vj.cli import int_at_least
from vj.positives import FaceAugmentation, read_crop_folder

from .cascade_data import UTKFACE_CHIP_BOX, WEBFACES_FRAMING_CHOICES, webfaces_positive_framing
from .webfaces import read_webfaces_faces
from .cli import Parser

PROG = "facestack train-cascade"


def build_parser() -> argparse.ArgumentParser:
    """vj train's options plus the UTKFace and WebFaces positive sources."""
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0], add_help=False)
    cli_train.add_train_arguments(parser)
    parser.add_argument("--pos-utkface", nargs="*", default=[], metavar="DIR",
                        help="UTKFace chip folders (cut by UTKFACE_CHIP_BOX, jittered like --pos-chips)")
    parser.add_argument("--pos-webfaces", nargs="*", default=[], metavar="FILE",
                        help="WebFaces ground-truth files (faces boxed from their eyes; photos in images/ beside)")
    parser.add_argument("--webfaces-copies", type=int_at_least(1, 1000), default=None, metavar="K",
                        help="--pos-webfaces: cut each face K times, each copy with its own --jitter / --grow / "
                        "--rotate / --blur draw (default: once, not augmented)")
    parser.add_argument("--webfaces-framing", choices=WEBFACES_FRAMING_CHOICES, default="opencv",
                        help="--pos-webfaces: box faces as OpenCV's cascade does (default) or as the UTKFace "
                        "positives are cut (chip: tighter and lower, one framing for all positives)")
    return parser


def data_set_sources(args: argparse.Namespace) -> list[cli_train.PositiveSource]:
    """The ``--pos-utkface`` and ``--pos-webfaces`` sources, as readers vj's trainer calls."""
    sources: list[cli_train.PositiveSource] = []
    for folder in args.pos_utkface:
        sources.append((folder, partial(_utkface_chips, folder, args)))
    for annotations in args.pos_webfaces:
        sources.append((annotations, partial(_webfaces_faces, annotations, args)))
    return sources


def _utkface_chips(folder: str, args: argparse.Namespace, window: tuple[int, int]):
    return read_crop_folder(folder, window, box=UTKFACE_CHIP_BOX, limit=args.pos_limit, jitter=args.jitter,
                            seed=args.seed, rotate=args.rotate, blur=args.blur, grow=args.grow)


def _webfaces_faces(annotations: str, args: argparse.Namespace, window: tuple[int, int]):
    augmentation = None if args.webfaces_copies is None else FaceAugmentation(
        copies=args.webfaces_copies, jitter=args.jitter, grow=args.grow, rotate=args.rotate, blur=args.blur,
        seed=args.seed)
    return read_webfaces_faces(annotations, window, framing=webfaces_positive_framing(args.webfaces_framing),
                               augmentation=augmentation)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``facestack train-cascade``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return cli_train.run(args, data_set_sources(args), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
