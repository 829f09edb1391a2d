"""How fast the batch loader delivers batches (batch 64, 128x128 grayscale by default).

    python benchmarks/loader.py                      # the UTKFace cache if ../shared/data exists
    python benchmarks/loader.py --synthetic 20000    # random images in memory instead

Prints batches per second with and without augmentation, consumed as fast as
possible (the loader's ceiling), and the ratio to the paper's multi-task
network's training step (~145 images/s = ~2.3 batches/s of 64 in PyTorch here).
The loader should be at least 10x that; the project aims at >= 50 batches/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from facestack.data import Augment, BatchLoader, PreprocessSettings, build_cache, read_utkface  # noqa: E402

TRAINING_STEP_BATCHES_PER_S = 145 / 64  # the paper's joint network in PyTorch on this machine


def find_utkface() -> Path | None:
    """$FACESTACK_DATA/utkface or ../shared/data/utkface, when present."""
    env = os.environ.get("FACESTACK_DATA")
    for base in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (base / "utkface").is_dir():
            return base / "utkface"
    return None


def measure(loader: BatchLoader, batches: int) -> float:
    """Batches per second over ``batches`` batches (after one warm-up batch)."""
    done = 0
    started = None
    while done < batches:
        for batch in loader:
            if started is None:
                started = time.perf_counter()
                continue
            assert batch.x.dtype == np.float32
            done += 1
            if done >= batches:
                break
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="UTKFace folder (default: the shared data)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--synthetic", type=int, default=0, help="use N random images instead of a data set")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--prefetch", type=int, default=2)
    args = parser.parse_args()

    data_path = Path(args.data) if args.data else find_utkface()
    if args.synthetic or data_path is None:
        n = args.synthetic or 20000
        images = np.random.default_rng(0).integers(0, 256, (n, 1, args.size, args.size), dtype=np.uint8)
        labels = {"gender": np.zeros(n, np.int64)}
        source = f"synthetic {n} images in memory"
    else:
        faces = read_utkface(data_path)
        cache = build_cache(faces, PreprocessSettings(size=args.size, color="gray"), args.cache_dir, progress=True)
        images, labels = cache.images, cache.labels("paper")
        source = f"UTKFace cache (memory-mapped) {tuple(images.shape)}"
    print(f"source: {source}; batch {args.batch_size}; prefetch {args.prefetch}; {args.batches} batches each")
    for name, augment in (("no augmentation", None), ("augmentation (crop pad 8, flip, brightness 0.1)", Augment())):
        loader = BatchLoader(images, labels, batch_size=args.batch_size, augment=augment, prefetch=args.prefetch)
        rate = measure(loader, args.batches)
        print(
            f"{name:<50} {rate:8.1f} batches/s  {rate * args.batch_size:9.0f} images/s  "
            f"{rate / TRAINING_STEP_BATCHES_PER_S:6.1f}x the training step"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
