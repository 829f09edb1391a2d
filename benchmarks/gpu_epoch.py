"""One epoch of the paper's multi-task network on UTKFace on the GPU, checked step by step against the CPU.

1. Data: a single-file cache (``--cache-npz``, written beforehand with ``--make-cache-npz``: the
   128x128 grayscale images, labels and the experiments' seeded split, so a GPU session can carry
   one file instead of the UTKFace folder), or the UTKFace folder (``$FACESTACK_DATA/utkface``),
   cached and split as ``experiments/multitask.py`` does. ``--limit N`` keeps N training images
   and N/8 validation and test images.
2. Comparison: the first ``--compare-steps`` (50) SGD steps on ``--device`` and on the CPU, from the
   same initial weights and the same batches (dropout off, no augmentation): both loss curves and
   their largest relative difference (a CPU epoch would take too long).
3. The full epoch on ``--device`` with the experiments' Trainer (paper network with its dropout,
   validation and test evaluation, checkpoint), printing its per-step loss curve.

    python benchmarks/gpu_epoch.py --make-cache-npz build/utkface-cache.npz [--limit 3500]
    python benchmarks/gpu_epoch.py --cache-npz build/utkface-cache.npz --out "$OUT/epoch"
    python benchmarks/gpu_epoch.py --device cpu --steps 3 --compare-steps 3 --limit 64 --batch-size 16  # smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minicnn import Tensor, backend  # noqa: E402
from minicnn.functions.loss import cross_entropy  # noqa: E402
from facestack.data.loader import BatchLoader  # noqa: E402
from facestack.models import MultiTaskNet, paper_init  # noqa: E402
from minicnn.optim import SGD  # noqa: E402
from minicnn.train import Task, Trainer, TrainConfig, check_finite  # noqa: E402

GENDER_CLASS_NAMES = ("male", "female")  # UTKFace's 0 and 1 (facestack.data.labels.GENDER_NAMES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    p.add_argument("--data", help="UTKFace folder (default $FACESTACK_DATA/utkface or ../shared/data/utkface)")
    p.add_argument("--cache-npz", help="read the images, labels and split from this single-file cache")
    p.add_argument("--make-cache-npz", help="write the single-file cache (from --data) here and stop")
    p.add_argument("--cache-dir", help="folder of the experiments' image caches (default $FACESTACK_CACHE)")
    p.add_argument("--limit", type=int, help="N training images, N/8 validation and test images")
    p.add_argument("--compare-steps", type=int, default=50, help="steps compared with the CPU (0: none)")
    p.add_argument("--steps", type=int, help="stop the epoch after this many steps (smoke tests)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-2,
                   help="largest relative loss difference accepted over the compared steps (step 0: 1e-4)")
    p.add_argument("--out", help="run folder of the epoch (default: a new temporary folder)")
    return p.parse_args(argv)


@dataclass
class EpochData:
    """Images (uint8 (N, 1, 128, 128)), labels by name, the three parts' rows and where they came from."""

    images: np.ndarray
    labels: dict[str, np.ndarray]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    age_class_names: tuple[str, ...]
    description: str


