"""Label convention, gender mapping, age bins at their edges, counts table."""
from __future__ import annotations

import math

import numpy as np
import pytest

from facestack.data.labels import (
    CODE_AGE_BINS,
    FEMALE,
    MALE,
    PAPER_AGE_BINS,
    UNKNOWN,
    AgeBins,
    age_bins,
    count_by_bin_and_gender,
    format_counts,
    gender_from_imdb_wiki,
)


def test_imdb_wiki_gender_is_mapped_to_the_canonical_convention():
    raw = np.array([1.0, 0.0, np.nan, 1.0, 0.5])
    assert gender_from_imdb_wiki(raw).tolist() == [MALE, FEMALE, UNKNOWN, MALE, UNKNOWN]
    assert (MALE, FEMALE) == (0, 1)  # UTKFace's convention is the canonical one


@pytest.mark.parametrize(
    "age, expected",
    [(-1, -1), (0, 0), (30, 0), (31, 1), (45, 1), (46, 2), (60, 2), (61, 3), (100, 3), (101, -1), (116, -1)],
)
def test_paper_bins_at_their_edges(age, expected):
    assert PAPER_AGE_BINS.assign(np.array([age])).tolist() == [expected]


@pytest.mark.parametrize(
    "age, expected",
    [(-1, -1), (0, 0), (29, 0), (30, 1), (45, 1), (46, 2), (59, 2), (60, 3), (100, 3), (116, 3)],
)
def test_authors_code_bins_at_their_edges(age, expected):
    assert CODE_AGE_BINS.assign(np.array([age])).tolist() == [expected]


def test_user_edges_intervals_labels_and_nan():
    bins = age_bins([0, 18, 65, math.inf])
    assert bins.intervals() == [(0, 17), (18, 64), (65, math.inf)]
    assert bins.labels() == ["[0,17]", "[18,64]", "[65,inf)"]
    assert bins.assign(np.array([17, 18, 64, 65, 200, np.nan])).tolist() == [0, 1, 1, 2, 2, -1]
    assert PAPER_AGE_BINS.labels() == ["[0,30]", "[31,45]", "[46,60]", "[61,100]"]
    same = AgeBins.from_intervals([(0, 30), (31, 45), (46, 60), (61, 100)], "paper")
    assert same == PAPER_AGE_BINS
    assert AgeBins.from_intervals([(0, 29), (30, 45), (46, 59), (60, math.inf)], "code") == CODE_AGE_BINS
    assert PAPER_AGE_BINS.key() == "paper-0_31_46_61_101"


@pytest.mark.parametrize("edges", [[0], [0, 10, 10], [5, 3], [math.nan, 3], [-math.inf, 3]])
def test_bad_edges_are_refused(edges):
    with pytest.raises(ValueError):
        AgeBins.from_edges(edges)


def test_bins_refuse_gaps_and_unknown_names():
    with pytest.raises(ValueError, match="contiguous"):
        AgeBins.from_intervals([(0, 30), (32, 45)])
    with pytest.raises(ValueError, match="unknown age bins"):
        age_bins("decades")


def test_counts_table_matches_a_direct_count():
    rng = np.random.default_rng(3)
    ages = rng.integers(0, 120, 500)
    gender = rng.integers(-1, 2, 500)
    table = count_by_bin_and_gender(ages, gender, "paper")
    assert table.shape == (5, 2)
    bins = PAPER_AGE_BINS.assign(ages)
    for k in range(4):
        for g in (0, 1):
            assert table[k, g] == np.sum((bins == k) & (gender == g))
    assert table[4].tolist() == [np.sum((ages > 100) & (gender == g)) for g in (0, 1)]
    assert table.sum() == np.sum(gender >= 0)
    text = format_counts(table, "paper")
    assert "[61,100]" in text and "outside" in text and f"{table.sum():,}" in text
