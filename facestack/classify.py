"""Detect, then classify: vj face detection, chip-framed crops, the multi-task age/gender network.

    facestack classify photo.jpg --json faces.json      # the shipped model and cascade
    facestack classify photo.jpg --model runs/multitask-best --out photo_labelled.png
    facestack classify clip.mp4 --out clip_labelled.mp4 --every 3
    facestack classify /dev/video0 --out camera.mp4 --max-frames 500

(``facestack-classify`` and ``python experiments/detect_and_classify.py`` are the same command.)

For each image or video (a file read with PyAV, or a camera device path such as /dev/video0)
it finds faces with a vj cascade (``--cascade``, default vj's shipped one; the real-time
settings scale factor 1.2 and 5 neighbours; boxes down to the cascade's 20 px window in an image,
of 60 px or more in a video or camera, where speed counts), crops each face framed as the
UTKFace chips the network learnt from (:mod:`facestack.framing`), prepares the crops as
training did and classifies all faces of a frame in one forward pass
(:mod:`facestack.pipeline`). It writes the annotated image or video (box, ``F 31-45``,
gender and age-bin probabilities) and a JSON file beside it (per image or frame: each face's
box, crop, gender, gender probability, age bin, age-bin probability), and prints the frames
per second and how the time splits between detection, crop preparation and classification.

``--every N`` classifies every Nth frame of a video; a face in the frames between keeps the
labels of the box it continues (greatest IoU with the previous frame's boxes, at least 0.3),
a new face stays unlabelled until the next classified frame.

``--out`` names the output file when there is one input (``.png``/``.jpg`` for an image,
``.mp4``/... for a video; the JSON gets the suffix ``.json``), else a folder receiving
``NAME_classified.png`` / ``.mp4`` and ``NAME_classified.json`` per input; inputs from
different folders keep their path relative to the folder they share, so two ``photo.jpg``
never write the same output.

Bad input never stops the batch: an input that fails is reported in one line and the
others go on; a summary with the count of failures ends the run, and the exit status is
1 when any input failed (2 for a wrong option or model, 130 for Ctrl-C). Nothing that
exists is overwritten without ``--overwrite`` (checked, with the output folder's
writability, before the model is loaded), and every file is written to a temporary name
and renamed into place. An image over ``--max-pixels`` (default 50 megapixels) is
refused from its header, before it is decoded, unless ``--downscale`` asks to shrink it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

import vj
from facestack.analysis import MAX_PIXELS, VIDEO_MIN_SIZE
from facestack.data.images import read_image
from facestack.cli import DEBUG_FLAG, DEBUG_HELP, Parser, describe_error, run_command
from facestack.data.validate import UsageError, atomic_write, atomic_write_text, check_number, check_writable_folder
from facestack.framing import SHIPPED_CASCADE_FRAMING, FaceFraming, measure_framing
from facestack.first_run import announce_first_compile, mark_compiled
from facestack.pipeline import (FaceClassifier, draw_faces, face_batch, face_records,
                                       load_classifier, match_boxes)

PROG = "facestack classify"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
STAGES = ("detection", "preparation", "classification")
#: What a face on a frame that is not classified takes over from the box it continues.
LABEL_KEYS = ("gender", "gender_prob", "age_bin", "age_prob", "label", "from_frame")


class Pipeline:
    """Detection, crops and classification of successive frames, with the time each stage takes.

    Args:
        classifier: the trained network and its preprocessing.
        cascade: the detector, prepared once.
        framing: how a detector box becomes a chip-like crop.
        detector: ``detect_multi_scale`` keyword arguments (scale_factor, min_neighbors, min_size).
        every: classify frames ``0, every, 2 every, ...``; the others reuse labels by IoU.
        threads: Numba threads of the thread that detects and classifies video frames.
    """

    def __init__(self, classifier: FaceClassifier, cascade: vj.PreparedCascade, framing: FaceFraming,
                 detector: dict[str, Any], every: int = 1, threads: int = 1) -> None:
        self.classifier, self.cascade, self.framing = classifier, cascade, framing
        self.detector, self.every, self.threads = detector, every, threads
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.frames = self.classified_frames = self.faces = 0
        self.warm_up_seconds = 0.0
        self._previous: tuple[np.ndarray, list[dict[str, Any]]] = (np.zeros((0, 4)), [])

    def warm_up(self, width: int, height: int) -> None:
        """Compile the detector and network kernels for this frame size (not counted in the timing)."""
        started = time.perf_counter()
        vj.detect_multi_scale(np.zeros((height, width), np.uint8), self.cascade, **self.detector)
        size = self.classifier.preprocess.size
        self.classifier.classify(np.zeros((1, 1, *size), np.float32))
        self.warm_up_seconds += time.perf_counter() - started

    def process(self, image: Image.Image, index: int = 0) -> list[dict[str, Any]]:
        """Faces of one frame: detect, and classify (frame ``index`` a multiple of ``every``) or carry labels."""
        t0 = time.perf_counter()
        gray = np.asarray(image.convert("L"))  # Pillow's "L", as the training images
        boxes, scores = vj.detect_multi_scale(gray, self.cascade, **self.detector)
        t1 = time.perf_counter()
        crops = self.framing.crop_boxes(boxes)
        if index % self.every == 0:
            x = face_batch(gray, crops, self.classifier.preprocess)
            t2 = time.perf_counter()
            gender_probs, age_probs = self.classifier.classify(x)
            t3 = time.perf_counter()
            faces = face_records(self.classifier, boxes, scores, crops, gender_probs, age_probs)
            for face in faces:
                face["from_frame"] = index
            self.classified_frames += 1
        else:
            t2 = t3 = time.perf_counter()
            previous_boxes, previous_faces = self._previous
            faces = []
            for k, j in enumerate(match_boxes(boxes, previous_boxes)):
                face = {"box": [int(v) for v in boxes[k]], "detection_score": float(scores[k]),
                        "crop": [int(v) for v in crops[k]]}
                face.update({key: previous_faces[j].get(key) if j >= 0 else None for key in LABEL_KEYS})
                faces.append(face)
        self._previous = (boxes, faces)
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
            self.seconds[stage] += seconds
        self.frames += 1
        self.faces += len(faces)
        return faces

    def timing(self, wall_seconds: float) -> dict[str, Any]:
        """Frames per second of the three stages and overall, and the per-frame milliseconds of each stage."""
        busy = sum(self.seconds.values())
        frames = max(self.frames, 1)
        return {"frames": self.frames, "classified_frames": self.classified_frames, "faces": self.faces,
                "fps_pipeline": self.frames / busy if busy > 0 else None,
                "fps_overall": self.frames / wall_seconds if wall_seconds > 0 else None,
                "ms_per_frame": {stage: 1000 * s / frames for stage, s in self.seconds.items()},
                "share": {stage: s / busy if busy > 0 else None for stage, s in self.seconds.items()},
                "warm_up_s": self.warm_up_seconds, "wall_s": wall_seconds}


def timing_line(timing: dict[str, Any]) -> str:
    """One line: fps and the split of time between the stages."""
    if not timing["frames"] or timing["fps_pipeline"] is None:
        return "no frames timed"
    split = ", ".join(f"{stage} {timing['ms_per_frame'][stage]:.1f} ms ({100 * timing['share'][stage]:.0f}%)"
                      for stage in STAGES)
    return (f"{timing['fps_pipeline']:.1f} frames/s for detection + classification ({split}); "
            f"{timing['fps_overall']:.1f} frames/s including decoding, drawing and writing")


def output_paths(inputs: list[str], out: Path) -> list[Path]:
    """The annotated output file of each input (its JSON takes the suffix ``.json``), all distinct.

    Several inputs: ``out/REL/STEM_classified.png`` (``.mp4`` for a video), where REL is the
    input's folder relative to the folder all inputs share; two inputs that would still
    meet (``a.jpg`` and ``a.png``) keep their suffix in the name (``a_jpg_classified.png``).
    Raises UsageError for an input given twice and for a file ``--out`` with several inputs.
    """
    kinds = [input_kind(name) for name in inputs]
    if out.suffix:
        if len(inputs) != 1:
            raise UsageError(f"--out {out} names a file, but there are {len(inputs)} inputs: give a folder")
        wanted = IMAGE_SUFFIXES if kinds[0] == "image" else VIDEO_SUFFIXES
        if out.suffix.lower() not in wanted:
            raise UsageError(f"--out {out}: the input is {'an image' if kinds[0] == 'image' else 'a video'}, so the "
                             f"output needs one of {', '.join(sorted(wanted))}")
        return [out]
    resolved = [Path(os.path.abspath(name)) for name in inputs]
    seen: dict[Path, str] = {}
    for name, path in zip(inputs, resolved):
        if path in seen:
            raise UsageError(f"{name} is given twice (also as {seen[path]})")
        seen[path] = name
    files = [path.parent for path, kind in zip(resolved, kinds) if kind != "camera"]
    common = Path(os.path.commonpath(files)) if files else Path("/")
    relative = [Path() if kind == "camera" else path.parent.relative_to(common)
                for path, kind in zip(resolved, kinds)]
    stems = [(rel / path.stem).as_posix() for rel, path in zip(relative, resolved)]
    outputs = []
    for rel, path, kind, stem in zip(relative, resolved, kinds, stems):
        name = path.stem if stems.count(stem) == 1 else f"{path.stem}_{path.suffix.lstrip('.') or 'camera'}"
        outputs.append(out / rel / f"{name}_classified.{'png' if kind == 'image' else 'mp4'}")
    return outputs


def input_kind(name: str) -> str:
    """``"image"``, ``"video"`` or ``"camera"`` (a /dev/ path); ValueError for anything else."""
    if name.startswith("/dev/"):
        return "camera"
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise ValueError(f"{name}: unknown input type {suffix or '(no suffix)'!r}: images "
                     f"({', '.join(sorted(IMAGE_SUFFIXES))}), videos ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                     "or a camera device (/dev/...)")


def classify_image(path: Path, out: Path, pipeline: Pipeline, max_pixels: int = MAX_PIXELS,
                   downscale: bool = False) -> dict[str, Any]:
    """Annotate one image file (written atomically to ``out``); returns its JSON record."""
    image = read_image(path, max_pixels, downscale)
    pipeline.warm_up(*image.size)
    started = time.perf_counter()
    faces = pipeline.process(image)
    drawn = draw_faces(image, faces)
    atomic_write(out, lambda tmp: drawn.save(tmp, format=Image.registered_extensions().get(out.suffix.lower())))
    return {"width": image.size[0], "height": image.size[1], "faces": faces,
            "timing": pipeline.timing(time.perf_counter() - started)}


def open_video_writer(sink: Any, rate: Any, width: int, height: int) -> Any:
    """An H.264 stream if the PyAV build has the encoder (x264's "veryfast" preset: half the time of
    its default), else MPEG-4 part 2."""
    import av

    for codec in ("libx264", "h264", "mpeg4"):
        try:
            stream = sink.add_stream(codec, rate=rate, options={"preset": "veryfast"} if codec == "libx264" else None)
        except (av.FFmpegError, ValueError, KeyError):
            continue
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        return stream
    raise RuntimeError("this PyAV build has no H.264 or MPEG-4 encoder")


def classify_video(source_name: str, out: Path, pipeline: Pipeline, max_frames: int | None) -> dict[str, Any]:
    """Annotate a video file or camera; returns its JSON record (also written beside ``out``)."""
    try:
        import av
    except ImportError as error:
        raise RuntimeError("videos need PyAV: pip install 'facestack[video]'") from error
    camera = source_name.startswith("/dev/")
    if not camera and not Path(source_name).is_file():
        raise FileNotFoundError(f"no such video: {source_name}")
    try:
        source = av.open(source_name, format="v4l2" if camera else None)
    except (av.FFmpegError, OSError) as error:
        raise ValueError(f"cannot open video {source_name}: {error}") from None
    if not source.streams.video:
        source.close()
        raise ValueError(f"{source_name} holds no video stream")
    frames: list[dict[str, Any]] = []
    # Two stages on two cores: a worker thread detects and classifies frame t while this thread
    # draws and encodes frame t-1 and decodes frame t+1 (Numba, NumPy and the codecs release the GIL).
    worker = ThreadPoolExecutor(1, thread_name_prefix="detect-classify", initializer=_compute_thread_setup,
                                initargs=(pipeline.threads,))
    with source, av.open(str(out), "w") as sink, worker:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        writer, started, pending = None, 0.0, None

        def finish(job: tuple[int, Any, Image.Image, Any]) -> None:
            """Wait for a frame's faces, record them, draw and encode the frame."""
            index, frame, image, future = job
            faces = future.result()
            frames.append({"frame": index, "time_s": None if frame.time is None else round(float(frame.time), 4),
                           "classified": index % pipeline.every == 0, "faces": faces})
            drawn = draw_faces(image, faces).crop((0, 0, writer.width, writer.height))
            for packet in writer.encode(av.VideoFrame.from_image(drawn)):
                sink.mux(packet)

        try:
            for index, frame in enumerate(source.decode(stream)):
                if max_frames is not None and index >= max_frames:
                    break
                image = frame.to_image()
                if writer is None:  # first frame: compile for its size, then start the clock
                    worker.submit(pipeline.warm_up, *image.size).result()
                    started = time.perf_counter()
                    writer = open_video_writer(sink, stream.average_rate or 25, image.size[0] // 2 * 2,
                                               image.size[1] // 2 * 2)
                job = (index, frame, image, worker.submit(pipeline.process, image, index))
                if pending is not None:
                    finish(pending)
                pending = job
            if pending is not None:
                finish(pending)
        except KeyboardInterrupt:  # a camera runs until stopped: keep what was recorded
            print(f"{PROG}: stopped after {len(frames)} frames", file=sys.stderr)
        except av.FFmpegError as error:
            raise ValueError(f"{source_name}: decoding failed after {len(frames)} frames: {error}") from None
        if writer is not None:
            for packet in writer.encode():
                sink.mux(packet)
        wall = time.perf_counter() - started
    if not frames:
        raise ValueError(f"{source_name}: no video frames could be decoded")
    return {"width": image.size[0], "height": image.size[1], "every": pipeline.every,
            "frames": frames, "timing": pipeline.timing(wall)}


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module doc)."""
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="IMAGE_VIDEO_OR_CAMERA")
    p.add_argument("--model", help="run folder of experiments/multitask.py (settings.json + best.npz/model.npz), "
                                   "or a folder written by facestack export-model; "
                                   "default: the model shipped with facestack (docs/model_card.md)")
    p.add_argument("--json", metavar="FILE", help="also write every input's face records into one JSON file")
    p.add_argument("--out", default="classified", help="output file (one input) or folder (default ./classified)")
    p.add_argument("--cascade", help="OpenCV cascade XML (default: vj's shipped frontal-face cascade)")
    p.add_argument("--scale-factor", type=float, default=1.2, help="detector pyramid step (default 1.2)")
    p.add_argument("--min-neighbors", type=int, default=5, help="detector grouping threshold (default 5)")
    p.add_argument("--min-size", type=int, default=None,
                   help=f"smallest face box side in pixels (default: images down to the cascade's window, "
                        f"20 px for the shipped one; videos and cameras {VIDEO_MIN_SIZE})")
    p.add_argument("--every", type=int, default=1, help="classify every Nth video frame (default 1: all)")
    p.add_argument("--max-frames", type=int, help="stop a video or camera after this many frames")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for detection and classification (default 1: on a video the other core "
                        "decodes, draws and encodes the frames meanwhile; tiny batches gain little from more)")
    p.add_argument("--framing", help="SCALE,DX,DY crop of a detector box (default: measured for the shipped "
                                     f"cascade, {SHIPPED_CASCADE_FRAMING.scale},{SHIPPED_CASCADE_FRAMING.dx},"
                                     f"{SHIPPED_CASCADE_FRAMING.dy})")
    p.add_argument("--measure-framing", metavar="UTKFACE_DIR", help="print the framing of --cascade measured on "
                                                                    "UTKFace chips, and exit")
    p.add_argument("--chips", type=int, default=500, help="--measure-framing: chips to use (default 500)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"refuse images of more pixels than this, from their header (default {MAX_PIXELS:,})")
    p.add_argument("--downscale", action="store_true", help="shrink images over --max-pixels instead of refusing them")
    p.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    return p


def parse_framing(text: str | None, custom_cascade: bool) -> FaceFraming:
    """``--framing SCALE,DX,DY``, or the shipped cascade's measured framing."""
    if text is None:
        if custom_cascade:
            print(f"{PROG}: note: the default framing was measured for the shipped cascade; measure this "
                  "cascade's with --measure-framing UTKFACE_DIR --cascade ... and pass --framing", file=sys.stderr)
        return SHIPPED_CASCADE_FRAMING
    try:
        scale, dx, dy = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--framing needs three numbers SCALE,DX,DY, got {text!r}") from None
    check_number(scale, "--framing scale", above=0.0, maximum=10.0)
    check_number(dx, "--framing dx", minimum=-10.0, maximum=10.0)
    check_number(dy, "--framing dy", minimum=-10.0, maximum=10.0)
    return FaceFraming(scale, dx, dy)


