"""Which code produced a run: a record per start of the training command, in ``provenance.json``.

Training here is bit-reproducible for one version of the code (the same seeds give the same
weights), but not across versions: a kernel that rounds one float32 differently sends a
network that starts on the edge of a plateau down another path. So a run folder has to say
which code wrote it. Each start (a new run, and each ``--resume``) appends one record:

- ``source_sha256``: a digest of the ``.py`` files of ``minicnn``, ``vj`` and ``facestack``
  as imported (works for a wheel as well as for a checkout);
- ``git_commit`` and ``git_dirty`` when those files sit in a git checkout (``None`` otherwise);
- the package version, Python, NumPy and Numba versions, the platform, the start time and
  the epoch the start resumed from.

Two runs whose records share ``source_sha256`` ran the same code.
"""
from __future__ import annotations

import hashlib
import importlib
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from minicnn.train.report import write_json

from ..data.validate import read_json_object

#: The packages whose source decides a training run's numbers.
PACKAGES = ("minicnn", "vj", "facestack")
PROVENANCE_FILE = "provenance.json"


def package_dirs() -> list[Path]:
    """The folders the project's packages were imported from, in :data:`PACKAGES` order."""
    return [Path(importlib.import_module(name).__file__).resolve().parent for name in PACKAGES]


def source_digest(dirs: list[Path]) -> str:
    """SHA-256 over every ``.py`` file under ``dirs``: each file's path relative to its
    package's parent folder, then its bytes, in sorted order (so the digest does not depend on
    where the packages are installed)."""
    digest = hashlib.sha256()
    for root in dirs:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def git_state(folder: Path, paths: list[Path]) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout that tracks ``paths``; ``(None, None)`` without git,
    outside a checkout, or where the checkout does not track them (a virtual environment
    inside a checkout holds an installed copy). ``dirty`` says whether ``paths`` differ from
    that commit."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    tracked = git("ls-files", "--", *map(str, paths))
    if commit is None or not (tracked or "").strip():
        return None, None
    status = git("status", "--porcelain", "--", *map(str, paths))
    return commit.strip(), (None if status is None else bool(status.strip()))


def provenance_record(resumed_from_epoch: int | None) -> dict[str, Any]:
    """One start's record (see the module doc); ``resumed_from_epoch`` is None for a new run."""
    dirs = package_dirs()
    commit, dirty = git_state(dirs[0].parent, dirs)
    import numba
    import numpy

    try:
        version = metadata.version("facestack")
    except metadata.PackageNotFoundError:
        version = None
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed_from_epoch": resumed_from_epoch,
        "facestack_version": version, "source_sha256": source_digest(dirs),
        "git_commit": commit, "git_dirty": dirty, "python": platform.python_version(),
        "numpy": numpy.__version__, "numba": numba.__version__, "platform": platform.platform(),
    }


def append_provenance(folder: str | Path, resumed_from_epoch: int | None) -> dict[str, Any]:
    """Append this start's record to ``folder/provenance.json`` (a new run starts the list) and
    return it. A record file that cannot be read is replaced rather than failing the run."""
    path = Path(folder) / PROVENANCE_FILE
    records: list[Any] = []
    if resumed_from_epoch is not None and path.is_file():
        try:
            records = list(read_json_object(path)["starts"])
        except (ValueError, KeyError, TypeError):
            records = []
    record = provenance_record(resumed_from_epoch)
    write_json({"starts": records + [record]}, path)
    return record
