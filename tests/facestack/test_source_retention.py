"""``facestack.source_retention``: the fraction of each positive source's windows a cascade accepts."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facestack.data.validate import UsageError
from facestack.source_retention import main, retention


def test_retention_is_the_accepted_fraction():
    from vj.opencv_xml import load_cascade

    cascade = load_cascade(None)
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 256, (30, 20, 20), dtype=np.uint8)
    flat = np.full((10, 20, 20), 128, np.uint8)  # no contrast: every Haar stump sees zero
    from vj.mining import cascade_accepts

    both = np.concatenate([windows, flat])
    assert retention(cascade, both) == pytest.approx(cascade_accepts(cascade, both).mean())
    with pytest.raises(UsageError, match="no face windows"):
        retention(cascade, np.zeros((0, 20, 20), np.uint8))


def test_main_prints_one_row_per_cascade_and_refuses_bad_sources(tmp_path, capsys):
    chips = tmp_path / "UTKFace"
    chips.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (200, 200), dtype=np.uint8)).save(chips / f"{i}_0_0_x.jpg")
    import shutil
    from pathlib import Path

    import vj

    copy = tmp_path / "copy.xml"
    shutil.copy(Path(vj.__file__).parent / "data" / "haarcascades" / "frontalface_vj.xml", copy)
    assert main(["default", str(copy), "--utkface", str(chips)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"| cascade | {chips} (5 windows) |" and len(lines) == 4
    assert lines[2].startswith("| vj default | ") and lines[3] == lines[2].replace("vj default", str(copy))
    with pytest.raises(UsageError, match="name at least one source"):
        main(["default"])
    with pytest.raises(UsageError, match="is not a folder"):
        main(["default", "--utkface", str(tmp_path / "missing")])
    with pytest.raises(UsageError, match="no such file"):
        main(["default", "--webfaces", str(tmp_path / "missing.txt")])
