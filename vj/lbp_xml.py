"""Read and write LBP cascades in OpenCV's current XML layout.

``vj.opencv_xml.parse_cascade`` hands a ``<cascade>`` element whose ``featureType`` is
``LBP`` to ``read_lbp_cascade``. The layout (as ``opencv_traincascade`` writes it):

- ``featureParams/maxCatCount`` 256 (the 8-bit codes). The tag is also accepted
  misspelt ``featuhreParams``, as in the copy scikit-image ships, which OpenCV refuses;
- per weak classifier, ``internalNodes`` holds 11 numbers per node:
  ``left right featureIndex`` and the eight 32-bit subset words (signed integers);
  ``leafValues`` one more value than nodes;
- ``features`` is a list of ``<rect>x y w h</rect>``: the top-left cell of a 3 x 3
  block of ``w x h`` cells.

``lbp_cascade_to_xml`` writes the same layout, which OpenCV 4 loads.
"""
from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from .lbp import SUBSET_WORDS, LbpCascade, LbpStage, LbpWeakClassifier

CATEGORIES = 256
FEATURE_PARAMS_TAGS = ("featureParams", "featuhreParams")  # the second: scikit-image's misspelt copy


def read_lbp_cascade(reader: Any, node: Element) -> LbpCascade:
    """An ``LbpCascade`` from a current-layout ``<cascade>`` element.

    Args:
        reader: the ``vj.opencv_xml`` reader (its ``child``/``number``/``numbers``/
            ``integer``/``fail`` helpers name the failing element in errors).
        node: the ``<cascade>`` element (``featureType`` LBP, ``stageType`` BOOST).

    Raises:
        CascadeFormatError: a malformed element (via ``reader.fail``).
    """
    top = node.tag
    window = (reader.integer(node, "width", top), reader.integer(node, "height", top))
    if window[0] < 3 or window[1] < 3:
        raise reader.fail(top, f"window size must be at least 3x3, got {window[0]}x{window[1]}")
    for tag in FEATURE_PARAMS_TAGS:
        params = node.find(tag)
        if params is not None:
            cats = params.find("maxCatCount")
            if cats is not None and reader.numbers(cats, f"{top}/{tag}/maxCatCount") != [float(CATEGORIES)]:
                raise reader.fail(f"{top}/{tag}/maxCatCount", f"LBP cascades have {CATEGORIES} categories, "
                                  f"got {cats.text!r}")
            break
    stages = []
    for s, stage_el in enumerate(reader.child(node, "stages", top).findall("_")):
        where = f"{top}/stages/_[{s}]"
        threshold = reader.number(stage_el, "stageThreshold", where)
        weaks_el = reader.child(stage_el, "weakClassifiers", where)
        weaks = [_read_weak(reader, w_el, f"{where}/weakClassifiers/_[{w}]")
                 for w, w_el in enumerate(weaks_el.findall("_"))]
        if not weaks:
            raise reader.fail(f"{where}/weakClassifiers", "a stage needs at least one weak classifier")
        stages.append(LbpStage(threshold, weaks))
    if not stages:
        raise reader.fail(f"{top}/stages", "no stages")
    features = []
    for f, feat_el in enumerate(reader.child(node, "features", top).findall("_")):
        where = f"{top}/features/_[{f}]"
        values = reader.numbers(reader.child(feat_el, "rect", where), f"{where}/rect")
        if len(values) != 4 or not all(_is_int32(v) for v in values):
            raise reader.fail(f"{where}/rect", f"an LBP feature needs 4 integers x y w h, got {values}")
        features.append([int(v) for v in values])
    cascade = LbpCascade(window, np.array(features, dtype=np.int64).reshape(-1, 4), stages)
    try:
        cascade.validate()
    except ValueError as exc:
        raise reader.fail(f"{top}/stages", str(exc)) from exc
    return cascade