def limited(train: np.ndarray, val: np.ndarray, test: np.ndarray, limit: int | None, seed: int):
    """``limit`` random training rows and limit/8 (at least 8) validation and test rows, as the experiments' --limit."""
    if not limit:
        return train, val, test
    rng = np.random.default_rng([seed, limit])
    n_eval = max(limit // 8, 8)
    return tuple(np.sort(rng.choice(rows, min(n, len(rows)), replace=False))
                 for rows, n in ((train, limit), (val, n_eval), (test, n_eval)))


def data_from_folder(args: argparse.Namespace) -> EpochData:
    """The experiments' 128x128 gray cache of the UTKFace folder and its seeded split (paper bins)."""
    from facestack.data import PreprocessSettings, age_bins, build_cache, read_faces
    from facestack.data.split import split_for_cache
    from facestack.train.cli import default_data_dir

    path = Path(args.data) if args.data else default_data_dir()
    if not path.exists():
        raise SystemExit(f"no data at {path}: pass --data or --cache-npz, or set FACESTACK_DATA")
    started = time.perf_counter()
    cache = build_cache(read_faces(path), PreprocessSettings(size=128, color="gray"), args.cache_dir, progress=False)
    split = split_for_cache(cache, "paper", seed=args.split_seed)
    train, val, test = limited(split.train, split.val, split.test, args.limit, args.split_seed)
    bins = age_bins("paper")
    labels = {"gender": cache.gender, "age_bin": bins.assign(cache.age)}
    return EpochData(cache.images, labels, train, val, test, tuple(bins.labels()),
                     f"{path} via cache {cache.directory} ({time.perf_counter() - started:.0f} s to open or build)")


def write_cache_npz(data: EpochData, path: Path) -> None:
    """Keep only the rows of the three parts and write them, their labels and the split to one compressed .npz.

    Keys: ``images`` uint8 (N, 1, 128, 128); ``gender`` and ``age_bin`` (N,) (the paper's bins, -1 outside);
    ``train``, ``val``, ``test`` int64 rows into those; ``age_class_names`` (K,); ``description`` (the source).
    Written to a temporary file renamed into place, so a partial file never has the final name.
    """
    rows = np.concatenate([data.train, data.val, data.test])
    order = np.sort(rows)
    images = np.asarray(data.images[order])
    parts = {name: np.searchsorted(order, rows_of_part)
             for name, rows_of_part in (("train", data.train), ("val", data.val), ("test", data.test))}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, images=images, gender=data.labels["gender"][order],
                                age_bin=data.labels["age_bin"][order], age_class_names=np.asarray(data.age_class_names),
                                description=np.asarray(data.description), **parts)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def data_from_npz(path: Path, limit: int | None, split_seed: int) -> EpochData:
    """Read a file written by :func:`write_cache_npz` (no pickle)."""
    if not path.is_file():
        raise SystemExit(f"no cache file at {path}: write one with --make-cache-npz")
    with np.load(path, allow_pickle=False) as z:
        images, gender, age_bin = z["images"], z["gender"], z["age_bin"]
        train, val, test = limited(z["train"], z["val"], z["test"], limit, split_seed)
        names, description = tuple(str(n) for n in z["age_class_names"]), str(z["description"])
    return EpochData(images, {"gender": gender, "age_bin": age_bin}, train, val, test, names,
                     f"{path} ({path.stat().st_size / 2**20:.1f} MiB; made from {description})")


def initial_state(seed: int) -> dict[str, np.ndarray]:
    """The paper network's weights after the authors' initialisation seeded as the experiments seed it."""
    model = paper_init(MultiTaskNet(variant="paper", dropout=0.0), rng=np.random.default_rng([seed, 1]))
    return {name: value.copy() for name, value in model.state_dict().items()}


def first_steps(device: str, data: EpochData, state: dict[str, np.ndarray],
                args: argparse.Namespace) -> tuple[list[float], float]:
    """Losses (gender + age cross-entropy) of the first ``--compare-steps`` steps on ``device``; seconds per step."""
    model = MultiTaskNet(variant="paper", dropout=0.0)
    model.load_state_dict(state)
    model.to(device)
    optimizer = SGD(model.parameters(), args.lr, momentum=0.9, weight_decay=1e-4)
    loader = BatchLoader(data.images, data.labels, data.train, batch_size=args.batch_size, shuffle=True,
                                  drop_last=True, seed=args.seed, prefetch=0, device=device)
    if len(loader) == 0:
        return [], 0.0

    def batches():  # epoch after epoch (a --limit'ed training part may be shorter than the compared steps)
        for epoch in range(args.compare_steps):
            loader.set_epoch(epoch)
            yield from loader

    losses: list[float] = []
    started = time.perf_counter()
    for step, batch in zip(range(args.compare_steps), batches()):
        optimizer.zero_grad()
        gender, age = model(Tensor(batch.x))
        loss = cross_entropy(gender, batch.labels["gender"]) + cross_entropy(age, batch.labels["age_bin"])
        losses.append(check_finite(loss, step))  # .item(): waits for the device
        loss.backward()
        optimizer.step()
    return losses, (time.perf_counter() - started) / max(len(losses), 1)


