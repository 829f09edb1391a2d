"""Say so the first time the compiled kernels are built, instead of sitting silent for most of a minute.

vj's and minicnn's Numba kernels are compiled on their first call and cached on disk by
Numba (``cache=True``: beside the package's sources, or in Numba's user-wide cache folder
when those are read-only, or in ``$NUMBA_CACHE_DIR``), so later runs load them in a moment.
Whether this machine has compiled them yet is remembered by a marker file in facestack's
cache folder (``$FACESTACK_CACHE`` or ``~/.cache/facestack``), one per installed version.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import __version__

FIRST_RUN_NOTE = "compiling kernels, first run only: about 45 s"


def marker_path() -> Path:
    """The file whose presence says this version's kernels were compiled here."""
    root = os.environ.get("FACESTACK_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "facestack")
    return Path(root) / f"kernels-compiled-{__version__}"


def announce_first_compile() -> bool:
    """Print :data:`FIRST_RUN_NOTE` to stderr when no marker exists yet; returns whether it did.

    For command-line entry points only (the libraries print nothing).
    """
    if marker_path().exists():
        return False
    print(FIRST_RUN_NOTE, file=sys.stderr, flush=True)
    return True


def mark_compiled() -> None:
    """Leave the marker after a run compiled the kernels (best effort: a read-only home is fine)."""
    path = marker_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        pass
