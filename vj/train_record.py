"""A cascade training's record on disk: the sidecar, atomic saves and resuming.

Every finished stage is written at once together with a JSON sidecar ``OUT.train.json``
(``vj.cascade_train`` describes what it holds and why). This module writes both so that
a kill at any moment leaves a training that resumes (``save_training``: the new cascade to
a temporary file, then the sidecar naming the hashes of the new and the current cascade
file, then the rename of the cascade), reads the sidecar back with every value checked
(``read_sidecar``), and decides what a run finds in its output (``load_resume``).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from .cascade import Cascade
from .cascade_checks import sidecar_problem
from .lbp import LbpCascade
from .opencv_xml import parse_cascade, save_cascade

SIDECAR_SUFFIX = ".train.json"


class ResumeMismatchError(ValueError):
    """The output file belongs to a training with other settings or data."""


class OutputExistsError(FileExistsError):
    """The output cascade exists but was not written by this training (refused without ``overwrite``)."""


class SidecarError(ValueError):
    """The ``.train.json`` sidecar is unreadable, not JSON, or holds values of the wrong type or range."""



@dataclass
class StageReport:
    """Figures of one finished stage (also stored in the sidecar).

    Attributes:
        stage: 0-based stage index.
        num_weak: stumps in the stage.
        threshold: float32 stage threshold.
        hit_rate: fraction of the stage's positives it accepts.
        false_alarm: fraction of the stage's negatives it accepts.
        positives: positives trained on; negatives: negatives trained on.
        acceptance_before: false-positive rate of the cascade before this stage, on
            the background windows tried while mining.
        negatives_per_second: mining speed.
        seconds: wall time of the stage (mining, binning, boosting).
        mining_seconds: wall time of mining its negatives.
        windows_tried: background windows evaluated to mine them.
        boost_seconds: wall time of binning the features and boosting.
        seconds_left: rough estimate of the training time still to come after this
            stage (``estimate_seconds_left``); 0 when no stage is left, None when not
            known yet (no stage so far mined enough windows to time).
        negatives_reused: of ``negatives``, how many were carried over from the stage
            before (``reuse_negatives``); the rest were mined.
    """

    stage: int
    num_weak: int
    threshold: float
    hit_rate: float
    false_alarm: float
    positives: int
    negatives: int
    acceptance_before: float
    negatives_per_second: float
    seconds: float
    mining_seconds: float = 0.0
    windows_tried: int = 0
    boost_seconds: float = 0.0
    seconds_left: float | None = 0.0
    negatives_reused: int = 0


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a partial file: a temporary file
    in the same folder, flushed to disk, then renamed over ``path`` (removed if anything fails)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out: Path) -> None:
    """Delete the temporary files a killed save of ``out`` left (``.OUT.*.tmp`` beside it); a kill cannot
    clean up after itself, and only ``out``'s own training writes files of that name."""
    for stale in out.parent.glob(f".{glob_escape(out.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    for stale in out.parent.glob(f".{glob_escape(sidecar_path(out).name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def sidecar_path(out: str | os.PathLike) -> Path:
    """The ``OUT.train.json`` sidecar beside the cascade ``out``."""
    out = Path(out)
    return out.with_name(out.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict:
    """Read and check a training sidecar, so that no value read from it is used unchecked.

    Returns:
        The record: ``fingerprint``, ``stages`` (StageReport dicts, numbered 0, 1, ...),
        ``training_seconds`` and, when written by this version, ``xml_sha256`` and
        ``previous_xml_sha256`` (the cascade file's hash after / before the last save).

    Raises:
        SidecarError: unreadable, not JSON (e.g. truncated) or values of the wrong type
            or range; the message names the file.
    """
    try:
        record = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{path}: not a readable training record ({exc}); delete it, or pass --overwrite "
                           "to start the training afresh") from None
    problem = sidecar_problem(record, {f.name: f.type for f in fields(StageReport)})
    if problem:
        raise SidecarError(f"{path}: {problem}; delete it, or pass --overwrite to start the training afresh")
    return record


def load_resume(out: Path, fingerprint: str, overwrite: bool
                ) -> tuple[Cascade | LbpCascade | None, list[StageReport], float]:
    """The saved cascade, its stage reports and the training seconds spent so far (None, [], 0 to start afresh).

    The sidecar is written before the cascade file replaces the last one, with the hash
    of both, so a kill between the two writes leaves a cascade one stage behind its
    sidecar: that stage is trained again. A cascade file this training did not write
    (no sidecar, or a hash it does not know) is not overwritten unless ``overwrite``.
    """
    sidecar = sidecar_path(out)
    if overwrite:
        return None, [], 0.0
    if not sidecar.exists():
        if out.exists():
            raise OutputExistsError(f"{out} exists and has no {sidecar.name} beside it, so it is not a training "
                                    "to resume: choose another --out, or pass --overwrite to replace it")
        return None, [], 0.0
    record = read_sidecar(sidecar)
    if record["fingerprint"] != fingerprint:
        raise ResumeMismatchError(f"{out} was written by a training with other settings or data; choose another "
                                  f"output file, or pass --overwrite to replace {out} and {sidecar}")
    try:
        stages = [StageReport(**s) for s in record["stages"]]
    except TypeError as exc:
        raise SidecarError(f"{sidecar}: a stage record lacks a field ({exc}); delete it, or pass --overwrite "
                           "to start the training afresh") from None
    if not out.exists():
        return None, [], 0.0  # killed before the first cascade file landed
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if record.get("xml_sha256") is not None and digest != record["xml_sha256"]:
        if digest != record.get("previous_xml_sha256"):
            raise OutputExistsError(f"{out} is not the cascade {sidecar.name} describes (it was changed or "
                                    "replaced): choose another --out, or pass --overwrite to replace it")
        stages = stages[:-1]  # killed between the sidecar and the cascade file: redo the last stage
    cascade = parse_cascade(data, str(out))
    if not isinstance(cascade, (Cascade, LbpCascade)) or len(stages) != cascade.num_stages:
        raise ResumeMismatchError(f"{sidecar} lists {len(stages)} stages but {out} has {cascade.num_stages}; "
                                  "pass --overwrite to start afresh")
    if not stages:
        return None, [], 0.0
    return cascade, stages, float(record.get("training_seconds", sum(s.seconds for s in stages)))


def save_training(out: Path, cascade: Cascade | LbpCascade, fingerprint: str, config: Any,
                  stages: list[StageReport], stop_reason: str, training_seconds: float) -> None:
    """Write the cascade and its sidecar, each atomically: the new cascade to a temporary file, then the
    sidecar (naming the hashes of the new and the current cascade file), then the rename of the cascade.
    ``config`` is the training's settings dataclass, stored whole."""
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_cascade(cascade, tmp)
        new_digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        old_digest = hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else None
        record = {"fingerprint": fingerprint, "config": asdict(config), "stages": [asdict(s) for s in stages],
                  "stop_reason": stop_reason, "training_seconds": training_seconds, "xml_sha256": new_digest,
                  "previous_xml_sha256": old_digest if old_digest != new_digest else None}
        write_atomic(sidecar_path(out), json.dumps(record, indent=1).encode())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
