"""Builders of small data sets in the real formats (UTKFace names, wiki.mat + JPEGs) for tests/data."""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image


def write_jpeg(path: Path, width: int = 48, height: int = 40, seed: int = 0, color: bool = True) -> Path:
    """A random smooth-ish JPEG (noise plus a gradient), so resizing has something to do."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx * 255 // max(width - 1, 1) + yy * 97 // max(height - 1, 1)) % 256
    channels = 3 if color else 1
    noise = rng.integers(0, 40, size=(height, width, channels))
    pixels = np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels if color else pixels[..., 0]).save(path, quality=95)
    return path


# UTKFace fixture: canonical names over every bin edge, the 5 kinds of malformed
# names found in the real set, and names that cannot be read.
UTK_CANONICAL = [
    (0, 0, 0), (1, 1, 2), (30, 0, 1), (30, 1, 4), (31, 0, 3), (31, 1, 0), (45, 0, 2), (45, 1, 1),
    (46, 0, 0), (46, 1, 3), (60, 0, 4), (60, 1, 2), (61, 0, 1), (61, 1, 0), (100, 0, 0), (100, 1, 2),
    (101, 0, 1), (116, 1, 0), (25, 0, 0), (25, 1, 1), (40, 0, 2), (40, 1, 3), (50, 0, 4), (70, 1, 0),
]
UTK_MALFORMED = {
    "24_0_1_20170116220224657 .jpg.chip.jpg": (24, 0, 1, "stray whitespace"),
    "39_1_20170116174525125.jpg.chip.jpg": (39, 1, -1, "race field missing"),
    "55_0_0_20170116232725357jpg.chip.jpg": (55, 0, 0, "missing '.' before 'jpg'"),
    "61_1_20170109142408075.jpg.chip.jpg": (61, 1, -1, "race field missing"),
    "61_1_20170109150557335.jpg.chip.jpg": (61, 1, -1, "race field missing"),
}
UTK_UNREADABLE = ["abc_0_1_20170101.jpg.chip.jpg", "30_7_1_20170101.jpg.chip.jpg", "42.jpg.chip.jpg"]


def utk_name(age: int, gender: int, race: int, i: int) -> str:
    """A canonical UTKFace file name with a unique timestamp."""
    return f"{age}_{gender}_{race}_2017010{i % 10}{i:08d}.jpg.chip.jpg"


def datenum(day: date) -> float:
    """MATLAB datenum of a date (plus a fraction of a day, as the real files have)."""
    return float(day.toordinal() + 366) + 0.25


# One row per cleaning rule, as (name, dob, photo_taken, gender(1=m,0=f,NaN), face_score,
# second_face_score, file exists?). Expected: which rows the paper's cleaning keeps.
WIKI_ROWS = [
    ("good male 28", datenum(date(1981, 5, 5)), 2009, 1.0, 4.3, math.nan, True),
    ("good female 50", datenum(date(1950, 11, 30)), 2000, 0.0, 2.2, math.nan, True),
    ("no face", datenum(date(1970, 1, 1)), 2010, 1.0, -math.inf, math.nan, True),
    ("second face", datenum(date(1960, 6, 1)), 2001, 0.0, 3.0, 2.1, True),
    ("negative age", datenum(date(2010, 1, 1)), 2005, 1.0, 3.5, math.nan, True),
    ("age 150", datenum(date(1800, 2, 2)), 1950, 0.0, 1.5, math.nan, True),
    ("gender unknown", datenum(date(1980, 1, 1)), 2010, math.nan, 2.0, math.nan, True),
    ("age 0", datenum(date(2000, 3, 1)), 2000, 0.0, 2.5, math.nan, True),
    ("age 100", datenum(date(1900, 12, 31)), 2000, 1.0, 1.1, math.nan, True),
    ("age 101", datenum(date(1899, 1, 1)), 2000, 1.0, 1.2, math.nan, True),
    ("file missing", datenum(date(1975, 7, 7)), 2005, 0.0, 3.3, math.nan, False),
    ("dob unknown", math.nan, 2005, 1.0, 3.1, math.nan, True),
    ("low face score", datenum(date(1990, 8, 8)), 2012, 0.0, 0.5, math.nan, True),
]
WIKI_KEPT_BY_PAPER_RULES = ["good male 28", "good female 50", "age 0", "age 100", "low face score"]
IMAGE_W, IMAGE_H = 64, 56
FACE_BOX_MATLAB = (11.0, 9.0, 42.0, 44.0)  # [x1 y1 x2 y2], 1-based inclusive


def write_wiki_mat(folder: Path, rows=WIKI_ROWS, struct_name: str = "wiki", with_celeb_id: bool = False) -> Path:
    """wiki.mat (or imdb.mat) in the real layout, plus one JPEG per row whose file should exist."""
    from scipy.io import savemat

    n = len(rows)
    fields = ["dob", "photo_taken", "full_path", "gender", "name", "face_location", "face_score", "second_face_score"]
    if with_celeb_id:
        fields.append("celeb_id")
    struct = np.empty((1, 1), dtype=[(f, "O") for f in fields])
    full_path = np.empty((1, n), dtype=object)
    names = np.empty((1, n), dtype=object)
    locations = np.empty((1, n), dtype=object)
    for i, (name, dob, _, _, score, _, exists) in enumerate(rows):
        year = 1900 if math.isnan(dob) else date.fromordinal(int(dob) - 366).year
        rel = f"{i % 3:02d}/{1000 + i}_{year}-01-01_x.jpg"
        full_path[0, i] = np.array([rel])
        names[0, i] = np.array([name]) if i % 4 else np.array([], dtype="<U1")
        box = FACE_BOX_MATLAB if np.isfinite(score) else (1.0, 1.0, 1.0, 1.0)
        locations[0, i] = np.array([box], dtype=np.float64)
        if exists:
            write_jpeg(folder / rel, IMAGE_W, IMAGE_H, seed=i)
    struct["dob"][0, 0] = np.array([[r[1] for r in rows]], dtype=np.float64)
    struct["photo_taken"][0, 0] = np.array([[r[2] for r in rows]], dtype=np.uint16)
    struct["full_path"][0, 0] = full_path
    struct["gender"][0, 0] = np.array([[r[3] for r in rows]], dtype=np.float64)
    struct["name"][0, 0] = names
    struct["face_location"][0, 0] = locations
    struct["face_score"][0, 0] = np.array([[r[4] for r in rows]], dtype=np.float64)
    struct["second_face_score"][0, 0] = np.array([[r[5] for r in rows]], dtype=np.float64)
    if with_celeb_id:
        struct["celeb_id"][0, 0] = np.array([[7 + i % 2 for i in range(n)]], dtype=np.uint16)
    mat_path = folder / f"{struct_name}.mat"
    folder.mkdir(parents=True, exist_ok=True)
    savemat(mat_path, {struct_name: struct})
    return mat_path