def _compute_thread_setup(count: int) -> None:
    """In the detection/classification thread: Numba's thread count is per thread, so set it there too."""
    import numba

    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def limit_threads(count: int) -> Iterator[None]:
    """Inside the block: ``count`` threads in Numba (the detector's scan, minicnn's kernels; this thread)
    and in OpenBLAS (minicnn's matrix products, through :func:`minicnn.parallel.blas_threads`)."""
    import numba

    from minicnn.parallel import blas_threads

    before = numba.get_num_threads()
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        with blas_threads(count) as limited:
            if not limited:  # NumPy without OpenBLAS: its BLAS keeps its own threads
                print(f"{PROG}: note: NumPy's BLAS is not OpenBLAS; set OMP_NUM_THREADS={count} before "
                      "starting to limit its threads", file=sys.stderr)
            yield
    finally:
        numba.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 0, 1 (an input failed), 2 (bad arguments or model) or 130 (Ctrl-C)."""
    return run_command(PROG, _main, argv)


def existing_outputs(outputs: list[Path], json_path: str | None) -> list[Path]:
    """The files this run would write that already exist (annotated files, their JSON, ``--json``)."""
    wanted = [f for out in outputs for f in (out, out.with_suffix(".json"))]
    wanted += [Path(json_path)] if json_path else []
    return [f for f in wanted if f.exists()]


def _check_options(args: argparse.Namespace) -> None:
    """Every numeric option in range (UsageError naming it), before anything is loaded."""
    check_number(args.every, "--every", integer=True, minimum=1, maximum=100_000)
    check_number(args.scale_factor, "--scale-factor", above=1.0, maximum=4.0)
    check_number(args.min_neighbors, "--min-neighbors", integer=True, minimum=0, maximum=1000)
    check_number(args.min_size, "--min-size", integer=True, minimum=1, maximum=100_000, optional=True)
    check_number(args.threads, "--threads", integer=True, minimum=1, maximum=1024)
    check_number(args.max_frames, "--max-frames", integer=True, minimum=1, optional=True)
    check_number(args.max_pixels, "--max-pixels", integer=True, minimum=1, maximum=2**31 - 1)
    check_number(args.chips, "--chips", integer=True, minimum=1, maximum=100_000)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    _check_options(args)
    try:
        cascade = vj.prepare_cascade(vj.load_cascade(args.cascade))
        if args.measure_framing:
            print(json.dumps(measure_framing(args.measure_framing, args.chips, cascade).to_dict()))
            return 0
        if not args.inputs:
            raise UsageError("give one or more images, videos or cameras (or --measure-framing UTKFACE_DIR)")
        outputs = output_paths(args.inputs, Path(args.out))
        existing = existing_outputs(outputs, args.json)
        if existing and not args.overwrite:
            raise UsageError(f"{existing[0]} exists{f' (and {len(existing) - 1} more outputs)' if len(existing) > 1 else ''}"
                             ": pass --overwrite to replace, or another --out")
        for folder in sorted({out.parent for out in outputs} | ({Path(args.json).parent} if args.json else set())):
            check_writable_folder(folder)
        framing = parse_framing(args.framing, args.cascade is not None)
        if args.model:
            classifier = load_classifier(args.model)
        else:
            from .shipped import load_shipped_classifier

            classifier = load_shipped_classifier()
    except UsageError:
        raise
    except (OSError, ValueError) as error:  # the cascade or the model: as wrong as a wrong option
        raise UsageError(describe_error(error)) from None
    with limit_threads(args.threads):
        return _run_all(args, cascade, framing, classifier, outputs)


def _classify_one(name: str, out: Path, pipeline: Pipeline, args: argparse.Namespace) -> dict[str, Any]:
    """One input's record; its annotated file is written under a temporary name, then renamed to ``out``."""
    if input_kind(name) == "image":
        return classify_image(Path(name), out, pipeline, args.max_pixels, args.downscale)
    records: list[dict[str, Any]] = []
    atomic_write(out, lambda tmp: records.append(classify_video(name, tmp, pipeline, args.max_frames)))
    return records[0]


