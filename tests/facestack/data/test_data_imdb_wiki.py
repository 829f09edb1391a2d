"""IMDB-WIKI reader on a small wiki.mat / imdb.mat in the real structure, and its cleaning rules."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from PIL import Image

from tests.facestack.data.data_fixtures import FACE_BOX_MATLAB, WIKI_KEPT_BY_PAPER_RULES, WIKI_ROWS, write_jpeg, write_wiki_mat
from facestack.data import (
    FEMALE,
    MALE,
    ImdbWikiCleaning,
    PreprocessSettings,
    build_cache,
    load_face_image,
    matlab_datenum_to_year,
    read_faces,
    read_imdb_wiki,
)

ROW_NAMES = [r[0] for r in WIKI_ROWS]


def kept_names(faces) -> list[str]:
    """Row names of the kept rows (the fixture encodes the row index in the file name)."""
    return [ROW_NAMES[int(p.split("/")[1].split("_")[0]) - 1000] for p in faces.paths]


def test_datenum_year_agrees_with_python_ordinals():
    rng = np.random.default_rng(0)
    datenums = rng.uniform(367, 740000, 2000)
    expected = [date.fromordinal(int(d) - 366).year for d in datenums]
    assert matlab_datenum_to_year(datenums).tolist() == expected
    assert np.isnan(matlab_datenum_to_year(np.array([np.nan, np.inf]))).all()


def test_paper_cleaning_keeps_the_expected_rows_and_counts_each_rule(wiki_folder):
    faces = read_imdb_wiki(wiki_folder / "wiki.mat")
    assert faces.source == "wiki" and faces.root == wiki_folder
    assert kept_names(faces) == WIKI_KEPT_BY_PAPER_RULES
    by_name = dict(zip(kept_names(faces), zip(faces.age.tolist(), faces.gender.tolist())))
    assert by_name == {
        "good male 28": (28, MALE), "good female 50": (50, FEMALE), "age 0": (0, FEMALE),
        "age 100": (100, MALE), "low face score": (22, FEMALE),
    }
    dropped = faces.report.dropped
    assert list(dropped.values()) == [1, 1, 1, 1, 2, 1, 1]  # one rule per fixture row, in field order
    assert sum(dropped.values()) + len(faces) == len(WIKI_ROWS) == faces.report.rows_seen
    assert "no face found" in next(iter(dropped))


def test_cleaning_is_configurable(wiki_folder):
    strict = read_imdb_wiki(wiki_folder, cleaning=ImdbWikiCleaning(min_face_score=1.0))
    assert "low face score" not in kept_names(strict)
    authors = read_imdb_wiki(wiki_folder, cleaning=ImdbWikiCleaning.authors_code())
    assert kept_names(authors) == [
        "good male 28", "good female 50", "no face", "age 150", "age 0", "age 100", "age 101", "low face score",
    ]
    assert authors.age[kept_names(authors).index("age 150")] == 150
    first_two = read_imdb_wiki(wiki_folder, cleaning=ImdbWikiCleaning(max_rows=2))
    assert kept_names(first_two) == WIKI_KEPT_BY_PAPER_RULES[:2]
    everything = read_imdb_wiki(
        wiki_folder,
        cleaning=ImdbWikiCleaning(None, False, None, None, require_gender=False, require_file=False),
    )
    assert len(everything) == len(WIKI_ROWS) - 1  # only the unknown dob goes (age unknown)
    assert -1 in everything.gender.tolist()


def test_boxes_identity_and_imdb_celeb_id(tmp_path, wiki_folder):
    faces = read_imdb_wiki(wiki_folder)
    x1, y1, x2, y2 = FACE_BOX_MATLAB
    assert faces.boxes.tolist()[0] == [x1 - 1, y1 - 1, x2, y2]
    every = read_imdb_wiki(wiki_folder, cleaning=ImdbWikiCleaning(min_face_score=None))
    assert np.isnan(every.boxes[kept_names(every).index("no face")]).all()  # [1 1 1 1]: no box
    # wiki: identity is the index of the name; an empty name is unknown (-1)
    rows = [ROW_NAMES.index(name) for name in kept_names(faces)]
    assert [(r % 4 == 0) for r in rows] == (faces.identity == -1).tolist()  # the fixture's empty names
    named = faces.identity[faces.identity >= 0]
    assert len(set(named.tolist())) == len(named)  # distinct names, distinct ids
    imdb = read_faces(write_wiki_mat(tmp_path / "imdb_crop", struct_name="imdb", with_celeb_id=True).parent)
    assert imdb.source == "imdb"
    assert sorted(set(imdb.identity.tolist())) == [7, 8]


def test_crop_by_face_location_reads_exactly_the_matlab_box(wiki_folder):
    faces = read_imdb_wiki(wiki_folder)
    x1, y1, x2, y2 = (int(v) for v in FACE_BOX_MATLAB)
    size = (y2 - y1 + 1, x2 - x1 + 1)
    settings = PreprocessSettings(size=size, color="gray", draft=False)
    cropped = load_face_image(faces.full_path(0), settings, faces.boxes[0])
    full = np.asarray(Image.open(faces.full_path(0)).convert("L"))
    assert np.array_equal(cropped[0], full[y1 - 1 : y2, x1 - 1 : x2])  # MATLAB img(y1:y2, x1:x2)
    whole = PreprocessSettings(size=full.shape, draft=False, crop_to_box=False)
    uncropped = load_face_image(faces.full_path(0), whole, faces.boxes[0])
    assert np.array_equal(uncropped[0], full)


def test_draft_decoding_of_a_large_photo_stays_close(tmp_path):
    path = write_jpeg(tmp_path / "big.jpg", 960, 800, seed=5)
    box = np.array([100.0, 80.0, 740.0, 720.0])
    fast = load_face_image(path, PreprocessSettings(size=64, draft=True), box)
    exact = load_face_image(path, PreprocessSettings(size=64, draft=False), box)
    assert fast.shape == exact.shape == (1, 64, 64)
    assert np.abs(fast.astype(int) - exact.astype(int)).mean() < 4.0


def test_cache_from_imdb_wiki_crops_faces(tmp_path, wiki_folder):
    faces = read_imdb_wiki(wiki_folder)
    cache = build_cache(faces, PreprocessSettings(size=32, color="rgb"), tmp_path / "cache", executor="serial")
    assert cache.images.shape == (len(faces), 3, 32, 32)
    assert cache.age.tolist() == faces.age.tolist()


def test_missing_struct_or_field_is_a_clear_error(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "wiki.mat", {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="struct named 'wiki' or 'imdb'"):
        read_imdb_wiki(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_imdb_wiki(tmp_path / "elsewhere")
    assert math.isinf(ImdbWikiCleaning().min_face_score)
