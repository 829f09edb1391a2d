"""``--train-limit N``: N training faces, the validation and test splits left whole (the paper's small set)."""
from __future__ import annotations

import numpy as np
import pytest

from facestack.data.validate import UsageError
from facestack.paper import gender_cnn
from facestack.train.cli import prepare_data, resolve_settings

from tests.facestack.data.data_fixtures import utk_name, write_jpeg


@pytest.fixture(scope="module")
def small_utkface(tmp_path_factory):
    """240 tiny faces over every age bin and both genders."""
    folder = tmp_path_factory.mktemp("utkface")
    rng = np.random.default_rng(0)
    for i in range(240):
        age, gender, race = int(rng.choice([5, 25, 38, 52, 70])), i % 2, int(rng.integers(0, 5))
        write_jpeg(folder / utk_name(age, gender, race, i), width=24, height=24, seed=i)
    return folder


def settings_for(folder, cache, *extra):
    settings, _ = resolve_settings(gender_cnn.EXPERIMENT, ["--data", str(folder), "--cache-dir", str(cache),
                                                           "--no-progress", "--workers", "1", *extra])
    return settings


def test_train_limit_shrinks_only_the_training_split(small_utkface, tmp_path):
    whole = prepare_data(settings_for(small_utkface, tmp_path))
    small = prepare_data(settings_for(small_utkface, tmp_path, "--train-limit", "40"))
    again = prepare_data(settings_for(small_utkface, tmp_path, "--train-limit", "40"))
    assert len(small.train) == 40 and len(whole.train) > 40
    assert np.isin(small.train, whole.train).all()
    np.testing.assert_array_equal(small.train, again.train)  # seeded: the same 40 every run
    np.testing.assert_array_equal(small.val, whole.val)
    np.testing.assert_array_equal(small.test, whole.test)


def test_train_limit_and_limit_together_are_refused(small_utkface, tmp_path):
    with pytest.raises(UsageError, match="--train-limit"):
        prepare_data(settings_for(small_utkface, tmp_path, "--train-limit", "40", "--limit", "80"))
