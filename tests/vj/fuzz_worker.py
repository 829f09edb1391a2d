"""Fuzzing of the file formats vj reads, run in a child process by ``test_fuzz_formats.py``.

``python fuzz_worker.py WORKDIR EXAMPLES FORMAT...`` imports vj, then caps its own address space
at what it already uses plus ``HEADROOM`` bytes (``resource.RLIMIT_AS``), so a reader
that allocates without bound fails with MemoryError instead of taking the machine,
and runs Hypothesis properties over mutated and random inputs of each FORMAT: each
reader may only raise the error types its documentation promises (the ``expect``
calls). It writes ``WORKDIR/results.json``: per format ``"ok"`` or the falsifying
example's traceback. A crash of the interpreter or a hang (the parent's timeout) shows
as a missing result.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import resource
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import vj
from vj.cascade_checks import check_cascade
from vj.cascade_train import (CascadeTrainingConfig, OutputExistsError, ResumeMismatchError, SidecarError,
                              StageReport, load_resume, save_training)
from vj.opencv_xml import parse_cascade
from vj.sample_files import ImageFileError, SampleFileError, parse_bg, read_image_file, read_info_positives, read_vec
from vj.sample_files import write_vec

HEADROOM = 400 * 2**20
DATA = Path(vj.__file__).resolve().parent / "data"
SETTINGS = settings(max_examples=int(sys.argv[2]) if len(sys.argv) > 2 else 40, deadline=timedelta(seconds=30),
                    derandomize=True, database=None, suppress_health_check=list(HealthCheck))
ODD_NUMBERS = ["nan", "-nan", "inf", "-inf", "1e308", "-1e308", "1e400", "-1", "0", "2147483648", "-2147483649",
               "99999999999999999999", "3.5", "1e-320", "0x10", "", "abc", "1 2", "NaN", "+5"]


def trimmed_eye_cascade() -> bytes:
    """The real haarcascade_eye.xml cut to its first two stages and the features they use."""
    root = ET.parse(DATA / "haarcascades" / "haarcascade_eye.xml").getroot()
    cascade = root[0]
    stages = cascade.find("stages")
    for extra in list(stages)[2:]:
        stages.remove(extra)
    cascade.find("stageNum").text = "2"
    features = list(cascade.find("features"))
    used: dict[int, int] = {}
    for nodes in stages.iter("internalNodes"):
        values = nodes.text.split()
        for k in range(2, len(values), 4):
            values[k] = str(used.setdefault(int(values[k]), len(used)))
        nodes.text = " ".join(values)
    holder = cascade.find("features")
    for element in features:
        holder.remove(element)
    for old in sorted(used, key=used.get):
        holder.append(features[old])
    return ET.tostring(root)


def mutate(data: bytes, kind: int, at: float, value: int, replacement: str) -> bytes:
    """One mutation: truncation, byte flip, number replacement or a duplicated slice."""
    if not data:
        return data
    position = int(at * (len(data) - 1))
    if kind == 0:
        return data[:position]
    if kind == 1:
        return data[:position] + bytes([value]) + data[position + 1:]
    if kind == 2:
        numbers = list(re.finditer(rb"-?\d+(\.\d+)?(e[-+]?\d+)?", data))
        if numbers:
            match = numbers[int(at * (len(numbers) - 1))]
            return data[:match.start()] + replacement.encode() + data[match.end():]
        return data
    return data[:position] + data[position:position + value * 4] * 3 + data[position:]


MUTATIONS = st.lists(st.tuples(st.sampled_from([0, 1, 2, 2, 2, 3]), st.floats(0, 1), st.integers(0, 255), st.sampled_from(ODD_NUMBERS)),
                     min_size=1, max_size=4)


def apply(data: bytes, mutations: list) -> bytes:
    for mutation in mutations:
        data = mutate(data, *mutation)
    return data


def expect(allowed: tuple[type, ...], call) -> None:
    """Run ``call``; only the ``allowed`` exception types may come out of it."""
    try:
        call()
    except allowed:
        pass


def fuzz_xml(work: Path) -> None:
    bases = [trimmed_eye_cascade(), (DATA / "lbpcascades" / "lbpcascade_frontalface.xml").read_bytes(),
             (DATA / "haarcascades" / "haarcascade_license_plate_rus_16stages.xml").read_bytes()]

    def load_and_run(data: bytes) -> None:
        """Parse, check (as vj.load_cascade does) and pack for the detector."""
        cascade = parse_cascade(data, "fuzz.xml")
        check_cascade(cascade, "fuzz.xml")
        vj.prepare_cascade(cascade)

    @settings(SETTINGS, max_examples=5 * SETTINGS.max_examples)  # small files, parsed fast: fuzz them harder
    @given(st.sampled_from(range(len(bases))), MUTATIONS)
    def mutated(which: int, mutations: list) -> None:
        expect((vj.CascadeFormatError,), lambda: load_and_run(apply(bases[which], mutations)))

    @SETTINGS
    @given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: ("<opencv_storage>" + t).encode()))
    def random_bytes(data: bytes) -> None:
        expect((vj.CascadeFormatError,), lambda: load_and_run(data))

    mutated()
    random_bytes()


def fuzz_sidecar(work: Path) -> None:
    cascade = vj.load_cascade(DATA / "haarcascades" / "haarcascade_license_plate_rus_16stages.xml")
    cascade.stages = cascade.stages[:2]
    config = CascadeTrainingConfig(window_size=cascade.window_size)
    reports = [StageReport(s, 3, -1.5, 0.99, 0.4, 100, 50, 0.5 ** s, 1e4, 2.0) for s in range(2)]
    out = work / "c.xml"
    save_training(out, cascade, "f" * 64, config, reports, "", 4.0)
    base, xml = (work / "c.xml.train.json").read_bytes(), out.read_bytes()
    record = json.loads(base)
    fields = [f.name for f in dataclasses.fields(StageReport)]
    allowed = (SidecarError, ResumeMismatchError, OutputExistsError, vj.CascadeFormatError)

    def resume(data: bytes) -> None:
        out.write_bytes(xml)
        (work / "c.xml.train.json").write_bytes(data)
        load_resume(out, "f" * 64, False)

    @SETTINGS
    @given(MUTATIONS)
    def mutated(mutations: list) -> None:
        expect(allowed, lambda: resume(apply(base, mutations)))

    values = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=5) | st.just([])

    @SETTINGS
    @given(st.sampled_from(fields + ["extra"]), values, st.sampled_from(["fingerprint", "stages", "training_seconds",
                                                                         "xml_sha256", None]), values)
    def wrong_values(field: str, value, top: str | None, top_value) -> None:
        changed = json.loads(json.dumps(record))
        changed["stages"][1][field] = value
        if top is not None:
            changed[top] = top_value
        expect(allowed, lambda: resume(json.dumps(changed).encode()))

    mutated()
    wrong_values()


def fuzz_vec(work: Path) -> None:
    path = work / "s.vec"
    write_vec(path, np.random.default_rng(0).integers(0, 256, (3, 6, 5), dtype=np.uint8))
    base = path.read_bytes()

    @SETTINGS
    @given(MUTATIONS, st.binary(min_size=12, max_size=12), st.booleans())
    def mutated(mutations: list, header: bytes, new_header: bool) -> None:
        data = apply(base, mutations)
        path.write_bytes(header + data[12:] if new_header else data)
        expect((SampleFileError,), lambda: read_vec(path, (5, 6)))

    mutated()


def fuzz_lists(work: Path) -> None:
    Image.fromarray(np.full((30, 40), 99, np.uint8)).save(work / "img.png")
    token = st.sampled_from(["img.png", "missing.png", "/", "..", "x" * 300, "\0", "é", "#", "1", "0", "-3", "5",
                             "40", "30", "1e9", "nan", "99999999999999999999", "\t"]) | st.integers(-50, 50).map(str)
    line = st.lists(token, max_size=8).map(" ".join)
    text = st.lists(line, max_size=5).map("\n".join)

    @SETTINGS
    @given(text, st.binary(max_size=40))
    def info_and_bg(content: str, raw: bytes) -> None:
        for data in (content.encode("utf-8", "surrogatepass"), raw):
            (work / "list.txt").write_bytes(data)
            expect((SampleFileError,), lambda: read_info_positives(work / "list.txt", (12, 12)))
            expect((SampleFileError,), lambda: parse_bg(work / "list.txt"))

    info_and_bg()


def fuzz_images(work: Path) -> None:
    rng = np.random.default_rng(0)
    bases = []
    for fmt, mode in (("PNG", "L"), ("PNG", "RGB"), ("JPEG", "RGB"), ("JPEG", "L"), ("BMP", "RGB"), ("GIF", "P")):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).convert(mode).save(buffer, format=fmt)
        bases.append(buffer.getvalue())
    size_field = st.sampled_from([0, 1, 65535, 65536, 30000, 2**31 - 1, 2**32 - 1])

    @SETTINGS
    @given(st.sampled_from(range(len(bases))), MUTATIONS, size_field, size_field, st.booleans(), st.booleans())
    def mutated(which: int, mutations: list, width: int, height: int, resize: bool, downscale: bool) -> None:
        data = bytearray(apply(bases[which], mutations))
        if resize and which < 2 and len(data) >= 24:  # PNG IHDR width / height
            data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        if resize and which >= 2 and b"\xff\xc0" in data:  # JPEG SOF0 height / width
            at = data.index(b"\xff\xc0") + 5
            data[at:at + 4] = (height & 0xFFFF).to_bytes(2, "big") + (width & 0xFFFF).to_bytes(2, "big")
        (work / "img").write_bytes(bytes(data))
        expect((ImageFileError,), lambda: read_image_file(work / "img", max_pixels=1_000_000, downscale=downscale))

    mutated()


FORMATS = {"xml": fuzz_xml, "sidecar": fuzz_sidecar, "vec": fuzz_vec, "lists": fuzz_lists, "images": fuzz_images}

def main(work: Path, formats: list[str]) -> None:
    """Fuzz each format in turn under the address-space cap, recording each outcome as soon as it is known."""
    import traceback

    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + HEADROOM, used + HEADROOM))
    results: dict[str, str] = {}
    for name in formats:
        folder = work / name
        folder.mkdir(exist_ok=True)
        try:
            FORMATS[name](folder)
            results[name] = "ok"
        except BaseException:  # the falsifying example, reported to the parent test
            results[name] = traceback.format_exc()
        (work / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[3:])
