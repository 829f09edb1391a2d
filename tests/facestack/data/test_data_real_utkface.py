"""The real UTKFace set (../shared/data/utkface; skipped where absent).

Expected values come from ../shared/data/README.md: 23,707 files, 5 malformed
names (a stray space, a missing dot, 3 without the race field), and the counts
per paper bin and gender below.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facestack.data import BatchLoader, PreprocessSettings, build_cache, read_utkface, split_for_cache

README_FILES = 23_707
README_COUNTS = {  # (male, female) per paper bin, from the data README
    "[0,30]": (5_536, 7_124), "[31,45]": (3_240, 2_194), "[46,60]": (2_233, 983), "[61,100]": (1_376, 1_000),
}
README_OVER_100 = 21


@pytest.fixture(scope="module")
def built(utkface_dir, tmp_path_factory):
    """The 128x128 grayscale cache, built once for this module; returns (cache, folder)."""
    cache_dir = tmp_path_factory.mktemp("utkface-cache")
    cache = build_cache(read_utkface(utkface_dir), PreprocessSettings(size=128, color="gray"), cache_dir)
    return cache, cache_dir


def test_every_file_is_read_and_the_malformed_names_repaired(utkface_dir):
    faces = read_utkface(utkface_dir)
    assert faces.report.rows_seen == README_FILES == len(faces)
    assert faces.report.unreadable == []
    issues = sorted(issue for r in faces.report.repaired for issue in r["issues"])
    assert issues == ["missing '.' before 'jpg'"] + ["race field missing"] * 3 + ["stray whitespace"]
    for r in faces.report.repaired:  # the labels read agree with the name's leading fields
        age_text, gender_text = r["name"].split("_")[:2]
        assert (r["age"], r["gender"]) == (int(age_text), int(gender_text))


def test_counts_per_bin_and_gender_equal_the_readme(utkface_dir):
    faces = read_utkface(utkface_dir)
    table = faces.counts("paper")
    got = {label: tuple(int(v) for v in row) for label, row in zip(["[0,30]", "[31,45]", "[46,60]", "[61,100]"], table)}
    assert got == README_COUNTS
    assert int(table[4].sum()) == README_OVER_100 == int((faces.age > 100).sum())


def test_the_cache_builds_once_and_is_reopened(built, utkface_dir):
    """A second build with the same settings reopens the cache folder instead of rebuilding it
    (timings are benchmarks' business: benchmarks/loader.py)."""
    cache, cache_dir = built
    assert cache.images.shape == (README_FILES, 1, 128, 128) and cache.report["images_bad"] == 0
    images_file = next(Path(cache.directory).glob("images*"))
    written = images_file.stat().st_mtime_ns
    reopened = build_cache(read_utkface(utkface_dir), PreprocessSettings(size=128, color="gray"), cache_dir)
    assert images_file.stat().st_mtime_ns == written
    assert reopened.directory == cache.directory
    assert np.array_equal(reopened.images[::997], cache.images[::997])


def test_the_split_is_stratified_and_the_loader_feeds_real_batches(built):
    cache, _ = built
    split = split_for_cache(cache, "paper", seed=0)
    assert len(split.excluded) == README_OVER_100
    bins = cache.age_bin("paper")
    for part, fraction in zip(split.parts().values(), split.fractions):
        for b in range(4):
            for g in (0, 1):
                stratum = (bins == b) & (cache.gender == g)
                assert abs(stratum[part].sum() - fraction * stratum.sum()) < 1.0
    loader = BatchLoader(cache.images, cache.labels("paper"), split.train, batch_size=64)
    batch = next(iter(loader))
    assert batch.x.shape == (64, 1, 128, 128) and 0.0 <= batch.x.min() and batch.x.max() <= 1.0
    assert np.array_equal(batch.labels["age_bin"], bins[batch.rows])
