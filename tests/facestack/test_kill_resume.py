"""SIGKILL a multi-task training at random moments, resume it each time, get the uninterrupted weights.

The training is the synthetic two-task one of ``experiments/synthetic.py`` (two heads,
uncertainty weighting, dropout, augmentation, two DataParallel threads) in a child
process, so a kill can land anywhere: in a step, in evaluation, in the middle of writing
``best.npz``, ``checkpoint.npz`` or ``log.csv``. After every kill the files under their
final names must still read (only ``*.tmp`` files may be torn), the checkpoint never goes
back in epochs, and the run resumed until it finishes must end with ``model.npz`` arrays
equal, bit for bit, to those of a run never interrupted (arrays compared, not zip bytes:
the archive holds timestamps).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from minicnn.serialization import load_arrays
from minicnn.train.checkpoint import load_checkpoint
from minicnn.train.report import read_csv

EXPERIMENTS = Path(__file__).resolve().parent / "experiments"
EPOCHS = 6
ATTEMPTS = 6  # children killed at a random moment (each start costs a few seconds of imports)
CHILD = f"""
import sys, time
sys.path.insert(0, {str(EXPERIMENTS)!r})
from pathlib import Path
from synthetic import TwoHeadNet, loaders, make_trainer
from facestack.data import Augment
from facestack.train.weighting import make_weighting

out = Path(sys.argv[1])
trainer = make_trainer(out, TwoHeadNet(dropout=0.3, seed=0), weighting=make_weighting("uncertainty", ["bar", "quadrant"],
                       [2, 4]), epochs={EPOCHS}, decay_steps=5, decay_rate=0.5, seed=7, threads=2)
trainer.on_epoch_end = lambda row: print("epoch", row["epoch"], flush=True)
data = loaders(augment=Augment(crop_padding=2, flip=True, brightness=0.1))
print("ready", flush=True)
started = time.perf_counter()
trainer.fit(*data, resume=(out / "checkpoint.npz").exists())
print("done", time.perf_counter() - started, flush=True)
"""


def start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_ready(child: subprocess.Popen) -> None:
    for line in child.stdout:
        if line.startswith("ready"):
            return
    raise AssertionError(f"the child ended before training: {child.wait()} {child.stderr.read()}")


def check_files(out: Path, last_epoch: int) -> int:
    """Every file under its final name reads; returns the checkpoint's epoch (never below ``last_epoch``)."""
    for path in out.glob("*.npz"):
        load_arrays(path)  # raises on a torn file
    if (out / "log.csv").exists():
        assert [row["epoch"] for row in read_csv(out / "log.csv")] == list(range(1, len(read_csv(out / "log.csv")) + 1))
    epoch = 0
    if (out / "checkpoint.npz").exists():
        epoch = load_checkpoint(out / "checkpoint.npz")[1]["epoch"]
    assert epoch >= last_epoch, f"the checkpoint went back from epoch {last_epoch} to {epoch}"
    return epoch


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    reference = start(tmp_path / "straight")
    output, errors = reference.communicate(timeout=600)
    assert reference.returncode == 0, errors
    fit_seconds = float(output.split("done")[-1])
    expected = load_arrays(tmp_path / "straight" / "model.npz")

    out = tmp_path / "killed"
    rng = np.random.default_rng(17)
    epoch, kills = 0, 0
    for attempt in range(ATTEMPTS):
        child = start(out)
        wait_for_ready(child)
        time.sleep(rng.uniform(0.0, 1.1 * fit_seconds * (1 - epoch / EPOCHS) + 0.05))
        child.kill()
        child.wait(timeout=60)
        child.stdout.close()
        child.stderr.close()
        kills += child.returncode == -9
        epoch = check_files(out, epoch)
    final = start(out)
    output, errors = final.communicate(timeout=600)
    assert final.returncode == 0, errors
    assert kills >= ATTEMPTS // 2, f"only {kills} of the {ATTEMPTS} children were killed before they finished"
    resumed = load_arrays(out / "model.npz")
    assert resumed.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(resumed[name], expected[name]), name
    history = load_checkpoint(out / "checkpoint.npz")[1]["history"]
    assert [row["epoch"] for row in history] == list(range(1, EPOCHS + 1))
