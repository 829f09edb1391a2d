"""Reader for UTKFace: a folder of ``AGE_GENDER_RACE_TIMESTAMP.jpg.chip.jpg`` files.

UTKFace's labels live in its file names: age in years, gender 0 = male,
1 = female (already the canonical convention), race 0..4. A few names in the
published set are malformed (a stray space, a missing dot, no race field);
:func:`parse_utkface_name` reads every name whose age and gender can still be
recovered, and says what it repaired. Names that cannot be read are listed in
the dataset's report and left out, never raised.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import FaceDataset, ReadReport

CANONICAL_NAME = re.compile(r"^([0-9]{1,3})_([01])_([0-4])_([0-9]+)\.jpg\.chip\.jpg$", re.ASCII)
#: The longest age field read (UTKFace's ages are 1..116): a longer run of digits is no age.
MAX_AGE_DIGITS = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class ParsedName:
    """Labels read from one UTKFace file name.

    Attributes:
        age: years, or None when unreadable.
        gender: 0 male / 1 female, or None when unreadable.
        race: 0..4, or -1 when absent.
        issues: what was malformed and repaired (empty for a canonical name).
        error: why age or gender could not be read (None when they could).
    """

    age: int | None
    gender: int | None
    race: int = -1
    issues: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when age and gender were recovered."""
        return self.error is None


def _strip_suffixes(name: str, issues: list[str]) -> str:
    stem = name
    if stem.endswith(".chip.jpg"):
        stem = stem[: -len(".chip.jpg")]
    else:
        issues.append("no '.chip.jpg' suffix")
        stem = os.path.splitext(stem)[0]
    if stem.endswith(".jpg"):
        stem = stem[: -len(".jpg")]
    elif stem.endswith("jpg"):
        stem = stem[: -len("jpg")]
        issues.append("missing '.' before 'jpg'")
    if stem != stem.strip():
        issues.append("stray whitespace")
        stem = stem.strip()
    return stem


def parse_utkface_name(name: str) -> ParsedName:
    """Read age, gender and race from a UTKFace file name, tolerating known defects.

    ``"24_0_1_20170116220224657 .jpg.chip.jpg"`` -> age 24, gender 0, race 1,
    issues ``["stray whitespace"]``; ``"39_1_20170116174525125.jpg.chip.jpg"``
    -> age 39, gender 1, race -1, issues ``["race field missing"]``.

    Never raises: a name that cannot be read comes back with ``error`` set (any text,
    however long or strange: the age must be 1 to 3 ASCII digits).
    """
    match = CANONICAL_NAME.match(name)
    if match:
        return ParsedName(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    issues: list[str] = []
    stem = _strip_suffixes(name, issues)
    fields = stem.split("_")
    if any(f != f.strip() for f in fields):
        issues.append("stray whitespace")
        fields = [f.strip() for f in fields]
    if len(fields) == 4:
        age_text, gender_text, race_text = fields[0], fields[1], fields[2]
    elif len(fields) == 3:
        # AGE_GENDER_TIMESTAMP (no race) or AGE_GENDER_RACE (no timestamp): a
        # single digit 0..4 is a race, a long number is a timestamp.
        if len(fields[2]) == 1 and fields[2] in "01234":
            age_text, gender_text, race_text = fields[0], fields[1], fields[2]
            issues.append("timestamp field missing")
        else:
            age_text, gender_text, race_text = fields[0], fields[1], ""
            issues.append("race field missing")
    else:
        return ParsedName(None, None, issues=issues, error=f"expected 3 or 4 '_'-separated fields, found {len(fields)}")
    if not (age_text.isascii() and age_text.isdigit() and len(age_text) <= MAX_AGE_DIGITS):
        shown = age_text if len(age_text) <= 20 else age_text[:20] + "..."
        return ParsedName(None, None, issues=issues, error=f"age field {shown!r} is not a whole number of at most "
                                                           f"{MAX_AGE_DIGITS} digits")
    if gender_text not in ("0", "1"):
        return ParsedName(None, None, issues=issues, error=f"gender field {gender_text!r} is not 0 or 1")
    race = -1
    if race_text:
        if race_text in ("0", "1", "2", "3", "4"):
            race = int(race_text)
        else:
            issues.append(f"race field {race_text!r} not in 0..4, read as unknown")
    if not issues:
        issues.append("unrecognised layout")
    return ParsedName(int(age_text), int(gender_text), race, issues)


def find_utkface_folder(path: str | os.PathLike) -> Path:
    """The folder holding the images: ``path`` itself, or its ``UTKFace`` subfolder."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"UTKFace folder not found: {path}")
    sub = path / "UTKFace"
    if sub.is_dir() and not any(n.lower().endswith(IMAGE_SUFFIXES) for n in os.listdir(path)):
        return sub
    return path


def read_utkface(folder: str | os.PathLike) -> FaceDataset:
    """Read a UTKFace folder into a :class:`FaceDataset` (paths and labels, no pixels).

    Args:
        folder: the folder of ``*.jpg.chip.jpg`` files, or a folder containing ``UTKFace/``.
    Returns:
        The dataset, rows in sorted file-name order. Its ``report`` lists each
        repaired name with its issues and each name whose age or gender could
        not be read (left out). Files not ending in .jpg/.jpeg/.png are ignored.
    """
    root = find_utkface_folder(folder)
    names = sorted(n for n in os.listdir(root) if n.lower().endswith(IMAGE_SUFFIXES))
    report = ReadReport("utkface", rows_seen=len(names))
    paths, ages, genders, races = [], [], [], []
    for name in names:
        parsed = parse_utkface_name(name)
        if not parsed.ok:
            report.unreadable.append({"name": name, "reason": str(parsed.error)})
            continue
        if parsed.issues:
            report.repaired.append(
                {"name": name, "issues": parsed.issues, "age": parsed.age, "gender": parsed.gender, "race": parsed.race}
            )
        paths.append(name)
        ages.append(parsed.age)
        genders.append(parsed.gender)
        races.append(parsed.race)
    if report.unreadable:
        report.dropped["age or gender not readable from the file name"] = len(report.unreadable)
    report.rows_kept = len(paths)
    return FaceDataset(
        root,
        paths,
        np.asarray(ages, dtype=np.int16),
        np.asarray(genders, dtype=np.int8),
        race=np.asarray(races, dtype=np.int8),
        source="utkface",
        report=report,
    )