def detector_settings(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The detector settings for one input: ``--min-size``, else the cascade's window for an
    image and :data:`~facestack.analysis.VIDEO_MIN_SIZE` for a video or camera."""
    min_size = args.min_size
    if min_size is None:
        try:
            min_size = None if input_kind(name) == "image" else VIDEO_MIN_SIZE
        except ValueError:  # an unknown kind fails in _classify_one, with its own message
            min_size = None
    return {"scale_factor": args.scale_factor, "min_neighbors": args.min_neighbors, "min_size": min_size}


def _run_all(args: argparse.Namespace, cascade: Any, framing: FaceFraming, classifier: FaceClassifier,
             outputs: list[Path]) -> int:
    """Process every input, going on past the ones that fail; returns 0, or 1 when one failed."""
    print(f"model: {classifier.weights} ({classifier.settings.get('variant')}, width "
          f"{classifier.settings.get('width') or 1}; age bins {', '.join(classifier.age_names)})")
    failed: list[str] = []
    records = []
    announce_first_compile()
    for name, out in zip(args.inputs, outputs):
        detector = detector_settings(args, name)
        pipeline = Pipeline(classifier, cascade, framing, detector, args.every, args.threads)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            record = _classify_one(name, out, pipeline, args)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one bad input never stops the batch: report it and go on
            print(f"{PROG}: error: {describe_error(error)}", file=sys.stderr)
            failed.append(name)
            continue
        header = {"input": name, "output": str(out), "model": args.model or "facestack shipped",
                  "weights": str(classifier.weights), "cascade": args.cascade or "vj shipped", "detector": detector,
                  "framing": framing.to_dict()}
        records.append({**header, **record})
        atomic_write_text(json.dumps(records[-1], indent=1), out.with_suffix(".json"))
        mark_compiled()
        print(f"{name}: {pipeline.faces} faces in {pipeline.frames} frame(s) -> {out}; {timing_line(record['timing'])}")
        for k, face in enumerate(record.get("faces", []), 1):
            print(f"  face {k}: box {tuple(face['box'])} {face['gender']} {face['gender_prob']:.2f}, "
                  f"age {face['age_bin']} {face['age_prob']:.2f}")
    if args.json:
        atomic_write_text(json.dumps(records, indent=1) + "\n", args.json)
        print(f"records: {args.json}")
    if len(args.inputs) > 1 or failed:
        print(summary_line(len(args.inputs), failed), file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def summary_line(total: int, failed: list[str]) -> str:
    """``3 inputs: 2 classified, 1 failed (b.png)``: the last line of a batch."""
    line = f"{total} input{'s' if total != 1 else ''}: {total - len(failed)} classified, {len(failed)} failed"
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        line += f" ({shown})"
    return line


if __name__ == "__main__":
    sys.exit(main())
