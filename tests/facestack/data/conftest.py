"""Fixtures for tests/data: small data sets in the real formats, made by the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.facestack.data.data_fixtures import UTK_CANONICAL, UTK_MALFORMED, UTK_UNREADABLE, utk_name, write_jpeg, write_wiki_mat


@pytest.fixture
def utk_folder(tmp_path: Path) -> Path:
    """``tmp/utkface/UTKFace`` with canonical, malformed and unreadable names and a stray text file."""
    folder = tmp_path / "utkface" / "UTKFace"
    for i, (age, gender, race) in enumerate(UTK_CANONICAL):
        write_jpeg(folder / utk_name(age, gender, race, i), seed=i)
    for j, name in enumerate(list(UTK_MALFORMED) + UTK_UNREADABLE):
        write_jpeg(folder / name, seed=100 + j)
    (folder / "README.txt").write_text("not an image")
    return folder


@pytest.fixture
def wiki_folder(tmp_path: Path) -> Path:
    """``tmp/wiki_crop`` with wiki.mat and the JPEG tree."""
    folder = tmp_path / "wiki_crop"
    write_wiki_mat(folder)
    return folder