def compare(data: EpochData, args: argparse.Namespace, out: Path) -> bool:
    """Run and print the comparison (both curves also go to ``out/comparison.csv``); True when they agree."""
    state = initial_state(args.seed)
    mine, seconds_mine = first_steps(args.device, data, state, args)
    cpu, seconds_cpu = first_steps("cpu", data, state, args)
    n = min(len(mine), len(cpu))
    if n == 0:
        print("comparison: no steps (the training part is smaller than one batch)")
        return False
    rel = np.abs(np.subtract(mine[:n], cpu[:n])) / np.maximum(np.abs(cpu[:n]), 1e-12)
    lines = ["step,device_loss,cpu_loss,relative_difference"]  # device: --device
    lines += [f"{i},{mine[i]!r},{cpu[i]!r},{float(rel[i])!r}" for i in range(n)]
    (out / "comparison.csv").write_text("\n".join(lines) + "\n")
    print(f"comparison, {n} steps of batch {args.batch_size} from the same weights and batches (dropout off):")
    print(f"  s/step (first-use compilation included): {args.device} {seconds_mine:.3f}, cpu {seconds_cpu:.3f}")
    print(f"  {'step':>5} {args.device + ' loss':>12} {'cpu loss':>12} {'rel diff':>9}")
    for step in sorted({0, 1, 2, 4, 9, 19, 29, 39, n - 1} & set(range(n))):
        print(f"  {step:>5} {mine[step]:>12.6f} {cpu[step]:>12.6f} {rel[step]:>9.1e}")
    ok = bool(rel[0] <= 1e-4 and rel.max() <= args.tolerance)
    print(f"  max relative difference {rel.max():.2e} at step {int(rel.argmax())} (step 0: {rel[0]:.1e}); "
          f"tolerance {args.tolerance:g} (step 0: 1e-4): {'OK' if ok else 'ABOVE TOLERANCE'}")
    return ok


def full_epoch(data: EpochData, args: argparse.Namespace, out: Path) -> dict:
    """One epoch with the Trainer on ``--device`` into the run folder ``out``; prints the loss curve.

    Returns:
        The epoch's row of the Trainer's log (losses, accuracies, seconds).
    """
    model = paper_init(MultiTaskNet(variant="paper"), rng=np.random.default_rng([args.seed, 1]))
    tasks = [Task("gender", "gender", GENDER_CLASS_NAMES), Task("age", "age_bin", data.age_class_names)]
    config = TrainConfig(epochs=1, lr=args.lr, momentum=0.9, weight_decay=1e-4, schedule="exponential",
                         decay_rate=0.96, decay_steps=5000, seed=args.seed, device=args.device,
                         max_steps_per_epoch=args.steps, log_every=1, log_first=0, figures=False)
    common = {"batch_size": args.batch_size, "device": args.device}
    train = BatchLoader(data.images, data.labels, data.train, shuffle=True, seed=args.seed, **common)
    val = BatchLoader(data.images, data.labels, data.val, shuffle=False, **common)
    test = BatchLoader(data.images, data.labels, data.test, shuffle=False, **common)
    trainer = Trainer(model, tasks, config, out, title="gpu_epoch", progress=False)
    trainer.fit(train, val, test)
    row = trainer.history[-1]
    steps = trainer.step_log
    print(f"full epoch on {args.device}: {len(steps)} steps, {row['train_seconds']:.1f} s training "
          f"({row['seconds_per_step']:.3f} s/step, {args.batch_size / row['seconds_per_step']:.0f} images/s), "
          f"{row['eval_seconds']:.1f} s evaluating; run folder {out}")
    print(f"  {'step':>5} {'objective':>10} {'gender':>8} {'age':>8}")
    every = max(len(steps) // 25, 1)
    for entry in steps[::every] + ([steps[-1]] if (len(steps) - 1) % every else []):
        print(f"  {entry['step']:>5} {entry['objective']:>10.4f} {entry['gender_loss']:>8.4f} {entry['age_loss']:>8.4f}")
    print("  accuracy: " + ", ".join(f"{task.name} train {row[f'train_{task.name}_acc']:.3f} "
                                     f"val {row[f'val_{task.name}_acc']:.3f} test {row[f'test_{task.name}_acc']:.3f}"
                                     for task in tasks))
    return row


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 when the comparison is above its tolerance."""
    args = parse_args(argv)
    if args.make_cache_npz:
        data = data_from_folder(args)
        path = Path(args.make_cache_npz)
        write_cache_npz(data, path)
        print(f"wrote {path}: {path.stat().st_size / 2**20:.1f} MiB, {len(data.train)} train, {len(data.val)} val, "
              f"{len(data.test)} test images")
        return 0
    if args.device == "gpu":
        try:
            backend._require_cupy()
        except RuntimeError as error:
            raise SystemExit(f"--device gpu: {error}") from error
    data = data_from_npz(Path(args.cache_npz), args.limit, args.split_seed) if args.cache_npz else data_from_folder(args)
    print(f"data: {data.description}; train {len(data.train)}, val {len(data.val)}, test {len(data.test)}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu-epoch-"))
    out.mkdir(parents=True, exist_ok=True)
    ok = compare(data, args, out) if args.compare_steps > 0 else True
    row = full_epoch(data, args, out)
    print(json.dumps({"comparison_ok": ok, "train_objective": row["train_objective"],
                      "seconds_per_step": row["seconds_per_step"]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
