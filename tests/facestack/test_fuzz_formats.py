"""Fuzz every file format facestack reads: damaged and random input raises only the documented errors.

Formats: ``.npz`` weights (:func:`minicnn.serialization.load_arrays`), training checkpoints
(:func:`minicnn.train.checkpoint.load_checkpoint`), images (:func:`facestack.classify.read_image`),
settings.json (a run's, for the classifier and for ``--resume``), a cache's meta.json, the
WebFaces ground-truth file (``facestack.webfaces.read_webfaces_annotations``) and UTKFace file names.

The contract: a damaged file raises a ``ValueError`` (the project's own ModelFileError,
CheckpointError, CacheError and UsageError are ValueErrors) or an ``OSError``, never
anything else, and never a crash, a hang or a huge allocation: every test runs under an
address-space limit of the process's size plus 1 GiB (:func:`memory_limit`), so a header
declaring a gigantic array fails the test with a MemoryError instead of passing.
"""
from __future__ import annotations

import io
import json
import resource
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from facestack.classify import read_image
from facestack.data.cache import open_cache
from facestack.data.utkface import parse_utkface_name
from facestack.pipeline import classifier_from_state
from minicnn.serialization import load_arrays, save_arrays
from minicnn.train.checkpoint import load_checkpoint, save_checkpoint
from facestack.webfaces import read_webfaces_annotations

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)
CONTRACT = (ValueError, OSError)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=20)


@pytest.fixture(autouse=True)
def memory_limit():
    """An address-space limit of the current size + 1 GiB for the test (the soft limit only, restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmSize:")).split()[1]) * 1024
    limit = size + (1 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    """``data`` with bytes XOR-ed at the given (position, value) pairs and optionally cut short."""
    out = bytearray(data)
    for position, value in flips:
        if out:
            out[position % len(out)] ^= value or 1
    return bytes(out[:cut] if cut is not None else out)


MUTATIONS = dict(flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
                 cut=st.none() | st.integers(0, 4096))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def huge_npz(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An .npz whose one member's header declares ``shape`` but holds 16 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("w.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 16)
    return buffer.getvalue()


WEIGHTS = npz_bytes({"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "conv.bias": np.ones(2)})


@FUZZ
@given(**MUTATIONS)
def test_npz_weights_mutated(tmp_path, flips, cut):
    path = tmp_path / "model.npz"
    path.write_bytes(mutate(WEIGHTS, flips, cut))
    try:
        arrays = load_arrays(path)
    except CONTRACT:
        return
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())


@pytest.mark.parametrize("shape, dtype", [((10**6, 10**6), "<f8"), ((2**40,), "<f4"), ((), "<U1000000000"),
                                          ((10**12,), "|V8")])
def test_npz_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path, shape, dtype):
    path = tmp_path / "huge.npz"
    path.write_bytes(huge_npz(shape, dtype))
    with pytest.raises(ValueError, match="huge.npz"):
        load_arrays(path)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_npz_random_bytes(tmp_path, data):
    path = tmp_path / "random.npz"
    path.write_bytes(data)
    with pytest.raises(CONTRACT):
        load_arrays(path)


def checkpoint_bytes(tmp_path: Path, meta: object) -> bytes:
    path = save_checkpoint(tmp_path / "seed.npz", {"model": {"w": np.zeros(3, np.float32)}}, {"epoch": 1})
    arrays = load_arrays(path)
    arrays["meta"] = np.asarray(json.dumps(meta))
    return npz_bytes(arrays)


@FUZZ
@given(meta=JSON)
def test_checkpoint_with_any_meta(tmp_path, meta):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(checkpoint_bytes(tmp_path, meta))
    try:
        states, loaded = load_checkpoint(path)
    except CONTRACT:
        return
    assert isinstance(loaded, dict) and isinstance(loaded.get("epoch", 0), int)


@FUZZ
@given(**MUTATIONS)
def test_checkpoint_mutated(tmp_path, flips, cut):
    good = checkpoint_bytes(tmp_path, {"epoch": 2, "step": 6, "history": [{"epoch": 1}], "best": None})
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(mutate(good, flips, cut))
    try:
        load_checkpoint(path)
    except CONTRACT:
        pass


def image_bytes(format: str) -> bytes:
    rgb = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=format)
    return buffer.getvalue()


IMAGES = {"png": image_bytes("PNG"), "jpg": image_bytes("JPEG"), "bmp": image_bytes("BMP"), "gif": image_bytes("GIF")}


@FUZZ
@given(kind=st.sampled_from(sorted(IMAGES)), **MUTATIONS)
def test_image_mutated(tmp_path, kind, flips, cut):
    path = tmp_path / f"photo.{kind}"
    path.write_bytes(mutate(IMAGES[kind], flips, cut))
    try:
        image = read_image(path, max_pixels=1_000_000)
    except CONTRACT:
        return
    assert image.mode == "RGB" and image.size[0] * image.size[1] <= 1_000_000


@FUZZ
@given(kind=st.sampled_from(sorted(IMAGES)), **MUTATIONS)
def test_cache_decoder_on_mutated_images(tmp_path, kind, flips, cut):
    """The cache's decoder: a damaged file raises (the build counts it as a bad file) or decodes to the shape."""
    from facestack.data import PreprocessSettings, load_face_image

    path = tmp_path / f"face.{kind}"
    path.write_bytes(mutate(IMAGES[kind], flips, cut))
    try:
        pixels = load_face_image(path, PreprocessSettings(size=16))
    except Exception:  # noqa: BLE001 - the build catches every Exception of one file, never a BaseException
        return
    assert pixels.shape == (1, 16, 16) and pixels.dtype == np.uint8


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (its data is one empty chunk)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@FUZZ
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_image_header_of_any_size_is_refused_or_read_within_the_budget(tmp_path, width, height):
    path = tmp_path / "declared.png"
    path.write_bytes(png_header(width, height))
    with pytest.raises(CONTRACT):  # over the budget from the header, or its (empty) data is unreadable
        read_image(path, max_pixels=4_000_000, downscale=True)


