"""``vj.cascade_checks.check_cascade``: cascades holding values the detector must not run
on are refused with a message naming the file, the stage / classifier / feature and the
value, both when built in memory and when read from hostile XML through ``vj.load_cascade``."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import vj
from vj.cascade_checks import MAX_STAGES, CascadeSizeError, CascadeValueError, check_cascade

DATA = Path(vj.__file__).resolve().parent / "data"
EYE = DATA / "haarcascades" / "haarcascade_eye.xml"
LBP = DATA / "lbpcascades" / "lbpcascade_frontalface.xml"
OLD = DATA / "haarcascades" / "haarcascade_license_plate_rus_16stages.xml"


def small_cascade(**changes) -> vj.Cascade:
    """A valid 8x8 cascade of one stump (``changes``: window, threshold, leaves, node, rects)."""
    rects = changes.get("rects", [[0, 0, 4, 4, -1.0], [2, 2, 2, 2, 4.0]])
    weak = vj.WeakClassifier(np.array([changes.get("node", [0, -1, 0, 0.5])], dtype=float),
                             np.array(changes.get("leaves", [-1.0, 1.0])))
    return vj.Cascade(changes.get("window", (8, 8)), [vj.HaarFeature(np.array(rects, dtype=float))],
                      [vj.Stage(changes.get("threshold", 0.0), [weak])])


def test_shipped_cascades_pass():
    for path in sorted(DATA.glob("*/*.xml")):
        check_cascade(vj.load_cascade(path), str(path))


@pytest.mark.parametrize("changes, error, message", [
    ({"threshold": float("nan")}, CascadeValueError, "c.xml: stage 0: threshold nan is not a finite"),
    ({"threshold": 1e39}, CascadeValueError, "c.xml: stage 0: threshold 1e+39 is not a finite float32"),
    ({"leaves": [-1.0, float("inf")]}, CascadeValueError, "c.xml: stage 0 weak classifier 0: leaf value 1 is inf"),
    ({"node": [0, -1, 0, float("nan")]}, CascadeValueError, "weak classifier 0: node threshold 0 is nan"),
    ({"node": [0, -1, 3, 0.5]}, CascadeValueError, "weak classifier 0 node 0: feature index 3 outside 0..0"),
    ({"node": [0, -5, 0, 0.5]}, CascadeValueError, "node 0: child -5 outside the tree of 1 nodes"),
    ({"window": (2, 8)}, CascadeSizeError, "c.xml: window width 2 is outside 3..1024"),
    ({"window": (8, 5000)}, CascadeSizeError, "c.xml: window height 5000 is outside 3..1024"),
    ({"rects": [[0, 0, -4, 4, 1.0]]}, CascadeValueError, "feature 0 rectangle 0: size -4x4, expected positive"),
    ({"rects": [[6, 0, 4, 4, 1.0]]}, CascadeValueError, "feature 0 rectangle 0 (6, 0, 4, 4) reaches outside the 8x8"),
    ({"rects": [[0, 0, 4, 4, float("nan")]]}, CascadeValueError, "feature 0 rectangle 0: [0.0, 0.0, 4.0, 4.0, nan]"),
    ({"rects": [[0, 0.5, 4, 4, 1.0]]}, CascadeValueError, "feature 0 rectangle 0: coordinates [0.0, 0.5, 4.0, 4.0]"),
])
def test_bad_values_are_named(changes, error, message):
    check_cascade(small_cascade(), "c.xml")
    with pytest.raises(error, match=re.escape(message)):
        check_cascade(small_cascade(**changes), "c.xml")


def test_too_many_stages_and_loops():
    cascade = small_cascade()
    cascade.stages = cascade.stages * (MAX_STAGES + 1)
    with pytest.raises(CascadeSizeError, match=f"c.xml: {MAX_STAGES + 1} stages, expected 1..{MAX_STAGES}"):
        check_cascade(cascade, "c.xml")
    loop = vj.WeakClassifier(np.array([[1, -1, 0, 0.5], [1, -2, 0, 0.5]]), np.array([0.0, 1.0, 2.0]))
    cascade = small_cascade()
    cascade.stages[0].weak_classifiers.append(loop)
    with pytest.raises(CascadeValueError, match="stage 0 weak classifier 1 node 1: child 1 points back up the tree"):
        check_cascade(cascade, "c.xml")
    with pytest.raises(CascadeSizeError, match="no|stages"):
        check_cascade(vj.Cascade((8, 8), [], []), "c.xml")


def test_lbp_cascade_checks():
    cascade = vj.load_cascade(LBP)
    cascade.stages[3].weak_classifiers[2].leaves[1] = np.nan
    with pytest.raises(CascadeValueError, match="lbp.xml: stage 3 weak classifier 2: leaf value 1 is nan"):
        check_cascade(cascade, "lbp.xml")
    cascade = vj.load_cascade(LBP)
    cascade.features[5] = [20, 0, 2, 2]
    with pytest.raises(CascadeValueError, match=r"lbp.xml: feature 5: block \(20, 0\) of 3x3 cells 2x2"):
        check_cascade(cascade, "lbp.xml")


def replace_first(text: str, pattern: str, replacement: str) -> str:
    changed, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, pattern
    return changed


@pytest.mark.parametrize("source, pattern, replacement, message", [
    (EYE, r"<stageThreshold>[^<]*<", "<stageThreshold>nan<", "stage 0: threshold nan is not a finite"),
    (EYE, r"<stageThreshold>[^<]*<", "<stageThreshold>-inf<", "stage 0: threshold -inf is not a finite"),
    (EYE, r"<leafValues>\s*\S+", "<leafValues>1e400", "stage 0 weak classifier 0: leaf value 0 is inf"),
    (EYE, r"<width>\d+</width>", "<width>99999</width>", "window width 99999 is outside 3..1024"),
    (LBP, r"<leafValues>\s*\S+", "<leafValues>nan", "stage 0 weak classifier 0: leaf value 0 is nan"),
    (LBP, r"<stageThreshold>[^<]*<", "<stageThreshold>1e39<", "stage 0: threshold 1e+39 is not a finite float32"),
    (OLD, r"<stage_threshold>[^<]*<", "<stage_threshold>nan<", "stage 0: threshold nan is not a finite"),
    (OLD, r"<left_val>[^<]*<", "<left_val>inf<", "stage 0 weak classifier 0: leaf value 0 is inf"),
])
def test_hostile_xml_is_refused_by_load_cascade(tmp_path, source, pattern, replacement, message):
    """Needs ``vj.opencv_xml.parse_cascade`` to call ``check_cascade`` (the loaders' owner wires it in)."""
    path = tmp_path / "hostile.xml"
    path.write_text(replace_first(source.read_text(), pattern, replacement))
    with pytest.raises(vj.CascadeFormatError, match=re.escape(f"{path}: {message}")):
        vj.load_cascade(path)
