"""Reader for IMDB-WIKI: ``wiki.mat`` / ``imdb.mat`` (MATLAB structs) plus the image tree.

The .mat file holds one 1x1 struct named ``wiki`` or ``imdb`` whose fields are
1xN rows: ``dob`` (MATLAB datenum of birth), ``photo_taken`` (year),
``full_path`` (cell of relative paths), ``gender`` (1 = male, 0 = female,
NaN = unknown), ``name``, ``face_location`` (cell of 1x4 ``[x1 y1 x2 y2]``,
MATLAB 1-based inclusive), ``face_score`` (-inf where no face was found) and
``second_face_score`` (NaN where there is a single face); imdb.mat adds
``celeb_id``.

Cleaning is explicit (:class:`ImdbWikiCleaning`): every rule is a field, each
removed row is counted under its rule in the report, and the rules run in the
order of the fields.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import FaceDataset, ReadReport
from .labels import UNKNOWN, gender_from_imdb_wiki

#: MATLAB datenum of 1970-01-01 (datenum 1 is 1 January of year 0).
MATLAB_DATENUM_UNIX_EPOCH = 719529


@dataclass(frozen=True)
class ImdbWikiCleaning:
    """Which IMDB-WIKI rows to keep. The defaults are the paper's cleaning.

    Attributes:
        min_face_score: keep rows with ``face_score > min_face_score``. The
            default ``-inf`` drops exactly the rows where no face was found
            (the paper deletes "empty images"); None keeps every row (the
            authors' code ignored face_score).
        single_face_only: keep rows whose ``second_face_score`` is NaN.
        min_age, max_age: keep ages in ``[min_age, max_age]`` (None = no bound).
        require_gender: keep rows whose gender is known.
        require_file: keep rows whose image file exists.
        max_rows: keep only the first ``max_rows`` rows that pass (the authors
            took the first 40,000); None = all.
    """

    min_face_score: float | None = -math.inf
    single_face_only: bool = True
    min_age: int | None = 0
    max_age: int | None = 100
    require_gender: bool = True
    require_file: bool = True
    max_rows: int | None = None

    @classmethod
    def authors_code(cls) -> "ImdbWikiCleaning":
        """The published code's rules: single face, age >= 0, gender known, first 40,000."""
        return cls(min_face_score=None, max_age=None, max_rows=40_000)


def matlab_datenum_to_year(datenum: np.ndarray) -> np.ndarray:
    """Calendar year of MATLAB datenums (proleptic Gregorian, like ``date.fromordinal(d - 366)``).

    Args:
        datenum: (N,) float days; the fraction (time of day) is ignored.
    Returns:
        (N,) float64 years; NaN where the datenum is NaN or infinite.
    """
    datenum = np.asarray(datenum, dtype=np.float64)
    finite = np.isfinite(datenum)
    days = np.zeros(datenum.shape, dtype=np.int64)
    days[finite] = np.floor(datenum[finite]).astype(np.int64) - MATLAB_DATENUM_UNIX_EPOCH
    years = (np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")).astype("datetime64[Y]")
    out = years.astype(np.int64).astype(np.float64) + 1970.0
    out[~finite] = np.nan
    return out


def _row(struct: Any, field: str, required: bool = True) -> np.ndarray | None:
    names = struct.dtype.names or ()
    if field not in names:
        if required:
            raise ValueError(f"the .mat struct has no field {field!r}; fields found: {sorted(names)}")
        return None
    return np.asarray(struct[field]).reshape(-1)


def _cell_strings(cells: np.ndarray) -> list[str]:
    out = []
    for cell in cells:
        flat = np.asarray(cell).reshape(-1)
        out.append(str(flat[0]) if flat.size else "")
    return out


def _face_boxes(cells: np.ndarray) -> np.ndarray:
    """(N,) cells of 1x4 MATLAB ``[x1 y1 x2 y2]`` (1-based, inclusive) -> (N, 4) PIL boxes."""
    boxes = np.full((len(cells), 4), np.nan)
    for i, cell in enumerate(cells):
        flat = np.asarray(cell, dtype=np.float64).reshape(-1)
        if flat.size == 4:
            boxes[i] = flat
    boxes[:, 0:2] -= 1.0  # 1-based first pixel -> 0-based; x2, y2 inclusive 1-based = exclusive 0-based
    degenerate = (boxes[:, 2] - boxes[:, 0] < 2) | (boxes[:, 3] - boxes[:, 1] < 2)
    boxes[degenerate] = np.nan
    return boxes


def load_imdb_wiki_mat(mat_path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """Load a wiki.mat / imdb.mat into plain arrays.

    Returns:
        ``(source, columns)``: source is the struct's name (``"wiki"`` or
        ``"imdb"``); columns has (N,) arrays ``dob``, ``photo_taken``,
        ``gender`` (raw 1/0/NaN), ``face_score``, ``second_face_score``,
        ``celeb_id`` (or None), lists ``full_path`` and ``name``, and ``boxes`` (N, 4).
    """
    from scipy.io import loadmat

    mat = loadmat(str(mat_path))
    keys = [k for k in ("wiki", "imdb") if k in mat]
    if not keys:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{mat_path}: expected a struct named 'wiki' or 'imdb', found {found}")
    source = keys[0]
    struct = mat[source].reshape(-1)[0]
    columns: dict[str, Any] = {
        "dob": _row(struct, "dob").astype(np.float64),
        "photo_taken": _row(struct, "photo_taken").astype(np.float64),
        "gender": _row(struct, "gender").astype(np.float64),
        "face_score": _row(struct, "face_score").astype(np.float64),
        "second_face_score": _row(struct, "second_face_score").astype(np.float64),
        "full_path": _cell_strings(_row(struct, "full_path")),
        "boxes": _face_boxes(_row(struct, "face_location")),
    }
    names = _row(struct, "name", required=False)
    columns["name"] = _cell_strings(names) if names is not None else [""] * len(columns["full_path"])
    celeb = _row(struct, "celeb_id", required=False)
    columns["celeb_id"] = None if celeb is None else celeb.astype(np.int64)
    n = len(columns["full_path"])
    for key, value in columns.items():
        if value is not None and len(value) != n:
            raise ValueError(f"{mat_path}: field {key!r} has {len(value)} entries, full_path has {n}")
    return source, columns


def find_mat_file(path: str | os.PathLike) -> Path:
    """``path`` if it is a .mat file, else the wiki.mat or imdb.mat inside the folder."""
    path = Path(path)
    if path.is_file():
        return path
    for name in ("wiki.mat", "imdb.mat"):
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"no wiki.mat or imdb.mat at {path}")


def read_imdb_wiki(
    mat_path: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    cleaning: ImdbWikiCleaning = ImdbWikiCleaning(),
) -> FaceDataset:
    """Read IMDB-WIKI metadata, clean it, and map it to canonical labels.

    Args:
        mat_path: ``wiki.mat`` / ``imdb.mat``, or the folder holding it.
        image_root: folder that ``full_path`` is relative to (default: the .mat's folder,
            as in the wiki_crop / imdb_crop archives).
        cleaning: the rules; see :class:`ImdbWikiCleaning`.
    Returns:
        A :class:`FaceDataset` with age = photo_taken - year of dob, gender mapped
        to 0 = male / 1 = female, identity = ``celeb_id`` (imdb) or the index of the
        name (wiki), and ``boxes`` from face_location (0-based PIL boxes; NaN where
        no face was found). The report counts the rows each rule removed.
    """
    mat_path = find_mat_file(mat_path)
    root = Path(image_root) if image_root is not None else mat_path.parent
    source, col = load_imdb_wiki_mat(mat_path)
    n = len(col["full_path"])
    age = col["photo_taken"] - matlab_datenum_to_year(col["dob"])
    gender = gender_from_imdb_wiki(col["gender"])
    if col["celeb_id"] is not None:
        identity = col["celeb_id"]
    else:
        names = np.asarray(col["name"], dtype=str)
        _, identity = np.unique(names, return_inverse=True)
        identity = np.where(names == "", UNKNOWN, identity)
    keep = np.ones(n, dtype=bool)
    report = ReadReport(source, rows_seen=n)

    def apply(rule: str, passes: np.ndarray) -> None:
        removed = keep & ~passes
        report.dropped[rule] = int(removed.sum())
        keep[removed] = False

    if cleaning.min_face_score is not None:
        rule = f"face_score <= {cleaning.min_face_score} (-inf: no face found)"
        apply(rule, col["face_score"] > cleaning.min_face_score)
    if cleaning.single_face_only:
        apply("second_face_score not NaN (more than one face)", np.isnan(col["second_face_score"]))
    apply("age unknown (dob or photo_taken not a number)", np.isfinite(age))
    if cleaning.min_age is not None:
        apply(f"age < {cleaning.min_age}", ~(age < cleaning.min_age))
    if cleaning.max_age is not None:
        apply(f"age > {cleaning.max_age}", ~(age > cleaning.max_age))
    if cleaning.require_gender:
        apply("gender unknown", gender != UNKNOWN)
    if cleaning.require_file:
        exists = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(keep):
            exists[i] = os.path.isfile(root / col["full_path"][i])
        apply("image file missing", exists)
    if cleaning.max_rows is not None:
        beyond = np.cumsum(keep) > cleaning.max_rows
        apply(f"beyond the first {cleaning.max_rows} rows kept", ~beyond)
    idx = np.flatnonzero(keep)
    report.rows_kept = len(idx)
    age_kept = np.clip(np.where(np.isfinite(age[idx]), age[idx], -1), -1, np.iinfo(np.int16).max).astype(np.int16)
    return FaceDataset(
        root,
        [col["full_path"][i] for i in idx],
        age_kept,
        gender[idx],
        race=None,
        identity=np.asarray(identity)[idx].astype(np.int32),
        boxes=col["boxes"][idx],
        source=source,
        report=report,
    )
