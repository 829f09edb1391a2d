"""Pick the reader for a folder: IMDB-WIKI when it holds wiki.mat / imdb.mat, else UTKFace."""
from __future__ import annotations

import os
from pathlib import Path

from .dataset import FaceDataset
from .imdb_wiki import ImdbWikiCleaning, read_imdb_wiki
from .utkface import read_utkface

FORMATS = ("auto", "utkface", "imdb-wiki")


def detect_format(path: str | os.PathLike) -> str:
    """``"imdb-wiki"`` for a .mat file or a folder holding wiki.mat / imdb.mat, else ``"utkface"``."""
    path = Path(path)
    if path.suffix == ".mat" or (path / "wiki.mat").is_file() or (path / "imdb.mat").is_file():
        return "imdb-wiki"
    return "utkface"


def read_faces(
    path: str | os.PathLike, format: str = "auto", cleaning: ImdbWikiCleaning = ImdbWikiCleaning()
) -> FaceDataset:
    """Read a UTKFace folder or an IMDB-WIKI .mat (+ images) into a :class:`FaceDataset`.

    Args:
        path: the folder (or the .mat file).
        format: ``"auto"``, ``"utkface"`` or ``"imdb-wiki"``.
        cleaning: IMDB-WIKI's cleaning rules (ignored for UTKFace).
    Raises:
        FileNotFoundError: no such folder or file.
        ValueError: it holds no face the reader could use (no images, or none whose labels
            are readable or that survive the cleaning): an empty cache is never built.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "auto":
        format = detect_format(path)
    faces = read_imdb_wiki(path, cleaning=cleaning) if format == "imdb-wiki" else read_utkface(path)
    if len(faces) == 0:
        report = faces.report
        if report.rows_seen == 0:
            what = "no UTKFace images (.jpg, .jpeg, .png)" if format == "utkface" else "no rows in the .mat file"
            raise ValueError(f"{path}: {what} found")
        raise ValueError(f"{path}: none of the {report.rows_seen:,} {'files' if format == 'utkface' else 'rows'} "
                         f"gave a usable face ({'; '.join(f'{n} {rule}' for rule, n in report.dropped.items())})")
    return faces
