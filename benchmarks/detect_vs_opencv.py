"""Time vj.detect_multi_scale against OpenCV's CascadeClassifier on the same 640x480 frames.

    python benchmarks/detect_vs_opencv.py [--data DIR] [--frames 20] [--threads 2]

Frames are WebFaces photos (``DIR/webfaces/images``; DIR from --data, $FACESTACK_DATA
or ../shared/data) resized and centre-cropped to 640x480, or scikit-image's astronaut
resized to 640x480 when no data is found. Both detectors get the same grey frames,
cascade and parameters (scale factor / min neighbours / min size 1.1/3/24 and
1.2/5/60) and the same number of threads. Numba compilation is excluded (one warm-up
call first). Prints per-frame times and the speed ratio OpenCV time / vj time
(>= 1 means vj is at least as fast), and whether the boxes agree.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

SETTINGS = [(1.1, 3, 24), (1.2, 5, 60)]
FRAME_SIZE = (640, 480)


def find_data(explicit: str | None) -> Path | None:
    """The shared data folder: --data, $FACESTACK_DATA or ../shared/data beside the checkout."""
    candidates = [explicit, os.environ.get("FACESTACK_DATA"),
                  str(Path(__file__).resolve().parents[1].parent / "shared" / "data")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "webfaces" / "images").is_dir():
            return Path(candidate)
    return None


def load_frames(data: Path | None, count: int) -> tuple[list[np.ndarray], str]:
    """``count`` grey 640x480 uint8 frames and a description of where they came from."""
    from PIL import Image, ImageOps

    if data is not None:
        frames = []
        for path in sorted((data / "webfaces" / "images").glob("*.jpg")):
            with Image.open(path) as img:
                if min(img.size) < 240:
                    continue  # too small to make a sensible 640x480 frame
                frames.append(np.asarray(ImageOps.fit(img.convert("L"), FRAME_SIZE)))
            if len(frames) == count:
                return frames, f"{count} WebFaces photos from {data}"
    import skimage.data

    astronaut = Image.fromarray(skimage.data.astronaut()).convert("L").resize(FRAME_SIZE, Image.BILINEAR)
    return [np.asarray(astronaut)] * count, "scikit-image astronaut resized to 640x480"


def time_per_frame(detect, frames: list[np.ndarray], repeats: int) -> float:
    """Median over repeats of the mean seconds per frame."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for frame in frames:
            detect(frame)
        runs.append((time.perf_counter() - start) / len(frames))
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder holding webfaces/images (default: $FACESTACK_DATA or ../shared/data)")
    parser.add_argument("--cascade", default="haarcascade_frontalface_default.xml",
                        help="cascade file, or a name in cv2.data.haarcascades")
    parser.add_argument("--frames", type=int, default=20, help="number of frames (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both detectors (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, the median is reported (default 3)")
    args = parser.parse_args(argv)

    import cv2
    import numba

    import vj

    cascade_path = args.cascade if Path(args.cascade).is_file() else cv2.data.haarcascades + args.cascade
    cv2.setNumThreads(args.threads)
    numba.set_num_threads(args.threads)
    reference = cv2.CascadeClassifier(cascade_path)
    cascade = vj.prepare_cascade(vj.load_cascade(cascade_path))
    frames, source = load_frames(find_data(args.data), args.frames)
    print(f"cascade {Path(cascade_path).name}, {source}, {args.threads} threads each, "
          f"OpenCV {cv2.__version__}, Numba {numba.__version__}")
    for scale_factor, min_neighbors, min_size in SETTINGS:
        def run_vj(frame):
            return vj.detect_multi_scale(frame, cascade, scale_factor, min_neighbors, min_size)[0]

        def run_cv(frame):
            return reference.detectMultiScale(frame, scale_factor, min_neighbors, minSize=(min_size, min_size))

        run_vj(frames[0])  # compile / warm up
        run_cv(frames[0])
        same = sum(sorted(map(tuple, run_vj(f).tolist())) == sorted(map(tuple, np.asarray(run_cv(f)).reshape(-1, 4)
                                                                      .tolist())) for f in frames)
        vj_time = time_per_frame(run_vj, frames, args.repeats)
        cv_time = time_per_frame(run_cv, frames, args.repeats)
        print(f"scale {scale_factor} / neighbours {min_neighbors} / min size {min_size}: "
              f"vj {vj_time * 1e3:.1f} ms, OpenCV {cv_time * 1e3:.1f} ms per frame, "
              f"ratio OpenCV/vj {cv_time / vj_time:.2f}, identical boxes on {same}/{len(frames)} frames")


if __name__ == "__main__":
    main()
