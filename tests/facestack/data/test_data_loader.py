"""The batch loader: epochs, shuffling, scaling, augmentation against per-image references, prefetch, device."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn import backend
from facestack.data import Augment, BatchLoader, channel_mean_std
from facestack.data.augment import random_brightness, random_crop, random_flip


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (103, 2, 12, 10), dtype=np.uint8)


def test_an_epoch_visits_every_row_once_with_its_labels(images):
    ids = np.arange(len(images)) * 10
    loader = BatchLoader(images, {"id": ids}, batch_size=16, seed=1)
    assert len(loader) == 7
    batches = list(loader)
    rows = np.concatenate([b.rows for b in batches])
    assert sorted(rows.tolist()) == list(range(len(images)))
    for b in batches:
        assert b.x.dtype == np.float32 and b.x.shape[1:] == (2, 12, 10)
        assert np.array_equal(b.labels["id"], b.rows * 10) and b.labels["id"].dtype == np.int64
        assert np.allclose(b.x, images[b.rows] / 255.0)  # the paper's scaling to [0, 1]
    assert [len(b.rows) for b in batches] == [16] * 6 + [7]
    assert len(BatchLoader(images, batch_size=16, drop_last=True)) == 6
    assert [len(b.rows) for b in BatchLoader(images, batch_size=16, drop_last=True)] == [16] * 6


def test_order_changes_per_epoch_and_is_reproducible(images):
    subset = np.arange(0, 100, 3)
    a = BatchLoader(images, indices=subset, batch_size=8, seed=5, prefetch=0)
    b = BatchLoader(images, indices=subset, batch_size=8, seed=5, prefetch=3)
    epoch0 = [x.rows.tolist() for x in a]
    epoch1 = [x.rows.tolist() for x in a]
    assert epoch0 != epoch1
    assert epoch0 == [x.rows.tolist() for x in b] and epoch1 == [x.rows.tolist() for x in b]
    assert set(sum(epoch0, [])) == set(subset.tolist())
    b.set_epoch(0)
    assert [x.rows.tolist() for x in b] == epoch0
    plain = BatchLoader(images, indices=subset, batch_size=8, shuffle=False)
    assert sum([x.rows.tolist() for x in plain], []) == subset.tolist()


def test_random_crop_matches_a_per_image_reference():
    batch = np.random.default_rng(1).integers(0, 256, (9, 3, 7, 6), dtype=np.uint8)
    for mode in ("constant", "edge", "reflect"):
        got = random_crop(batch, 2, np.random.default_rng(4), mode)
        rng = np.random.default_rng(4)
        dy, dx = rng.integers(0, 5, 9), rng.integers(0, 5, 9)
        for i in range(9):
            padded = np.pad(batch[i], ((0, 0), (2, 2), (2, 2)), mode=mode)
            assert np.array_equal(got[i], padded[:, dy[i] : dy[i] + 7, dx[i] : dx[i] + 6])
    assert np.array_equal(random_crop(batch, 0, np.random.default_rng(0)), batch)


def test_flip_and_brightness_match_per_image_references():
    batch = np.random.default_rng(2).integers(0, 256, (20, 1, 5, 4), dtype=np.uint8)
    flipped = random_flip(batch.copy(), np.random.default_rng(9))
    chosen = np.random.default_rng(9).random(20) < 0.5
    assert 0 < chosen.sum() < 20
    for i in range(20):
        assert np.array_equal(flipped[i], batch[i, :, :, ::-1] if chosen[i] else batch[i])
    x = batch.astype(np.float32) / 255
    y = random_brightness(x.copy(), 0.2, np.random.default_rng(3))
    delta = np.random.default_rng(3).uniform(-0.2, 0.2, 20).astype(np.float32)
    for i in range(20):
        assert np.allclose(y[i], np.clip(x[i] + delta[i], 0, 1))


def test_augmented_batches_stay_in_range_and_are_reproducible(images):
    augment = Augment(crop_padding=3, flip=True, brightness=0.1)
    a = [b.x for b in BatchLoader(images, batch_size=32, augment=augment, seed=2)]
    b = [b.x for b in BatchLoader(images, batch_size=32, augment=augment, seed=2)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert all(p.min() >= 0 and p.max() <= 1 for p in a)
    plain = [x.x for x in BatchLoader(images, batch_size=32, seed=2)]
    assert not all(np.array_equal(p, q) for p, q in zip(a, plain))
    raw = next(iter(BatchLoader(images, batch_size=8, augment=augment, scale="none")))
    assert raw.x.max() > 1 and raw.x.max() <= 255


def test_standardize_uses_the_training_rows_statistics(images):
    rows = np.arange(50)
    mean, std = channel_mean_std(images, rows)
    reference = images[rows].astype(np.float64) / 255
    assert np.allclose(mean, reference.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose(std, reference.std(axis=(0, 2, 3)), atol=1e-6)
    loader = BatchLoader(images, indices=rows, batch_size=50, scale="standardize", shuffle=False)
    x = next(iter(loader)).x
    assert np.allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-4) and np.allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_errors_in_the_prefetch_thread_reach_the_consumer(images):
    loader = BatchLoader(images, {"bad": np.zeros(len(images))}, batch_size=10)
    loader.labels["bad"] = np.zeros(5)  # too short: the producer fails on a later batch
    with pytest.raises(IndexError):
        list(loader)


def test_stopping_early_stops_the_thread(images):
    import threading

    loader = BatchLoader(images, batch_size=4, prefetch=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert not any(t.name == "BatchLoader-prefetch" for t in threading.enumerate())


def test_batches_are_moved_with_the_backend_on_gpu(images, monkeypatch):
    moved = []

    def fake_to_device(array, device):
        moved.append(device)
        return ("on", device, array)

    monkeypatch.setattr(backend, "to_device", fake_to_device)
    monkeypatch.setattr(backend, "_require_cupy", lambda: None)  # the loader checks for a GPU when built
    batch = next(iter(BatchLoader(images, {"gender": np.zeros(len(images), int)}, batch_size=8, device="cuda")))
    assert batch.x[0:2] == ("on", "gpu") and batch.labels["gender"][0:2] == ("on", "gpu")
    assert isinstance(batch.rows, np.ndarray)
    with pytest.raises(ValueError, match="unknown device"):
        BatchLoader(images, device="tpu")


@pytest.mark.gpu
def test_batches_on_a_real_gpu(images):
    if not backend.cupy_available():
        pytest.skip("CuPy or a CUDA device is not available")
    batch = next(iter(BatchLoader(images, {"g": np.zeros(len(images), int)}, batch_size=8, device="gpu")))
    assert backend.device_of(batch.x) == "gpu" and backend.device_of(batch.labels["g"]) == "gpu"
    assert np.allclose(backend.to_numpy(batch.x), images[batch.rows] / 255.0)


def test_bad_arguments_are_refused(images):
    with pytest.raises(ValueError, match="uint8"):
        BatchLoader(images.astype(np.float32))
    with pytest.raises(ValueError, match="rows"):
        BatchLoader(images, {"age": np.zeros(3)})
    with pytest.raises(ValueError, match="scale"):
        BatchLoader(images, scale="zscore")
    with pytest.raises(ValueError, match="crop_padding"):
        Augment(crop_padding=-1)
