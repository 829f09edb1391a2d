"""Shared test fixtures: where the real data is, and which backends exist."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_shared_data() -> Path | None:
    """The real-data folder: $FACESTACK_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("FACESTACK_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real data (../shared/data); skips the test where it is absent."""
    path = find_shared_data()
    if path is None:
        pytest.skip("real data not found: set FACESTACK_DATA or place it in ../shared/data")
    return path


@pytest.fixture(scope="session")
def utkface_dir(shared_data: Path) -> Path:
    """The UTKFace folder of the real data; skips the test where it is absent."""
    folder = shared_data / "utkface"
    if not folder.is_dir():
        pytest.skip(f"UTKFace not found in {shared_data}")
    return folder


def _cupy_available() -> bool:
    from minicnn.backend import cupy_available

    return cupy_available()


GPU_SKIP_REASON = "needs CuPy and an NVIDIA GPU (pip install .[gpu]); minicnn.backend.cupy_available() is False"

#: The array backends a test can run on: "cpu" always, "gpu" marked `gpu` and skipped without CuPy and a device.
BACKENDS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("gpu", id="gpu",
                 marks=[pytest.mark.gpu, pytest.mark.skipif(not _cupy_available(), reason=GPU_SKIP_REASON)]),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The device a test runs its ops on: "cpu", then "gpu" (skipped where CuPy or a CUDA device is missing).

    Tests move their inputs with ``minicnn.backend.to_device(array, backend)`` and compare
    ``minicnn.backend.to_numpy(output)`` with NumPy or PyTorch references. Module-scoped,
    so Hypothesis tests can use it (a function-scoped fixture fails its health check).
    """
    return request.param