def _read_weak(reader: Any, weak_el: Element, where: str) -> LbpWeakClassifier:
    """One categorical tree: ``internalNodes`` (11 numbers per node) and ``leafValues``."""
    per_node = 3 + SUBSET_WORDS
    values = reader.numbers(reader.child(weak_el, "internalNodes", where), f"{where}/internalNodes")
    leaves = reader.numbers(reader.child(weak_el, "leafValues", where), f"{where}/leafValues")
    if not values or len(values) % per_node:
        raise reader.fail(f"{where}/internalNodes", f"expected {per_node} numbers per node "
                          f"(left right feature and {SUBSET_WORDS} subset words), got {len(values)}")
    rows = np.array(values, dtype=np.float64).reshape(-1, per_node)
    if not np.all(np.isfinite(rows)) or np.any(rows != np.round(rows)):
        raise reader.fail(f"{where}/internalNodes", "child codes, feature indices and subsets must be integers")
    words = rows[:, 3:]
    if words.min() < -(2**31) or words.max() >= 2**32 or np.abs(rows[:, :3]).max() >= 2**31:
        raise reader.fail(f"{where}/internalNodes", "subset words and indices must be 32-bit integers")
    if len(leaves) != rows.shape[0] + 1:
        raise reader.fail(f"{where}/leafValues", f"{rows.shape[0]} nodes need {rows.shape[0] + 1} leaves, "
                          f"got {len(leaves)}")
    return LbpWeakClassifier(rows[:, :3].astype(np.int64), words.astype(np.int64), np.array(leaves))


def _is_int32(value: float) -> bool:
    """Whether a number read from the file is an integer that fits OpenCV's int."""
    return bool(np.isfinite(value)) and value == int(value) and abs(value) < 2**31


def lbp_cascade_to_xml(cascade: LbpCascade, number: Any) -> str:
    """The LBP cascade as current-layout OpenCV XML text.

    Args:
        cascade: the cascade (validated first).
        number: the float formatter of ``vj.opencv_xml`` (shortest text reading back
            as the same float64).
    """
    cascade.validate()
    width, height = cascade.window_size
    max_weak = max(len(s.weak_classifiers) for s in cascade.stages)
    max_depth = max(_depth(w) for s in cascade.stages for w in s.weak_classifiers)
    out = [
        '<?xml version="1.0"?>',
        "<opencv_storage>",
        '<cascade type_id="opencv-cascade-classifier">',
        "  <stageType>BOOST</stageType>",
        "  <featureType>LBP</featureType>",
        f"  <height>{height}</height>",
        f"  <width>{width}</width>",
        "  <stageParams>",
        f"    <maxDepth>{max_depth}</maxDepth>",
        f"    <maxWeakCount>{max_weak}</maxWeakCount></stageParams>",
        "  <featureParams>",
        f"    <maxCatCount>{CATEGORIES}</maxCatCount>",
        "    <featSize>1</featSize></featureParams>",
        f"  <stageNum>{len(cascade.stages)}</stageNum>",
        "  <stages>",
    ]
    for stage in cascade.stages:
        out.append("    <_>")
        out.append(f"      <maxWeakCount>{len(stage.weak_classifiers)}</maxWeakCount>")
        out.append(f"      <stageThreshold>{number(stage.threshold)}</stageThreshold>")
        out.append("      <weakClassifiers>")
        for weak in stage.weak_classifiers:
            nodes = " ".join(" ".join(str(int(v)) for v in list(row) + list(words))
                             for row, words in zip(weak.nodes, weak.subsets.astype(np.int32)))
            leaves = " ".join(number(v) for v in weak.leaves)
            out.append(f"        <_>\n          <internalNodes>\n            {nodes}</internalNodes>")
            out.append(f"          <leafValues>\n            {leaves}</leafValues></_>")
        out.append("      </weakClassifiers></_>")
    out.append("  </stages>")
    out.append("  <features>")
    for x, y, w, h in cascade.features.tolist():
        out.append(f"    <_>\n      <rect>\n        {x} {y} {w} {h}</rect></_>")
    out.append("  </features>")
    out.append("</cascade>")
    out.append("</opencv_storage>")
    return "\n".join(out) + "\n"


def _depth(weak: LbpWeakClassifier, node: int = 0) -> int:
    """Number of nodes on the longest root-to-leaf path (1 for a stump)."""
    children = [int(c) for c in weak.nodes[node, :2] if c > 0]
    return 1 + max((_depth(weak, c) for c in children), default=0)
