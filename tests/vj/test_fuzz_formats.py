"""Fuzz tests of every file format vj reads (issue #17): cascade XML (Haar, old and
current layout, and LBP, mutated from the shipped files), the ``.train.json`` sidecar,
``.vec`` files, info files and bg lists, and images (truncated, mutated, with huge
declared sizes). Mutated and random inputs may only raise the readers' documented
errors (``vj.CascadeFormatError``, ``SidecarError`` / ``ResumeMismatchError`` /
``OutputExistsError``, ``SampleFileError``, ``ImageFileError``), within a few hundred MB
of memory and without hanging: ``fuzz_worker.py`` runs them in one child process whose
address space is capped (``resource.RLIMIT_AS``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
if not Path("/proc/self/statm").exists():
    pytest.skip("the worker reads its memory use from /proc (Linux)", allow_module_level=True)

FORMATS = ["xml", "sidecar", "vec", "lists", "images"]
EXAMPLES = 40
WORKER = Path(__file__).with_name("fuzz_worker.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[dict[str, str], str]:
    """Each format's outcome from one worker process (one import of vj), and the worker's output."""
    work = tmp_path_factory.mktemp("fuzz")
    done = subprocess.run([sys.executable, str(WORKER), str(work), str(EXAMPLES), *FORMATS], capture_output=True,
                          text=True, timeout=900)
    record = work / "results.json"
    outcomes = json.loads(record.read_text()) if record.exists() else {}
    return outcomes, f"exit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("name", FORMATS)
def test_mutated_and_random_files_raise_only_documented_errors(results, name):
    outcomes, output = results
    assert name in outcomes, f"the worker died or hung before finishing {name}:\n{output}"
    assert outcomes[name] == "ok", outcomes[name]
