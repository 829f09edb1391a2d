"""``vj detect``: run a cascade on images and videos, write annotated copies and JSON.

    vj detect photo.jpg clip.mp4 --cascade haarcascade_frontalface_default.xml \\
        --scale-factor 1.1 --min-neighbors 3 --min-size 24 --out detections --json

For every image ``NAME.EXT`` it writes ``OUT/NAME_detected.png`` with the boxes drawn;
for every video (PyAV, ``pip install facestack[video]``) ``OUT/NAME_detected.mp4`` and
prints the detection speed in frames per second. ``--json`` also writes
``OUT/detections.json``: for each input, its boxes ``[x, y, w, h]`` and scores (per
frame for a video). Inputs with the same stem keep their folders (``OUT/a/photo_detected.png``,
``OUT/b/photo_detected.png``; see ``output_names``).

Reliability: every option is range-checked before any work (exit 2); the output folder
is checked writable and no existing output is replaced without ``--overwrite`` (exit
2); images over ``--max-pixels`` are refused from their header (or shrunk with
``--downscale``) and images whose pyramid would have more than ``MAX_PYRAMID_LEVELS``
levels are refused; a bad input is reported in one line and the batch goes on, the JSON
holds every good input, a summary counts the failures and the exit status is 1 if any
failed. Every file is written atomically (temporary file in the same folder, then a rename).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .cli import EXIT_FAILURE, EXIT_USAGE, describe, float_in, int_at_least
from .sample_files import DEFAULT_MAX_PIXELS, read_image_file

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
#: Most pyramid levels one image may have (``--scale-factor`` close to 1 on a large image).
MAX_PYRAMID_LEVELS = 1000
#: Largest box side accepted for ``--min-size`` / ``--max-size``.
MAX_BOX_SIDE = 100_000


def register(subparsers) -> None:
    """Add the ``detect`` subcommand to the ``vj`` parser."""
    parser = subparsers.add_parser("detect", help="detect objects in images and videos",
                                   description="Detect objects with an OpenCV Haar cascade.")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO", help="image or video files")
    parser.add_argument("--cascade", default=None,
                        help="OpenCV cascade XML file (default: vj's shipped frontal-face cascade)")
    parser.add_argument("--scale-factor", type=float_in(1.0, 100.0, low_open=True), default=1.1,
                        help="pyramid scale step, in (1, 100] (default 1.1); an image may have at most "
                        f"{MAX_PYRAMID_LEVELS} pyramid levels")
    parser.add_argument("--min-neighbors", type=int_at_least(0), default=3,
                        help="raw windows a box needs, more than (default 3)")
    parser.add_argument("--min-size", type=int_at_least(1, MAX_BOX_SIDE), default=None,
                        help="smallest box side in pixels")
    parser.add_argument("--max-size", type=int_at_least(1, MAX_BOX_SIDE), default=None,
                        help="largest box side in pixels")
    parser.add_argument("--max-pixels", type=int_at_least(1), default=DEFAULT_MAX_PIXELS,
                        help=f"refuse images over this many pixels, before decoding (default {DEFAULT_MAX_PIXELS:,})")
    parser.add_argument("--downscale", action="store_true",
                        help="shrink images over --max-pixels instead of refusing them (boxes in original pixels)")
    parser.add_argument("--out", default="vj_detections", help="output folder (default ./vj_detections)")
    parser.add_argument("--json", action="store_true", help="also write OUT/detections.json")
    parser.add_argument("--overwrite", action="store_true", help="replace output files that exist already")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``vj detect``: every input is tried (a bad one is reported and skipped), the JSON of the
    good ones is written, and the exit status is 1 if any input failed (2 for a usage error)."""
    from . import load_cascade, prepare_cascade

    try:
        cascade = prepare_cascade(load_cascade(args.cascade))
    except (OSError, ValueError) as exc:
        print(f"vj detect: cannot load cascade: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    out_dir = Path(args.out)
    names = output_names([Path(name) for name in args.inputs])
    json_path = out_dir / "detections.json"
    try:
        check_output_folder(out_dir)
        if not args.overwrite:
            planned = [out_dir / names[Path(n)] for n in args.inputs] + ([json_path] if args.json else [])
            existing = [path for path in planned if path.exists()]
            if existing:
                more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
                raise FileExistsError(f"{existing[0]} exists{more}: pass --overwrite to replace, "
                                      "or choose another --out")
    except OSError as exc:
        print(f"vj detect: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    params = dict(scale_factor=args.scale_factor, min_neighbors=args.min_neighbors, min_size=args.min_size,
                  max_size=args.max_size)
    results, failed = {}, []
    try:
        _detect_all(args, names, out_dir, cascade, params, results, failed)
    finally:  # also after Ctrl-C: the inputs done so far keep their results
        if args.json:
            write_atomic(json_path, json.dumps(results, indent=1).encode())
    if len(args.inputs) > 1 or failed:
        print(f"{len(args.inputs) - len(failed)} of {len(args.inputs)} inputs done, {len(failed)} failed"
              + (f": {', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}" if failed else ""))
    return EXIT_FAILURE if failed else 0


def _detect_all(args: argparse.Namespace, names: dict[Path, str], out_dir: Path, cascade, params: dict,
                results: dict, failed: list[str]) -> None:
    """Detect on every input in turn, filling ``results`` (by input name) and ``failed``."""
    for name in args.inputs:
        path = Path(name)
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                results[name] = _detect_video(path, out_dir / names[path], cascade, params, args.max_pixels)
            else:
                results[name] = _detect_image(path, out_dir / names[path], cascade, params, args)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one bad input must not stop the batch
            if getattr(args, "debug", False):
                raise
            message = describe(exc)
            print(f"vj detect: {message if name in message else f'{name}: {message}'}", file=sys.stderr)
            failed.append(name)


def output_names(inputs: list[Path]) -> dict[Path, str]:
    """Each input's annotated output, relative to the output folder, unique even when stems collide.

    ``NAME_detected.png`` (``.mp4`` for a video) for an input whose stem no other input
    shares; otherwise its folder relative to the common folder of the inputs of that stem is kept
    (``a/photo.jpg``, ``b/photo.jpg`` -> ``a/photo_detected.png``, ``b/photo_detected.png``),
    inputs still alike (``photo.jpg``, ``photo.png``) keep their suffix (``photo_jpg_detected.png``)
    and any name still taken gets ``_2``, ``_3``, ...
    """
    resolved = {path: path.resolve() for path in inputs}
    reals = sorted(set(resolved.values()))
    if not reals:
        return {}
    groups: dict[str, list[Path]] = {}
    for real in reals:
        groups.setdefault(real.stem, []).append(real)
    common = {stem: Path(os.path.commonpath([str(r.parent) for r in group])) for stem, group in groups.items()}
    base = {real: real.parent.relative_to(common[real.stem]) / real.stem for real in reals}
    alike = Counter(base.values())
    chosen: dict[Path, str] = {}
    for real in reals:
        stem = base[real] if alike[base[real]] == 1 else base[real].with_name(f"{real.stem}_{real.suffix[1:]}")
        ext = ".mp4" if real.suffix.lower() in VIDEO_SUFFIXES else ".png"
        name, k = f"{stem}_detected{ext}", 1
        while name in chosen.values():
            k += 1
            name = f"{stem}_{k}_detected{ext}"
        chosen[real] = name
    return {path: chosen[real] for path, real in resolved.items()}


def check_output_folder(folder: Path, what: str = "in output folder") -> None:
    """Create ``folder`` if needed and make sure a file can be written in it (OSError naming it if not).

    ``what`` completes the message ``cannot write WHAT FOLDER: why``."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output folder {folder} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = "a file is in the way of that folder" if isinstance(exc, (FileExistsError, NotADirectoryError)) \
            else exc.strerror or str(exc)
        raise OSError(f"cannot write {what} {folder}: {why}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so ``path``
    never holds a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pyramid_levels(image_size: tuple[int, int], window: tuple[int, int], scale_factor: float) -> int:
    """How many pyramid levels the detector scans on an image (at most; 0 if the window does not fit)."""
    fit = min(image_size[0] / window[0], image_size[1] / window[1])
    return 0 if fit < 1 else int(math.log(fit) / math.log(scale_factor)) + 1


def _check_levels(path: Path, image_size: tuple[int, int], cascade, scale_factor: float) -> None:
    window = cascade.cascade.window_size  # a PreparedCascade / PreparedLbpCascade keeps its cascade
    levels = pyramid_levels(image_size, window, scale_factor)
    if levels > MAX_PYRAMID_LEVELS:
        low = math.exp(math.log(min(image_size[0] / window[0], image_size[1] / window[1])) / MAX_PYRAMID_LEVELS)
        raise ValueError(f"--scale-factor {scale_factor:g} gives {levels:,} pyramid levels on this "
                         f"{image_size[0]}x{image_size[1]} image, more than {MAX_PYRAMID_LEVELS}: "
                         f"use at least {low:.4f}")


def _as_records(boxes: np.ndarray, scores: np.ndarray, factor: float = 1.0) -> list[dict]:
    if factor != 1.0:
        boxes = np.rint(np.asarray(boxes, dtype=np.float64) * factor).astype(np.int64)
    return [{"box": [int(v) for v in box], "score": float(score)} for box, score in zip(boxes, scores)]


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, downscale: bool = False) -> np.ndarray:
    """Image file -> grey ``(H, W)`` or RGB/RGBA array, keeping 16-bit grey as uint16 (refused over
    ``max_pixels`` unless ``downscale``; see ``vj.sample_files.read_image_file``)."""
    return read_image_file(path, max_pixels, downscale)[0]


def _detect_image(path: Path, out_file: Path, cascade, params: dict, args: argparse.Namespace) -> list[dict]:
    from PIL import Image

    from .detect import detect_multi_scale
    from .draw import draw_boxes

    image, factor = read_image_file(path, args.max_pixels, args.downscale)
    _check_levels(path, (image.shape[1], image.shape[0]), cascade, params["scale_factor"])
    scaled = dict(params)
    if factor != 1.0:  # box sizes are given in original pixels
        scaled.update({key: max(1, round(params[key] / factor)) for key in ("min_size", "max_size")
                       if params[key] is not None})
    boxes, scores = detect_multi_scale(image, cascade, **scaled)
    buffer = io.BytesIO()
    Image.fromarray(draw_boxes(image, boxes, scores)).save(buffer, format="PNG")
    write_atomic(out_file, buffer.getvalue())
    note = f" (shrunk by {factor:.2f} to {image.shape[1]}x{image.shape[0]})" if factor != 1.0 else ""
    print(f"{path}: {len(boxes)} detections{note}")
    return _as_records(boxes, scores, factor)


def _detect_video(path: Path, out_file: Path, cascade, params: dict, max_pixels: int) -> list[list[dict]]:
    try:
        import av
    except ImportError as exc:
        raise RuntimeError("reading videos needs PyAV: pip install 'facestack[video]'") from exc
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_file.parent, prefix=f".{out_file.stem}.", suffix=".tmp.mp4")
    os.close(fd)
    try:
        frames_out, detect_seconds = _transcode(av, path, Path(tmp), cascade, params, max_pixels)
        os.replace(tmp, out_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fps = len(frames_out) / detect_seconds if detect_seconds > 0 else float("inf")
    print(f"{path}: {len(frames_out)} frames, {sum(map(len, frames_out))} detections, {fps:.1f} frames per second")
    return frames_out


def _transcode(av, path: Path, out_file: Path, cascade, params: dict,
               max_pixels: int) -> tuple[list[list[dict]], float]:
    """Detect on every frame of ``path``, writing the annotated frames to ``out_file``; returns the
    per-frame records and the seconds spent detecting. Frames over ``max_pixels`` (by the stream's
    header) are refused before any is decoded."""
    from .detect import detect_multi_scale
    from .draw import draw_boxes

    frames_out: list[list[dict]] = []
    detect_seconds = 0.0
    with av.open(str(path)) as source, av.open(str(out_file), "w", format="mp4") as sink:
        in_stream = source.streams.video[0]
        width, height = in_stream.codec_context.width, in_stream.codec_context.height
        if width * height > max_pixels:
            raise ValueError(f"{path}: frames of {width}x{height} = {width * height:,} pixels, over --max-pixels "
                             f"{max_pixels:,}")
        rate = in_stream.average_rate or 25
        out_stream = None
        for frame in source.decode(in_stream):
            rgb = frame.to_ndarray(format="rgb24")
            if not frames_out:
                _check_levels(path, (rgb.shape[1], rgb.shape[0]), cascade, params["scale_factor"])
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
    return frames_out, detect_seconds


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
