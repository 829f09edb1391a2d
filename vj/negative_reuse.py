"""Carrying a stage's negatives into the next stage (``CascadeTrainingConfig.reuse_negatives``).

A stage is trained on negatives that every earlier stage accepts. Once it is added, the
negatives it still accepts (about ``max_false_alarm`` of them) pass every stage of the
cascade, which is what the next stage's negatives must do, so they need not be mined
again: up to half of the next stage's negatives are carried over and only the rest are
drawn from the backgrounds. Late stages, where a negative costs millions of tried
windows, then have fewer negatives to find. Their stages also come out stronger, so the
windows tried fall by less than the carried share (``benchmarks/reuse_negatives.py``).

So that a killed training resumes as if it had never stopped, each stage's negatives are
written beside the cascade, atomically, before the stage is trained
(``OUT.negatives.npz``: the stage index, the windows, and how many of them at the front
were carried). On resume after ``S`` saved stages the file holds either stage ``S - 1``'s
negatives (the carried ones are those the saved cascade still accepts) or, when the kill
came after stage ``S``'s negatives were written but before the stage was saved, stage
``S``'s own (the carried ones are its first ``reused``).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .cascade import Cascade
from .lbp import LbpCascade
from .mining import cascade_accepts
from .train_record import write_atomic

NEGATIVES_SUFFIX = ".negatives.npz"


def negatives_path(out: str | os.PathLike) -> Path:
    """The ``OUT.negatives.npz`` file beside the cascade ``out``."""
    out = Path(out)
    return out.with_name(out.name + NEGATIVES_SUFFIX)


def still_accepted(cascade: Cascade | LbpCascade, windows: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` of ``windows`` (``(N, H, W)`` uint8) that ``cascade`` accepts, in order."""
    return np.ascontiguousarray(windows[cascade_accepts(cascade, windows)][:limit])


def save_stage_negatives(out: str | os.PathLike, stage: int, windows: np.ndarray, reused: int) -> None:
    """Write the negatives stage ``stage`` trains on (the first ``reused`` carried over), atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, stage=np.int64(stage), reused=np.int64(reused), windows=np.ascontiguousarray(windows))
    write_atomic(negatives_path(out), buffer.getvalue())


def carried_negatives(out: str | os.PathLike, cascade: Cascade | LbpCascade | None,
                      num_negatives: int) -> np.ndarray | None:
    """The negatives to carry into the next stage of a resumed training (see the module doc).

    Returns None for a new training (and deletes a negatives file left from another one),
    or when the file is missing or belongs to neither the last nor the next stage: that
    stage then mines all its negatives.

    Raises:
        ValueError: the file cannot be read or holds windows of another size; the message
            names it.
    """
    path = negatives_path(out)
    if cascade is None or cascade.num_stages == 0:
        path.unlink(missing_ok=True)
        return None
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            stage, reused, windows = int(saved["stage"]), int(saved["reused"]), saved["windows"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable negatives file ({exc}); delete it to mine the next "
                         "stage's negatives afresh") from None
    width, height = cascade.window_size
    if windows.dtype != np.uint8 or windows.ndim != 3 or windows.shape[1:] != (height, width) \
            or not 0 <= reused <= len(windows):
        raise ValueError(f"{path}: holds {windows.dtype} windows of shape {windows.shape}, not the cascade's "
                         f"{width}x{height}; delete it to mine the next stage's negatives afresh")
    if stage == cascade.num_stages - 1:
        return still_accepted(cascade, windows, num_negatives // 2)
    if stage == cascade.num_stages:
        return np.ascontiguousarray(windows[:reused])
    return None
