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
