"""UTKFace reader: canonical names, the malformed names of the real set, unreadable names."""
from __future__ import annotations

import numpy as np
import pytest

from tests.facestack.data.data_fixtures import UTK_CANONICAL, UTK_MALFORMED, UTK_UNREADABLE
from facestack.data import parse_utkface_name, read_faces, read_utkface


def test_canonical_name():
    parsed = parse_utkface_name("26_1_2_20170116174525125.jpg.chip.jpg")
    assert (parsed.age, parsed.gender, parsed.race, parsed.issues, parsed.ok) == (26, 1, 2, [], True)


@pytest.mark.parametrize("name", sorted(UTK_MALFORMED))
def test_malformed_names_of_the_real_set_are_read(name):
    age, gender, race, issue = UTK_MALFORMED[name]
    parsed = parse_utkface_name(name)
    assert parsed.ok
    assert (parsed.age, parsed.gender, parsed.race) == (age, gender, race)
    assert parsed.issues == [issue]


def test_three_fields_with_a_race_digit_means_the_timestamp_is_missing():
    parsed = parse_utkface_name("33_0_4.jpg.chip.jpg")
    assert (parsed.age, parsed.gender, parsed.race) == (33, 0, 4)
    assert parsed.issues == ["timestamp field missing"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("abc_0_1_20170101.jpg.chip.jpg", "age field"),
        ("30_7_1_20170101.jpg.chip.jpg", "gender field"),
        ("42.jpg.chip.jpg", "fields"),
        ("1_0_2_3_4_5.jpg.chip.jpg", "fields"),
    ],
)
def test_unrecoverable_names_say_why(name, reason):
    parsed = parse_utkface_name(name)
    assert not parsed.ok and reason in parsed.error


def test_folder_reader_keeps_readable_names_and_reports_the_rest(utk_folder):
    for path in (utk_folder, utk_folder.parent):  # the UTKFace folder or the folder holding it
        faces = read_utkface(path)
        assert faces.root == utk_folder
        assert len(faces) == len(UTK_CANONICAL) + len(UTK_MALFORMED)
        report = faces.report
        assert report.rows_seen == len(UTK_CANONICAL) + len(UTK_MALFORMED) + len(UTK_UNREADABLE)
        assert report.rows_kept == len(faces)
        assert sorted(r["name"] for r in report.repaired) == sorted(UTK_MALFORMED)
        assert sorted(u["name"] for u in report.unreadable) == sorted(UTK_UNREADABLE)
        assert list(report.dropped.values()) == [len(UTK_UNREADABLE)]
        assert "README.txt" not in faces.paths
    by_name = dict(zip(faces.paths, zip(faces.age.tolist(), faces.gender.tolist(), faces.race.tolist())))
    for name, (age, gender, race, _) in UTK_MALFORMED.items():
        assert by_name[name] == (age, gender, race)
    canonical = sorted((a, g, r) for a, g, r in UTK_CANONICAL)
    kept = sorted(v for k, v in by_name.items() if k not in UTK_MALFORMED)
    assert kept == canonical
    assert faces.age.dtype == np.int16 and faces.gender.dtype == np.int8
    assert (faces.identity == -1).all() and faces.boxes is None
    assert read_faces(utk_folder.parent).source == "utkface"
    assert "repaired" in report.summary() and "unreadable" in report.summary()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="UTKFace folder not found"):
        read_utkface(tmp_path / "nope")
