"""``vj detect``: run a cascade on images and videos, write annotated copies and JSON.

    vj detect photo.jpg clip.mp4 --cascade haarcascade_frontalface_default.xml \\
        --scale-factor 1.1 --min-neighbors 3 --min-size 24 --out detections --json

For every image ``NAME.EXT`` it writes ``OUT/NAME_detected.png`` with the boxes drawn;
for every video (PyAV, ``pip install facestack[video]``) ``OUT/NAME_detected.mp4`` and
prints the detection speed in frames per second. ``--json`` also writes
``OUT/detections.json``: for each input, its boxes ``[x, y, w, h]`` and scores (per
frame for a video).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def register(subparsers) -> None:
    """Add the ``detect`` subcommand to the ``vj`` parser."""
    parser = subparsers.add_parser("detect", help="detect objects in images and videos",
                                   description="Detect objects with an OpenCV Haar cascade.")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO", help="image or video files")
    parser.add_argument("--cascade", default=None,
                        help="OpenCV cascade XML file (default: vj's shipped frontal-face cascade)")
    parser.add_argument("--scale-factor", type=float, default=1.1, help="pyramid scale step, > 1 (default 1.1)")
    parser.add_argument("--min-neighbors", type=int, default=3, help="raw windows a box needs, more than (default 3)")
    parser.add_argument("--min-size", type=int, default=None, help="smallest box side in pixels")
    parser.add_argument("--max-size", type=int, default=None, help="largest box side in pixels")
    parser.add_argument("--out", default="vj_detections", help="output folder (default ./vj_detections)")
    parser.add_argument("--json", action="store_true", help="also write OUT/detections.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``vj detect``; returns the exit status (1 if any input failed)."""
    from . import load_cascade, prepare_cascade

    if args.scale_factor <= 1.0:
        print(f"vj detect: --scale-factor must be > 1, got {args.scale_factor}", file=sys.stderr)
        return 2
    try:
        cascade = prepare_cascade(load_cascade(args.cascade))
    except (OSError, ValueError) as exc:
        print(f"vj detect: cannot load cascade: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(scale_factor=args.scale_factor, min_neighbors=args.min_neighbors, min_size=args.min_size,
                  max_size=args.max_size)
    results, status = {}, 0
    for name in args.inputs:
        path = Path(name)
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                results[name] = _detect_video(path, out_dir, cascade, params)
            else:
                results[name] = _detect_image(path, out_dir, cascade, params)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"vj detect: {name}: {exc}", file=sys.stderr)
            status = 1
    if args.json:
        (out_dir / "detections.json").write_text(json.dumps(results, indent=1))
    return status


def _as_records(boxes: np.ndarray, scores: np.ndarray) -> list[dict]:
    return [{"box": [int(v) for v in box], "score": float(score)} for box, score in zip(boxes, scores)]


def read_image(path: Path) -> np.ndarray:
    """Image file -> grey ``(H, W)`` or RGB/RGBA array, keeping 16-bit grey as uint16."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode in ("L", "RGB", "RGBA"):
            return np.asarray(img)
        if img.mode.startswith("I;16"):
            return np.asarray(img).astype(np.uint16)
        return np.asarray(img.convert("RGB"))


def _detect_image(path: Path, out_dir: Path, cascade, params: dict) -> list[dict]:
    from PIL import Image

    from .detect import detect_multi_scale
    from .draw import draw_boxes

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    image = read_image(path)
    boxes, scores = detect_multi_scale(image, cascade, **params)
    Image.fromarray(draw_boxes(image, boxes, scores)).save(out_dir / f"{path.stem}_detected.png")
    print(f"{path}: {len(boxes)} detections")
    return _as_records(boxes, scores)


def _detect_video(path: Path, out_dir: Path, cascade, params: dict) -> list[list[dict]]:
    try:
        import av
    except ImportError as exc:
        raise RuntimeError("reading videos needs PyAV: pip install 'facestack[video]'") from exc
    from .detect import detect_multi_scale
    from .draw import draw_boxes

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    frames_out: list[list[dict]] = []
    detect_seconds = 0.0
    with av.open(str(path)) as source, av.open(str(out_dir / f"{path.stem}_detected.mp4"), "w") as sink:
        in_stream = source.streams.video[0]
        rate = in_stream.average_rate or 25
        out_stream = None
        for frame in source.decode(in_stream):
            rgb = frame.to_ndarray(format="rgb24")
            start = time.perf_counter()
            boxes, scores = detect_multi_scale(rgb, cascade, **params)
            detect_seconds += time.perf_counter() - start
            frames_out.append(_as_records(boxes, scores))
            drawn = draw_boxes(rgb, boxes, scores)
            height, width = (drawn.shape[0] // 2) * 2, (drawn.shape[1] // 2) * 2  # yuv420p needs even sizes
            if out_stream is None:
                out_stream = _open_video_stream(sink, rate, width, height)
            out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn[:height, :width]), format="rgb24")
            for packet in out_stream.encode(out_frame):
                sink.mux(packet)
        if out_stream is not None:
            for packet in out_stream.encode():
                sink.mux(packet)
    fps = len(frames_out) / detect_seconds if detect_seconds > 0 else float("inf")
    print(f"{path}: {len(frames_out)} frames, {sum(map(len, frames_out))} detections, {fps:.1f} frames per second")
    return frames_out


def _open_video_stream(sink, rate, width: int, height: int):
    """An H.264 stream if the PyAV build has the encoder, else MPEG-4 part 2."""
    import av

    for codec in ("libx264", "h264", "mpeg4"):
        try:
            stream = sink.add_stream(codec, rate=rate)
        except (av.FFmpegError, ValueError, KeyError):
            continue
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        return stream
    raise RuntimeError("this PyAV build has no H.264 or MPEG-4 encoder")
