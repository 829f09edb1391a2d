"""A demo clip for detect-then-classify: a camera panning and zooming across real group photos.

    python experiments/make_demo_video.py /tmp/demo.mp4                  # 640x480, 10 s at 25 fps
    python experiments/make_demo_video.py /tmp/demo.mp4 --seconds 4 --photos 2

The photos are Caltech WebFaces photos (``webfaces/images`` and the landmark file
``webfaces/WebFaces_GroundThruth.txt``, as ``vj eval`` reads them) with at least
``--min-faces`` annotated faces whose median eye distance is at least ``--min-eye-distance``
pixels, the first ``--photos`` of them by name (a photo stored twice counts once). Each photo gets an equal share of the
frames: a 4:3 view that frames the faces at about ``--face-size`` pixels pans from the
left-most face to the right-most one while zooming in by 15 %. The clip is written with
PyAV (H.264 where the build has it, else MPEG-4); it is a derived copy of third-party
photos: keep it out of the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from facestack.classify import open_video_writer
from facestack.webfaces import WEBFACES_FRAMING, default_webfaces_dir, read_webfaces_annotations
from .cli import Parser

ZOOM = 0.85  # the view's width at the end of a photo's shot, relative to its start


def choose_photos(webfaces_dir: Path, count: int, min_faces: int,
                  min_eye_distance: float) -> list[tuple[Path, np.ndarray]]:
    """The first ``count`` photos (by name) with enough faces large enough, with their face boxes.

    Returns:
        ``[(photo path, (K, 4) float64 face boxes x, y, w, h in photo pixels)]``.
    """
    annotations = read_webfaces_annotations(webfaces_dir / "WebFaces_GroundThruth.txt")
    chosen, seen = [], set()
    for name, marks in sorted(annotations.items()):
        eye_distance = np.hypot(*(marks[:, 1] - marks[:, 0]).T)
        if len(marks) >= min_faces and np.median(eye_distance) >= min_eye_distance and eye_distance.min() > 0:
            path = webfaces_dir / "images" / name
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:  # the set holds some photos twice under two names
                continue
            seen.add(digest)
            chosen.append((path, np.stack([WEBFACES_FRAMING.box(m[0], m[1]) for m in marks])))
        if len(chosen) == count:
            break
    if not chosen:
        raise ValueError(f"no WebFaces photo in {webfaces_dir} has {min_faces} faces with eyes "
                         f"{min_eye_distance} px apart")
    return chosen


def camera_path(photo_size: tuple[int, int], boxes: np.ndarray, frames: int, out_size: tuple[int, int],
                face_size: float) -> np.ndarray:
    """The view of each frame of one photo's shot: ``(frames, 4)`` ``left, top, right, bottom`` in photo pixels.

    The view has the output's aspect ratio, starts wide enough to show the faces at about
    ``face_size`` output pixels (never wider than the photo), narrows to ``ZOOM`` of that, and its
    centre moves from the left-most face to the right-most one, kept inside the photo.
    """
    width, height = photo_size
    out_w, out_h = out_size
    aspect = out_w / out_h
    start_w = min(out_w * float(np.median(boxes[:, 2])) / face_size, width, height * aspect)
    t = np.linspace(0.0, 1.0, frames)
    view_w = start_w * (1 + (ZOOM - 1) * t)
    view_h = view_w / aspect
    centres_x, centres_y = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    cx = centres_x.min() + (centres_x.max() - centres_x.min()) * t
    cy = np.full(frames, float(np.mean(centres_y)))
    cx = np.clip(cx, view_w / 2, width - view_w / 2)
    cy = np.clip(cy, view_h / 2, height - view_h / 2)
    return np.stack([cx - view_w / 2, cy - view_h / 2, cx + view_w / 2, cy + view_h / 2], axis=1)


def write_demo_video(out: str | os.PathLike, webfaces_dir: str | os.PathLike, frames: int = 250, fps: int = 25,
                     size: tuple[int, int] = (640, 480), photos: int = 5, min_faces: int = 3,
                     min_eye_distance: float = 20.0, face_size: float = 80.0) -> list[str]:
    """Write the clip; returns the names of the photos used.

    Args:
        out: the video file (``.mp4``, ``.mkv``, ...); its folder is created.
        webfaces_dir: the folder holding ``images/`` and ``WebFaces_GroundThruth.txt``.
        frames, fps: length and rate of the clip.
        size: ``(width, height)`` in pixels (even numbers).
        photos, min_faces, min_eye_distance: which photos (see ``choose_photos``).
        face_size: face box side in output pixels at the start of each shot.
    """
    import av

    if frames < 1 or fps < 1 or size[0] < 2 or size[1] < 2 or size[0] % 2 or size[1] % 2:
        raise ValueError(f"need frames >= 1, fps >= 1 and an even width and height, got {frames}, {fps}, {size}")
    shots = choose_photos(Path(webfaces_dir), photos, min_faces, min_eye_distance)
    shares = np.diff(np.linspace(0, frames, len(shots) + 1).round().astype(int))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as sink:
        stream = open_video_writer(sink, fps, *size)
        for (path, boxes), count in zip(shots, shares):
            if count == 0:
                continue
            with Image.open(path) as source:
                photo = source.convert("RGB")
            for view in camera_path(photo.size, boxes, count, size, face_size):
                frame = photo.resize(size, Image.Resampling.BILINEAR, box=tuple(float(v) for v in view))
                for packet in stream.encode(av.VideoFrame.from_image(frame)):
                    sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    return [path.name for path, _ in shots]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = Parser(prog="python experiments/make_demo_video.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="video file to write (.mp4)")
    p.add_argument("--data", help=f"WebFaces folder (default {default_webfaces_dir()})")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--photos", type=int, default=5, help="photos to pan across (default 5)")
    p.add_argument("--min-faces", type=int, default=3, help="annotated faces a photo needs (default 3)")
    p.add_argument("--min-eye-distance", type=float, default=20.0, help="median eye distance in pixels (default 20)")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        names = write_demo_video(args.out, Path(args.data) if args.data else default_webfaces_dir(),
                                 round(args.seconds * args.fps), args.fps, (width, height), args.photos,
                                 args.min_faces, args.min_eye_distance)
    except (OSError, ValueError) as error:
        print(f"make_demo_video: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: {args.size}, {round(args.seconds * args.fps)} frames at {args.fps} fps from {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
