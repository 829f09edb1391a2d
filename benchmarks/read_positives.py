"""Reading UTKFace chips as cascade positives: one reader thread against one per CPU, same run.

Times ``vj.positives.read_crop_folder`` with the shipped cascade's augmentations (box
jitter 0.1, rotation up to 12 degrees, blur up to 0.8 px, 20 x 20 window) over the first
``--limit`` chips, first with one thread (the reader as it was before it used threads),
then with one per CPU, and checks that both give the same windows byte for byte. The
whole 23,707-chip read counts in a training's time, which issue #16 wants at most 20
minutes.

    python benchmarks/read_positives.py                 # 3,000 chips
    python benchmarks/read_positives.py --limit 23707   # all of them
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import vj.positives  # noqa: E402
from facestack.cascade_data import UTKFACE_CHIP_BOX  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None,
                   help="shared data folder (default: $FACESTACK_DATA or ../shared/data)")
    p.add_argument("--limit", type=int, default=3000, help="chips to read (the first, by name)")
    args = p.parse_args(argv)
    if args.limit < 1:
        raise SystemExit("read_positives: --limit must be >= 1")
    folder = (args.data or Path(os.environ.get("FACESTACK_DATA", Path(__file__).resolve().parents[1] / ".." /
                                               "shared" / "data"))) / "utkface" / "UTKFace"
    if not folder.is_dir():
        raise SystemExit(f"read_positives: no UTKFace folder at {folder} (pass --data or set FACESTACK_DATA)")
    settings = dict(box=UTKFACE_CHIP_BOX, limit=args.limit, jitter=0.1, rotate=12, blur=0.8, seed=0)
    all_threads = vj.positives._reader_threads()
    vj.positives.read_crop_folder(folder, (20, 20), **{**settings, "limit": 20})  # warm-up: imports, Numba resize
    timings, windows = {}, {}
    for threads in (1, all_threads):
        vj.positives._reader_threads = lambda threads=threads: threads
        start = time.perf_counter()
        windows[threads], _ = vj.positives.read_crop_folder(folder, (20, 20), **settings)
        timings[threads] = time.perf_counter() - start
    n = len(windows[1])
    print(f"{n:,} chips from {folder}: 1 thread {timings[1]:.1f} s ({timings[1] / n * 1e3:.1f} ms a chip), "
          f"{all_threads} threads {timings[all_threads]:.1f} s; speed-up {timings[1] / timings[all_threads]:.2f}x; "
          f"identical windows: {np.array_equal(windows[1], windows[all_threads])}")
    print(f"all 23,707 chips at the {all_threads}-thread rate: about {timings[all_threads] / n * 23707 / 60:.1f} min "
          f"(issue #16: the whole training in <= 20 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
