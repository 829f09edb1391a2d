"""The preprocessed cache: contents, key and rebuild, atomic build, bad-file report."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facestack.data import PreprocessSettings, build_cache, cache_key, load_face_image, open_cache, read_utkface
from facestack.data import cache as cache_module


def test_cache_holds_every_image_with_its_labels(tmp_path, utk_folder):
    faces = read_utkface(utk_folder)
    settings = PreprocessSettings(size=(24, 20), color="gray")
    cache = build_cache(faces, settings, tmp_path / "c", workers=2, executor="process")
    assert cache.images.shape == (len(faces), 1, 24, 20) and cache.images.dtype == np.uint8
    assert isinstance(cache.images, np.memmap)
    for i in (0, 7, len(faces) - 1):
        assert np.array_equal(cache.images[i], load_face_image(faces.full_path(i), settings))
    assert cache.paths.tolist() == faces.paths.tolist()
    assert cache.age.tolist() == faces.age.tolist() and cache.gender.tolist() == faces.gender.tolist()
    assert cache.report["images_bad"] == 0 and cache.report["reader"]["rows_seen"] == faces.report.rows_seen
    assert cache.meta["settings"]["size"] == [24, 20]
    rgb = build_cache(faces, PreprocessSettings(size=16, color="rgb"), tmp_path / "c", executor="serial")
    assert rgb.images.shape == (len(faces), 3, 16, 16)


def test_executors_give_identical_caches(tmp_path, utk_folder):
    faces = read_utkface(utk_folder)
    settings = PreprocessSettings(size=20)
    arrays = [
        np.array(build_cache(faces, settings, tmp_path / kind, executor=kind, workers=2).images)
        for kind in ("serial", "thread", "process")
    ]
    assert np.array_equal(arrays[0], arrays[1]) and np.array_equal(arrays[0], arrays[2])


def test_same_key_reuses_a_changed_setting_or_folder_rebuilds(tmp_path, utk_folder):
    faces = read_utkface(utk_folder)
    base = PreprocessSettings(size=16)
    first = build_cache(faces, base, tmp_path, executor="serial")
    stamp = (first.directory / "meta.json").stat().st_mtime_ns
    again = build_cache(read_utkface(utk_folder), base, tmp_path, executor="serial")
    assert again.directory == first.directory
    assert (again.directory / "meta.json").stat().st_mtime_ns == stamp  # not rebuilt
    changed = [
        PreprocessSettings(size=17), PreprocessSettings(size=16, color="rgb"),
        PreprocessSettings(size=16, stretch=True), PreprocessSettings(size=16, resample="bicubic"),
        PreprocessSettings(size=16, crop_to_box=False), PreprocessSettings(size=16, draft=False),
    ]
    keys = {cache_key(faces, s) for s in changed} | {cache_key(faces, base)}
    assert len(keys) == len(changed) + 1
    stretched = build_cache(faces, changed[2], tmp_path, executor="serial")
    assert stretched.directory != first.directory
    assert (stretched.images.reshape(len(faces), -1).max(axis=1) == 255).all()
    # a file changing in the source folder changes the key too
    key_before = cache_key(faces, base)
    victim = utk_folder / faces.paths[3]
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    assert cache_key(read_utkface(utk_folder), base) != key_before
    forced = build_cache(faces, base, tmp_path, executor="serial", rebuild=True)
    assert (forced.directory / "meta.json").stat().st_mtime_ns != stamp


def test_bad_files_are_skipped_counted_and_listed(tmp_path, utk_folder):
    names = sorted(p.name for p in utk_folder.glob("*_*_*_*.jpg.chip.jpg"))
    empty, truncated, garbage = names[2], names[5], names[9]
    (utk_folder / empty).write_bytes(b"")
    data = (utk_folder / truncated).read_bytes()
    (utk_folder / truncated).write_bytes(data[: len(data) // 3])
    (utk_folder / garbage).write_bytes(b"this is not a JPEG at all" * 10)
    faces = read_utkface(utk_folder)
    cache = build_cache(faces, PreprocessSettings(size=16), tmp_path, workers=2)
    report = cache.report
    assert report["images_bad"] == 3 and report["images_ok"] == len(faces) - 3 == len(cache)
    reasons = {b["path"]: b["reason"] for b in report["bad_files"]}
    assert set(reasons) == {empty, truncated, garbage}
    assert "0 bytes" in reasons[empty] and "truncated" in reasons[truncated]
    assert "cannot identify" in reasons[garbage]
    assert {empty, truncated, garbage}.isdisjoint(cache.paths.tolist())
    # the remaining rows are compacted and still match their labels and pixels
    for i in range(len(cache)):
        row = cache.source_row[i]
        assert cache.paths[i] == faces.paths[row] and cache.age[i] == faces.age[row]
    i = len(cache) - 1
    expected = load_face_image(faces.full_path(cache.source_row[i]), PreprocessSettings(size=16))
    assert np.array_equal(cache.images[i], expected)
    on_disk = json.loads((cache.directory / "report.json").read_text())
    assert on_disk["images_bad"] == 3


def test_an_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, utk_folder, monkeypatch):
    faces = read_utkface(utk_folder)
    cache_dir = tmp_path / "cache"
    settings = PreprocessSettings(size=16)
    real_decode = cache_module._decode_rows
    calls = []

    def dies_on_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_decode(*args)

    monkeypatch.setattr(cache_module, "CHUNK_ROWS", 8)
    monkeypatch.setattr(cache_module, "_decode_rows", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        build_cache(faces, settings, cache_dir, executor="serial")
    assert list(cache_dir.iterdir()) == []  # no final folder, no partial left behind
    # a build killed hard leaves a .partial folder: never opened, removed by the next build
    stale = cache_dir / f".partial-utkface-{cache_key(faces, settings)[:16]}-999999999"
    stale.mkdir()
    (stale / "images.npy").write_bytes(b"half")
    with pytest.raises(FileNotFoundError, match="no complete cache"):
        open_cache(stale)
    monkeypatch.setattr(cache_module, "_decode_rows", real_decode)
    cache = build_cache(faces, settings, cache_dir, executor="serial")
    assert not stale.exists() and len(cache) == len(faces)
    assert sorted(p.name for p in cache_dir.iterdir()) == [cache.directory.name]


def test_default_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACESTACK_CACHE", str(tmp_path / "x"))
    assert cache_module.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("FACESTACK_CACHE")
    assert cache_module.default_cache_dir() == Path.home() / ".cache" / "facestack"


def test_settings_are_validated():
    with pytest.raises(ValueError, match="color"):
        PreprocessSettings(color="cmyk")
    with pytest.raises(ValueError, match="size"):
        PreprocessSettings(size=(0, 5))
    with pytest.raises(ValueError, match="resample"):
        PreprocessSettings(resample="magic")
    assert PreprocessSettings(size=50).shape == (1, 50, 50)
