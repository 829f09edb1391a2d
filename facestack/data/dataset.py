"""``FaceDataset``: image paths plus canonical labels, and what the reader reported.

A dataset holds no pixels: the cache (:mod:`facestack.data.cache`) decodes the
images once into a uint8 array. Labels follow :mod:`facestack.data.labels`
(gender 0 = male, 1 = female, -1 unknown; race and identity -1 unknown).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .labels import AgeBinsArg, age_bins, count_by_bin_and_gender


@dataclass
class ReadReport:
    """What a reader kept, dropped and repaired.

    Attributes:
        source: ``"utkface"``, ``"wiki"`` or ``"imdb"``.
        rows_seen: files (UTKFace) or .mat rows (IMDB-WIKI) looked at.
        rows_kept: rows in the dataset.
        dropped: rule -> rows removed by it (rules applied in this order).
        repaired: ``{"name", "issues", "age", "gender", "race"}`` for each malformed
            name whose labels were still recovered.
        unreadable: ``{"name", "reason"}`` for each name whose age or gender was not recoverable.
    """

    source: str
    rows_seen: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    repaired: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "source": self.source,
            "rows_seen": self.rows_seen,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "repaired": list(self.repaired),
            "unreadable": list(self.unreadable),
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [f"{self.source}: {self.rows_kept:,} of {self.rows_seen:,} kept"]
        for rule, n in self.dropped.items():
            lines.append(f"  dropped {n:,}: {rule}")
        for r in self.repaired:
            lines.append(
                f"  repaired {r['name']!r} ({'; '.join(r['issues'])}): "
                f"age {r['age']}, gender {r['gender']}, race {r['race']}"
            )
        for u in self.unreadable:
            lines.append(f"  unreadable name {u['name']!r}: {u['reason']}")
        return "\n".join(lines)


def _as_labels(values: np.ndarray | None, n: int, dtype: Any, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=dtype)
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like paths, got {values.shape}")
    return values.astype(dtype)


class FaceDataset:
    """Face images (as paths) with age, gender and optional race/identity/box labels.

    Args:
        root: folder the relative paths are resolved against.
        paths: (N,) image paths relative to ``root`` (``/``-separated).
        age: (N,) age in whole years.
        gender: (N,) 0 male, 1 female, -1 unknown.
        race: (N,) 0..4 (UTKFace), -1 unknown; None = all unknown.
        identity: (N,) person id, -1 unknown; None = all unknown.
        boxes: (N, 4) float face boxes ``(left, top, right, bottom)`` in pixels,
            0-based, right/bottom exclusive (PIL's crop box); NaN rows = no box. None = no boxes.
        source: the reader's name (``"utkface"``, ``"wiki"``, ``"imdb"``).
        report: what the reader kept, dropped and repaired.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        paths: list[str] | np.ndarray,
        age: np.ndarray,
        gender: np.ndarray,
        race: np.ndarray | None = None,
        identity: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        source: str = "custom",
        report: ReadReport | None = None,
    ) -> None:
        self.root = Path(root)
        self.paths = np.asarray([str(p) for p in paths], dtype=str)
        n = len(self.paths)
        self.age = _as_labels(age, n, np.int16, "age")
        self.gender = _as_labels(gender, n, np.int8, "gender")
        self.race = _as_labels(race, n, np.int8, "race")
        self.identity = _as_labels(identity, n, np.int32, "identity")
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float64)
            if boxes.shape != (n, 4):
                raise ValueError(f"boxes must have shape ({n}, 4), got {boxes.shape}")
        self.boxes = boxes
        self.source = source
        self.report = report if report is not None else ReadReport(source, n, n)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FaceDataset(source={self.source!r}, root={str(self.root)!r}, n={len(self)})"

    def full_path(self, i: int) -> Path:
        """Absolute path of image ``i``."""
        return self.root / self.paths[i]

    def age_bin(self, bins: AgeBinsArg = "paper") -> np.ndarray:
        """(N,) int64 bin index of each age, -1 outside every bin."""
        return age_bins(bins).assign(self.age)

    def counts(self, bins: AgeBinsArg = "paper") -> np.ndarray:
        """(K + 1, 2) counts per age bin (last row: outside) and gender (male, female)."""
        return count_by_bin_and_gender(self.age, self.gender, bins)

    def subset(self, indices: np.ndarray) -> "FaceDataset":
        """A new dataset with rows ``indices`` (a bool mask or integer indices)."""
        idx = np.asarray(indices)
        return FaceDataset(
            self.root,
            self.paths[idx],
            self.age[idx],
            self.gender[idx],
            self.race[idx],
            self.identity[idx],
            None if self.boxes is None else self.boxes[idx],
            self.source,
            self.report,
        )

    def fingerprint(self, include_file_stats: bool = True) -> str:
        """SHA-256 of the source's identity: root, paths, labels, boxes and file sizes/mtimes.

        Any change to the folder's files or to the labels gives another value,
        so caches keyed by it rebuild.
        """
        digest = hashlib.sha256()
        root = str(self.root.resolve())
        digest.update(f"{self.source}\0{root}\0".encode())
        entries = []
        for name in self.paths.tolist():  # plain str and os.path: ~4x faster than Path here
            if include_file_stats:
                try:
                    st = os.stat(os.path.join(root, name))
                    entries.append(f"{name}\0{st.st_size}:{st.st_mtime_ns}\0")
                except OSError:
                    entries.append(f"{name}\0missing\0")
            else:
                entries.append(f"{name}\0")
        digest.update("".join(entries).encode())
        for array in (self.age, self.gender, self.race, self.identity):
            digest.update(np.ascontiguousarray(array).tobytes())
        if self.boxes is not None:
            digest.update(np.ascontiguousarray(self.boxes).tobytes())
        return digest.hexdigest()
