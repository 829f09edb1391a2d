"""The stratified split: deterministic, seeded, proportional per (age bin, gender), saved beside the cache."""
from __future__ import annotations

import numpy as np
import pytest

from facestack.data import PreprocessSettings, Split, build_cache, read_utkface, split_for_cache, stratified_split
from facestack.data.split import _allocate


def labels(n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    age_bin = rng.choice([-1, 0, 1, 2, 3], size=n, p=[0.01, 0.5, 0.25, 0.15, 0.09])
    gender = rng.choice([-1, 0, 1], size=n, p=[0.01, 0.55, 0.44])
    return age_bin, gender


def test_parts_are_disjoint_cover_every_valid_row_and_are_sorted():
    age_bin, gender = labels()
    split = stratified_split(age_bin, gender, seed=3)
    everything = np.concatenate([split.train, split.val, split.test, split.excluded])
    assert np.array_equal(np.sort(everything), np.arange(len(age_bin)))
    assert np.array_equal(split.excluded, np.flatnonzero((age_bin < 0) | (gender < 0)))
    for part in split.parts().values():
        assert np.all(np.diff(part) > 0)


def test_every_stratum_has_the_requested_proportions():
    age_bin, gender = labels()
    fractions = (0.7, 0.1, 0.2)
    split = stratified_split(age_bin, gender, fractions, seed=0)
    for b in range(4):
        for g in (0, 1):
            stratum = np.flatnonzero((age_bin == b) & (gender == g))
            for part, fraction in zip(split.parts().values(), fractions):
                got = np.isin(stratum, part).sum()
                assert abs(got - fraction * len(stratum)) < 1.0, (b, g, got, len(stratum))


def test_same_seed_same_split_other_seed_other_split():
    age_bin, gender = labels()
    a, b = stratified_split(age_bin, gender, seed=7), stratified_split(age_bin.copy(), gender.copy(), seed=7)
    c = stratified_split(age_bin, gender, seed=8)
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.test, c.test)
    assert len(a.test) == len(c.test)  # the sizes depend on the labels only


def test_largest_remainder_allocation_sums_exactly():
    for count in range(0, 40):
        parts = _allocate(count, np.array([0.85, 0.05, 0.10]))
        assert parts.sum() == count and (parts >= 0).all()
        assert np.all(np.abs(parts - count * np.array([0.85, 0.05, 0.10])) < 1)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, -0.1), (0.5, 0.2, 0.2)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(np.zeros(4, int), np.zeros(4, int), fractions)


def test_split_is_saved_beside_the_cache_and_reused(tmp_path, utk_folder):
    cache = build_cache(read_utkface(utk_folder), PreprocessSettings(size=8), tmp_path / "c", executor="serial")
    first = split_for_cache(cache, "paper", seed=2)
    saved = list(cache.directory.glob("split-*.npz"))
    assert [p.name for p in saved] == ["split-paper-0_31_46_61_101-0.85_0.05_0.1-seed2.npz"]
    loaded = Split.load(saved[0])
    assert np.array_equal(loaded.train, first.train) and loaded.seed == 2 and loaded.bins_key == first.bins_key
    again = split_for_cache(cache, "paper", seed=2)
    assert np.array_equal(again.val, first.val)
    ages = cache.age[np.concatenate([first.train, first.val, first.test])]
    assert ages.max() <= 100  # rows over 100 have no paper bin: excluded
    assert set(cache.age[first.excluded].tolist()) == {101, 116}
    code = split_for_cache(cache, "code", seed=2)
    assert len(list(cache.directory.glob("split-*.npz"))) == 2 and len(code.excluded) == 0
