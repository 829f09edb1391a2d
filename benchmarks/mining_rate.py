"""How fast the negative miner evaluates background windows, as cascade training uses it.

Mines with the shipped cascade (``vj/data/haarcascades/frontalface_vj.xml``, 23 stages;
``--cascade`` for another) cut after a few stage counts, from the ``backgrounds/``
photographs, with the trainer's own ``vj.mining.NegativeMiner`` and a seeded random source, and prints for each cut the
windows evaluated per second, the share the cascade accepts, and the negatives found per
second. Late stages of a training spend most of their time here: a negative costs
``1 / acceptance`` windows, hundreds of thousands for the shipped cascade's last stage. The
reference, in the same run: OpenCV 4's ``detectMultiScale`` (``cv2``, the ``ref`` extra)
scanning some of the same backgrounds with the same cut cascade at scale 1.1 and
min_neighbors 0, in windows of its scan grid per second (a scan skips the next window
after a first-stage rejection and reads neighbouring windows from cache, the miner's
random windows get neither, so the ratio is a hard one for the miner). Issue
#16's target is the shipped cascade's whole training in at most 20 minutes; the
trainer's sidecar has the per-stage mining seconds. The same command run from an older
checkout (a git worktree) gives the before / after figures in docs/performance.md.

    python benchmarks/mining_rate.py                       # cuts after 5, 15 and 23 stages
    git show 68da348:vj/data/haarcascades/frontalface_vj.xml > /tmp/frontalface_26.xml
    python benchmarks/mining_rate.py --cascade /tmp/frontalface_26.xml --stages 5 15 25   # docs/performance.md's
    python benchmarks/mining_rate.py --stages 10 20 --negatives 200
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None,
                   help="shared data folder (default: $FACESTACK_DATA or ../shared/data)")
    p.add_argument("--cascade", type=Path, default=None,
                   help="cascade XML to mine with (default: vj's shipped frontalface_vj.xml)")
    p.add_argument("--stages", type=int, nargs="+", default=[5, 15, 23], help="stage counts to cut the cascade at")
    p.add_argument("--negatives", type=int, default=300, help="negatives to mine at each cut")
    p.add_argument("--backgrounds", type=int, default=400, help="background images to read (the first N, sorted)")
    p.add_argument("--opencv-images", type=int, default=100,
                   help="backgrounds OpenCV scans for the reference (0: no reference)")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before NumPy / Numba load
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.thread_env import pin_threads

    pin_threads(ARGS.threads)

import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import vj  # noqa: E402
from vj.cascade import Cascade  # noqa: E402
from vj.detect import plan_scan  # noqa: E402
from vj.mining import NegativeMiner  # noqa: E402
from vj.opencv_xml import save_cascade  # noqa: E402
from vj.positives import image_files, read_gray  # noqa: E402


def data_dir(given: Path | None) -> Path:
    folder = given or Path(os.environ.get("FACESTACK_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" /
                                          "data"))
    if not (folder / "backgrounds").is_dir():
        raise SystemExit(f"mining_rate: no backgrounds/ folder under {folder} (pass --data or set FACESTACK_DATA)")
    return folder


def opencv_windows_per_second(cascade: Cascade, images: list[np.ndarray], threads: int) -> float | None:
    """Windows of the scan grid per second of OpenCV 4's ``detectMultiScale`` (scale 1.1, min_neighbors 0,
    min size the window) over ``images``, best of two passes; None without ``cv2``."""
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(threads)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cut.xml")
        save_cascade(cascade, path)
        classifier = cv2.CascadeClassifier(path)
    windows = sum(int(levels[5][-1]) for _, _, levels in (plan_scan(image, cascade, 1.1, cascade.window_size)
                                                          for image in images) if levels is not None)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for image in images:
            classifier.detectMultiScale(image, scaleFactor=1.1, minNeighbors=0, minSize=cascade.window_size)
        best = min(best, time.perf_counter() - start)
    return windows / best


def main() -> int:
    args = ARGS
    if args.negatives < 1 or args.backgrounds < 1 or args.opencv_images < 0 or any(s < 1 for s in args.stages):
        raise SystemExit("mining_rate: --negatives, --backgrounds and --stages must be >= 1, --opencv-images >= 0")
    folder = data_dir(args.data)
    try:
        cascade = vj.load_cascade(args.cascade)
    except (OSError, ValueError) as error:
        raise SystemExit(f"mining_rate: --cascade {args.cascade}: {error}") from None
    backgrounds = [read_gray(path) for path in image_files(folder / "backgrounds")[: args.backgrounds]]
    miner = NegativeMiner(backgrounds, cascade.window_size)
    for warm in (1, 12):  # compile (or load) the serial and the parallel kernels outside the timings
        miner.mine(dataclasses.replace(cascade, stages=cascade.stages[:warm]), 10, np.random.default_rng(0))
    name = "shipped cascade" if args.cascade is None else args.cascade
    print(f"{len(backgrounds)} backgrounds from {folder / 'backgrounds'}, {name} ({len(cascade.stages)} stages), "
          f"{args.negatives} negatives per cut, {args.threads} threads")
    for stages in args.stages:
        cut = dataclasses.replace(cascade, stages=cascade.stages[: min(stages, len(cascade.stages))])
        result = miner.mine(cut, args.negatives, np.random.default_rng(stages))
        unique = len(np.unique(result.windows.reshape(len(result.windows), -1), axis=0))
        rate = result.windows_tried / result.seconds
        print(f"  {len(cut.stages):2d} stages: {rate / 1e6:6.2f} M windows/s, "
              f"acceptance {result.acceptance_ratio:.2e}, {result.per_second:8.1f} negatives/s "
              f"({result.seconds:.1f} s; {unique} of {len(result.windows)} negatives distinct)")
        reference = opencv_windows_per_second(cut, backgrounds[: args.opencv_images], args.threads) \
            if args.opencv_images > 0 else None
        if reference is not None:
            print(f"            OpenCV scanning {min(args.opencv_images, len(backgrounds))} of the backgrounds: "
                  f"{reference / 1e6:6.2f} M windows/s; miner / OpenCV {rate / reference:.2f}")
        elif args.opencv_images > 0:
            print("            no reference: OpenCV 4 (cv2) is not installed (pip install -e '.[ref]')")
    print("issue #16's target is the shipped cascade's whole training in <= 20 minutes: the trainer's sidecar "
          "(OUT.train.json) has each stage's mining and boosting seconds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
