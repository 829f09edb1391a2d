"""Face-free copies of WebFaces photos, as a negative list for cascade training.

    python experiments/webfaces_backgrounds.py wf_fit/WebFaces_GroundThruth.txt --out wf_fit_bg
    facestack train-cascade ... --bg bg_all.txt wf_fit_bg/bg.txt ...

Every annotated face of every photo in the annotation file is hidden by
``facestack.webfaces.face_free_photo``; the photos are written as grey PNG files to
``--out`` with a ``bg.txt`` list (absolute paths, as ``opencv_traincascade -bg`` reads).
Use ``webfaces-train/`` (or a part of it) only: ``webfaces/`` is for the final evaluation.
Errors are one line (``--debug`` for the traceback), as in every facestack command.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from facestack.cli import run_command
from facestack.webfaces import face_free_photo, read_webfaces_annotations
from vj.cli import float_in
from vj.positives import read_gray


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("annotations", type=Path, help="WebFaces_GroundThruth.txt (photos in images/ beside it)")
    p.add_argument("--out", type=Path, required=True, help="folder for the face-free photos and bg.txt")
    p.add_argument("--margin", type=float_in(1, 10), default=1.6,
                   help="face box growth before hiding it, 1 to 10 (default 1.6)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    faces = read_webfaces_annotations(args.annotations)
    args.out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for i, (name, marks) in enumerate(sorted(faces.items())):
        try:
            gray = read_gray(args.annotations.parent / "images" / name)
        except (OSError, ValueError) as error:
            skipped.append(f"{name}: {error}")
            continue
        path = (args.out / name).with_suffix(".png")
        Image.fromarray(face_free_photo(gray, marks, margin=args.margin, seed=args.seed + i)).save(path)
        written.append(str(path.resolve()))
    (args.out / "bg.txt").write_text("\n".join(written) + "\n")
    print(f"{len(written)} face-free photos in {args.out} ({sum(len(m) for m in faces.values())} faces hidden), "
          f"{len(skipped)} unreadable; list: {args.out / 'bg.txt'}")
    for line in skipped[:5]:
        print(f"  skipped {line}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("python experiments/webfaces_backgrounds.py", main))