@FUZZ
@given(settings_json=JSON)
def test_classifier_settings_of_any_shape(tmp_path, settings_json):
    if not isinstance(settings_json, dict):
        settings_json = {"width": settings_json}
    try:
        classifier_from_state({}, settings_json, tmp_path / "weights.npz")
    except CONTRACT:
        return
    raise AssertionError("an empty state never fits a network")


@FUZZ
@given(values=st.dictionaries(st.sampled_from(["epochs", "batch_size", "lr", "width", "threads", "dropout",
                                               "schedule", "augment", "data", "task_weights", "momentum"]),
                              JSON, max_size=6))
def test_resumed_settings_json_of_any_content(tmp_path, values):
    from facestack.paper import multitask
    from facestack.train.cli import resolve_settings

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    saved = {"script": "multitask", "preset": "paper", "variant": "paper", "epochs": 2, "batch_size": 8, "lr": 0.01,
             "seed": 0, **values}
    (run / "settings.json").write_text(json.dumps(saved))
    try:
        resolved, resuming = resolve_settings(multitask.EXPERIMENT, ["--resume", str(run)])
    except CONTRACT:
        return
    assert resuming and 1 <= resolved.width <= 8 and resolved.epochs >= 1 and resolved.lr > 0


@FUZZ
@given(text=st.binary(max_size=2048))
def test_settings_file_random_bytes(tmp_path, text):
    from facestack.data.validate import read_json_object

    path = tmp_path / "settings.json"
    path.write_bytes(text)
    try:
        assert isinstance(read_json_object(path), dict)
    except CONTRACT:
        pass


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory) -> Path:
    from facestack.data import FaceDataset, PreprocessSettings, build_cache

    root = tmp_path_factory.mktemp("faces")
    for i in range(3):
        Image.new("L", (20, 20), 40 * i).save(root / f"{20 + i}_0_0_1.jpg.chip.jpg")
    faces = FaceDataset(root, sorted(p.name for p in root.iterdir()), np.array([20, 21, 22]), np.zeros(3))
    return Path(build_cache(faces, PreprocessSettings(size=8), tmp_path_factory.mktemp("cache"),
                            executor="serial").directory)


@FUZZ
@given(meta=JSON)
def test_cache_meta_json_of_any_content(cache_folder, meta):
    import shutil

    copy = cache_folder.parent / "fuzzed"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(cache_folder, copy)
    (copy / "meta.json").write_text(json.dumps(meta))
    try:
        cache = open_cache(copy)
    except CONTRACT:
        return
    assert len(cache) == len(cache.images) == cache.meta["count"]


LINE = st.lists(st.one_of(st.text(max_size=12), st.floats().map(repr), st.integers().map(str)), max_size=11)


@FUZZ
@given(lines=st.lists(LINE.map(" ".join), max_size=12), raw=st.none() | st.binary(max_size=256))
def test_webfaces_ground_truth(tmp_path, lines, raw):
    path = tmp_path / "WebFaces_GroundThruth.txt"
    path.write_bytes(raw if raw is not None else "\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        faces = read_webfaces_annotations(path)
    except CONTRACT:
        return
    assert all(marks.ndim == 3 and marks.shape[1:] == (4, 2) for marks in faces.values())


def test_webfaces_ground_truth_refuses_non_finite_coordinates(tmp_path):
    path = tmp_path / "WebFaces_GroundThruth.txt"
    path.write_text("pic.jpg nan 1 2 3 4 5 6 inf\n")
    with pytest.raises(ValueError):
        read_webfaces_annotations(path)


@FUZZ
@given(name=st.text(max_size=80) | st.from_regex(r"[0-9]{1,6}_[0-9 ]{1,2}_[0-9]{0,2}_?[0-9]{0,17} ?\.?jpg(\.chip\.jpg)?",
                                                 fullmatch=True))
def test_utkface_names_never_raise(name):
    parsed = parse_utkface_name(name)
    if parsed.ok:
        assert 0 <= parsed.age <= 999 and parsed.gender in (0, 1) and -1 <= parsed.race <= 4
    else:
        assert parsed.age is None and parsed.error


def test_utkface_name_with_a_huge_age_is_unreadable_not_an_error():
    assert not parse_utkface_name("9" * 5000 + "_0_1_2017.jpg.chip.jpg").ok
    assert not parse_utkface_name("\u00b2_0_1_2017.jpg.chip.jpg").ok  # a superscript two is a digit to str.isdigit
