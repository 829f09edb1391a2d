"""Why a cascade misses WebFaces faces: where each missed face is lost, and a size test.

    python experiments/webfaces_misses.py default \\
        .venv/lib/python3.11/site-packages/cv2/data/haarcascade_frontalface_default.xml

For each cascade (``default`` is the one vj ships) over the 1,000 WebFaces photos at
scale 1.1 (``--data`` or ``$FACESTACK_DATA`` holds ``webfaces/``; ``--annotations FILE``
takes any WebFaces-format file instead, such as a part of ``webfaces-train/`` for
choosing settings, with its photos in ``images/`` beside it):

1. Every annotated face that min_neighbors 3 misses is put in one class: *raw only*
   (a raw window, before grouping, matches it: grouping lost it), *no window* (no raw
   window matches it: the cascade's stages rejected it), or *near* (a grouped box holds
   both eyes but fails the rest of the matching rule, ``vj.eval``). Faces with an eye
   distance under 10 px (a face box under about 27 px, near a 20 or 24 px window) are
   counted apart.
2. The size test: every photo with one annotated face whose eye distance is at least
   30 px is shrunk (bilinear) so that the eye distance becomes 9.5 px, and the face is
   looked for in the original and in the shrunk photo, at min_neighbors 0, 1 and 3.
   The same faces, only smaller: what the cascade loses here it loses by size alone.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli import Parser

SMALL_EYE_DISTANCE = 10.0
SHRUNK_EYE_DISTANCE = 9.5
LARGE_EYE_DISTANCE = 30.0


def _grouped(raw_boxes: np.ndarray, raw_scores: np.ndarray, min_neighbors: int, shape: tuple[int, ...]):
    from vj.detect import GROUP_EPS
    from vj.grouping import clip_boxes, group_rectangles

    boxes, scores = group_rectangles(raw_boxes, raw_scores, min_neighbors, GROUP_EPS)
    return clip_boxes(boxes, scores, shape[1], shape[0])


def miss_class(boxes: np.ndarray, marks: np.ndarray, raw_match: bool) -> str:
    """The class of one missed face (module doc) from the grouped ``boxes`` and its ``marks (4, 2)``."""
    for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        inside = (marks[:, 0] >= x) & (marks[:, 0] <= x + w) & (marks[:, 1] >= y) & (marks[:, 1] <= y + h)
        if inside[:2].all():
            return "near"
    return "raw only" if raw_match else "no window"


def classify_misses(cascade, photos) -> dict[str, int]:
    """Counts of found and missed faces by class and size over ``photos`` ((gray, marks) pairs)."""
    from vj.detect import detect_raw
    from facestack.detector_eval import match_detections, match_matrix

    counts: dict[str, int] = {}
    for gray, marks in photos:
        marks = np.asarray(marks, dtype=np.float64).reshape(-1, 4, 2)
        raw_boxes, raw_scores = detect_raw(gray, cascade, 1.1, None)
        boxes, scores = _grouped(raw_boxes, raw_scores, 3, gray.shape)
        found, _ = match_detections(boxes, scores, marks)
        all_boxes, _ = _grouped(raw_boxes, raw_scores, 0, gray.shape)
        raw_match = match_matrix(all_boxes, marks).any(axis=0) if len(all_boxes) else np.zeros(len(marks), bool)
        eye_distance = np.hypot(*(marks[:, 1] - marks[:, 0]).T)
        for k in range(len(marks)):
            size = "small" if eye_distance[k] < SMALL_EYE_DISTANCE else "larger"
            key = f"{size}: found" if found[k] else f"{size}: {miss_class(boxes, marks[k], bool(raw_match[k]))}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def size_test(cascade, photos, limit: int = 150) -> tuple[int, dict[int, tuple[int, int]]]:
    """(faces, {min_neighbors: (found in the original photo, found in the shrunk photo)}) (module doc)."""
    from PIL import Image

    from vj.detect import detect_raw
    from facestack.detector_eval import match_detections

    found = {m: [0, 0] for m in (0, 1, 3)}
    faces = 0
    for gray, marks in photos:
        marks = np.asarray(marks, dtype=np.float64).reshape(-1, 4, 2)
        if len(marks) != 1 or np.hypot(*(marks[0, 1] - marks[0, 0])) < LARGE_EYE_DISTANCE:
            continue
        factor = SHRUNK_EYE_DISTANCE / float(np.hypot(*(marks[0, 1] - marks[0, 0])))
        size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        small = np.asarray(Image.fromarray(gray).resize(size, Image.BILINEAR, reducing_gap=None), dtype=np.uint8)
        for j, (image, points) in enumerate(((gray, marks), (small, marks * factor))):
            raw_boxes, raw_scores = detect_raw(image, cascade, 1.1, None)
            for m in found:
                boxes, scores = _grouped(raw_boxes, raw_scores, m, image.shape)
                found[m][j] += int(match_detections(boxes, scores, points)[0].sum())
        faces += 1
        if faces >= limit:
            break
    return faces, {m: (a, b) for m, (a, b) in found.items()}


def main(argv: list[str] | None = None) -> int:
    """Print both analyses for each cascade given; returns the exit status."""
    from facestack.webfaces import default_webfaces_dir, read_webfaces_annotations
    from vj.detect import prepare_cascade
    from vj.opencv_xml import load_cascade
    from vj.positives import read_gray

    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cascades", nargs="+", help="cascade XML files; 'default' is vj's shipped cascade")
    parser.add_argument("--data", default=None,
                        help="folder holding webfaces/ (default $FACESTACK_DATA or ../shared/data)")
    parser.add_argument("--annotations", default=None, metavar="FILE",
                        help="a WebFaces-format ground-truth file to use instead (photos in images/ beside it)")
    args = parser.parse_args(argv)
    if args.annotations:
        annotation_file = Path(args.annotations)
        webfaces = annotation_file.parent
    else:
        webfaces = Path(args.data) / "webfaces" if args.data else default_webfaces_dir()
        annotation_file = webfaces / "WebFaces_GroundThruth.txt"
    if not annotation_file.is_file():
        print(f"no WebFaces annotations at {annotation_file}: pass --data or --annotations", file=sys.stderr)
        return 2
    annotations = read_webfaces_annotations(annotation_file)
    names = sorted(annotations)

    def photos():
        for name in names:
            yield read_gray(webfaces / "images" / name), annotations[name]

    for name in args.cascades:
        cascade = prepare_cascade(load_cascade(None if name == "default" else name))
        label = "vj default" if name == "default" else name
        counts = classify_misses(cascade, photos())
        total = sum(counts.values())
        print(f"{label}: {total} faces, min_neighbors 3, scale 1.1 "
              f"(small: eye distance under {SMALL_EYE_DISTANCE:g} px)")
        for key in sorted(counts):
            print(f"  {key:<20} {counts[key]:5d}")
        faces, found = size_test(cascade, photos())
        print(f"  size test, {faces} one-face photos with eye distance >= {LARGE_EYE_DISTANCE:g} px, "
              f"shrunk to {SHRUNK_EYE_DISTANCE:g} px:")
        for m, (original, shrunk) in found.items():
            print(f"    min_neighbors {m}: found {original} in the original, {shrunk} shrunk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
