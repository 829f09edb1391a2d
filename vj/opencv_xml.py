"""Read and write OpenCV cascade XML files (Haar, and LBP through ``vj.lbp_xml``).

Two layouts are read:

- the current one (``opencv_traincascade``, OpenCV >= 2.4): ``<cascade>`` with
  ``stageType``, ``featureType``, ``width``, ``height``, ``stages`` of
  ``weakClassifiers`` (``internalNodes`` = ``left right featureIndex threshold`` per
  node, ``leafValues``) and a shared ``features`` list (``rects`` of
  ``x y w h weight`` and an optional ``tilted``);
- the old one (``type_id="opencv-haar-classifier"``, OpenCV 1.x): ``size``, ``stages``
  of ``trees`` whose nodes carry their own ``feature`` and ``left_val``/``right_val``
  or ``left_node``/``right_node``. It is translated the way OpenCV 4 does
  (``cascadedetect_convert.cpp``): every node gets a new feature, leaves are numbered
  in node order, and the ``parent``/``next`` links of tree cascades are ignored (the
  stages run in file order). Unlike OpenCV 4, which swaps them, ``size`` is read as
  ``width height``.

Only ``stageType`` BOOST with ``featureType`` HAAR or LBP is supported (LBP cascades
are read into ``vj.lbp.LbpCascade`` by ``vj.lbp_xml``); HOG cascades raise
``UnsupportedCascadeError``. Files are parsed safely: any DOCTYPE or entity
declaration is refused before it can expand (cascade files never need one; this is
the "billion laughs" and external-entity guard of defusedxml, done with the standard
library's expat hooks), and a malformed file raises
``CascadeFormatError`` naming the element that is wrong.

Writing produces the current layout, which OpenCV 4 loads.
"""
from __future__ import annotations

import os
from pathlib import Path
import xml.etree.ElementTree as ET
from xml.parsers import expat
from xml.etree.ElementTree import Element

import numpy as np

from .cascade import FEATURE_SETS, Cascade, HaarFeature, Stage, WeakClassifier, rect_inside_window
from .lbp import LbpCascade
from .lbp_xml import lbp_cascade_to_xml, read_lbp_cascade


class CascadeFormatError(ValueError):
    """A cascade file that is not well-formed XML or not a valid cascade."""


class UnsupportedCascadeError(CascadeFormatError):
    """A valid OpenCV cascade of a kind vj does not run (HOG, non-BOOST stages)."""


# ----------------------------------------------------------------------------- reading


#: The frontal-face cascade trained by vj and shipped with it (see docs/results.md).
DEFAULT_CASCADE = Path(__file__).resolve().parent / "data" / "haarcascades" / "frontalface_vj.xml"


def load_cascade(path: str | os.PathLike | None = None) -> Cascade | LbpCascade:
    """Read an OpenCV cascade XML file (current or old layout).

    Args:
        path: the XML file; None loads vj's shipped frontal-face cascade
            (``DEFAULT_CASCADE``).

    Returns:
        The cascade: a ``Cascade`` (Haar) or an ``LbpCascade``.

    Raises:
        FileNotFoundError: the file does not exist.
        CascadeFormatError: malformed XML or cascade (the message names the element).
        UnsupportedCascadeError: a HOG or non-BOOST cascade.
    """
    path = DEFAULT_CASCADE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cascade file not found: {path}")
    return parse_cascade(path.read_bytes(), source=str(path))


class UnsafeXmlError(CascadeFormatError):
    """The XML declares a DOCTYPE or entities, which a cascade file never needs."""


def _refuse_declarations(*_args: object) -> None:
    raise UnsafeXmlError("DOCTYPE and ENTITY declarations are not allowed in a cascade file")


def safe_fromstring(data: bytes | str) -> Element:
    """Parse XML with the standard library, refusing DOCTYPE, entity and external-entity declarations.

    A first pass with a bare expat parser whose declaration hooks raise stops at the
    first DOCTYPE, before any entity can be declared or expanded; only a document
    without one reaches ElementTree.
    """
    scan = expat.ParserCreate()
    scan.StartDoctypeDeclHandler = _refuse_declarations
    scan.EntityDeclHandler = _refuse_declarations
    scan.UnparsedEntityDeclHandler = _refuse_declarations
    scan.ExternalEntityRefHandler = _refuse_declarations
    try:
        scan.Parse(data, True)
    except expat.ExpatError as exc:
        raise ET.ParseError(str(exc)) from exc
    return ET.fromstring(data)


def parse_cascade(data: bytes | str, source: str = "<string>") -> Cascade | LbpCascade:
    """Parse cascade XML given as bytes or text; see ``load_cascade``."""
    try:
        root = safe_fromstring(data)
    except UnsafeXmlError as exc:
        raise CascadeFormatError(f"{source}: refused unsafe XML ({exc})") from exc
    except ET.ParseError as exc:
        raise CascadeFormatError(f"{source}: not well-formed XML ({exc})") from exc
    node = root
    if root.tag == "opencv_storage":
        children = list(root)
        if not children:
            raise CascadeFormatError(f"{source}: <opencv_storage> is empty")
        node = children[0]
    reader = _Reader(source)
    type_id = node.get("type_id", "")
    if type_id == "opencv-haar-classifier" or (node.find("size") is not None and node.find("stageType") is None):
        cascade = reader.old_format(node)
    elif node.find("stageType") is None and node.find("featureType") is None:
        raise CascadeFormatError(
            f"{source}: <{node.tag}> is neither a current cascade (no <stageType>/<featureType>) "
            f"nor an old opencv-haar-classifier (no <size>)"
        )
    else:
        cascade = reader.current_format(node)
    from .cascade_checks import check_cascade  # here: cascade_checks imports this module's errors

    check_cascade(cascade, source)  # non-finite values, sizes past the limits
    return cascade


class _Reader:
    """Turns XML elements into cascade objects, tracking where it is for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CascadeFormatError:
        return CascadeFormatError(f"{self.source}: <{where}>: {message}")

    def child(self, parent: Element, tag: str, where: str) -> Element:
        found = parent.find(tag)
        if found is None:
            raise self.fail(where, f"missing <{tag}>")
        return found

    def numbers(self, element: Element, where: str) -> list[float]:
        text = (element.text or "").split()
        try:
            return [float(t) for t in text]
        except ValueError as exc:
            raise self.fail(where, f"expected numbers, got {element.text!r}") from exc

    def number(self, parent: Element, tag: str, where: str) -> float:
        values = self.numbers(self.child(parent, tag, where), f"{where}/{tag}")
        if len(values) != 1:
            raise self.fail(f"{where}/{tag}", f"expected one number, got {len(values)}")
        return values[0]

    def integer(self, parent: Element, tag: str, where: str) -> int:
        value = self.number(parent, tag, where)
        if not np.isfinite(value) or value != int(value):
            raise self.fail(f"{where}/{tag}", f"expected an integer, got {value}")
        return int(value)

    def rects(self, rects_el: Element, where: str, window: tuple[int, int], tilted: bool) -> np.ndarray:
        rows = []
        for r, rect_el in enumerate(rects_el.findall("_")):
            rw = f"{where}/_[{r}]"
            values = self.numbers(rect_el, rw)
            if len(values) != 5:
                raise self.fail(rw, f"a rectangle needs 5 numbers x y w h weight, got {len(values)}")
            x, y, w, h, _ = values
            if not all(np.isfinite(v) and v == int(v) and abs(v) < 2**31 for v in (x, y, w, h)):
                raise self.fail(rw, f"rectangle coordinates must be integers, got {values[:4]}")
            _check_rect_inside(self, rw, int(x), int(y), int(w), int(h), window, tilted)
            rows.append(values)
        if not rows:
            raise self.fail(where, "a feature needs at least one rectangle")
        if len(rows) > 3:
            raise self.fail(where, f"OpenCV features have at most 3 rectangles, got {len(rows)}")
        return np.array(rows, dtype=np.float64)

    # -------------------------------------------------------------- current layout

    def current_format(self, node: Element) -> Cascade | LbpCascade:
        top = node.tag
        stage_type = (self.child(node, "stageType", top).text or "").strip()
        feature_type = (self.child(node, "featureType", top).text or "").strip()
        if feature_type not in ("HAAR", "LBP"):
            raise UnsupportedCascadeError(
                f"{self.source}: this is a {feature_type or 'untyped'} cascade; vj supports HAAR and LBP features"
            )
        if stage_type != "BOOST":
            raise UnsupportedCascadeError(
                f"{self.source}: stageType {stage_type!r} is not supported; vj supports only BOOST stages"
            )
        if feature_type == "LBP":
            return read_lbp_cascade(self, node)
        window = (self.integer(node, "width", top), self.integer(node, "height", top))
        if window[0] < 3 or window[1] < 3:
            raise self.fail(top, f"window size must be at least 3x3, got {window[0]}x{window[1]}")
        params = node.find("featureParams")
        feature_set = None
        if params is not None:
            cats = params.find("maxCatCount")
            if cats is not None and self.numbers(cats, f"{top}/featureParams/maxCatCount") not in ([], [0.0]):
                raise UnsupportedCascadeError(f"{self.source}: categorical (maxCatCount > 0) features are not HAAR")
            mode = params.find("mode")
            if mode is not None:
                feature_set = (mode.text or "").strip()
                if feature_set not in FEATURE_SETS:
                    raise self.fail(f"{top}/featureParams/mode", f"expected one of {FEATURE_SETS}, got {feature_set!r}")
        stages = []
        stages_el = self.child(node, "stages", top)
        for s, stage_el in enumerate(stages_el.findall("_")):
            where = f"{top}/stages/_[{s}]"
            threshold = self.number(stage_el, "stageThreshold", where)
            weaks_el = self.child(stage_el, "weakClassifiers", where)
            weaks = [self.current_weak(w_el, f"{where}/weakClassifiers/_[{w}]") for w, w_el in enumerate(weaks_el.findall("_"))]
            if not weaks:
                raise self.fail(f"{where}/weakClassifiers", "a stage needs at least one weak classifier")
            stages.append(Stage(threshold, weaks))
        if not stages:
            raise self.fail(f"{top}/stages", "no stages")
        features = []
        for f, feat_el in enumerate(self.child(node, "features", top).findall("_")):
            where = f"{top}/features/_[{f}]"
            tilted_el = feat_el.find("tilted")
            tilted = tilted_el is not None and self.integer(feat_el, "tilted", where) != 0
            rects = self.rects(self.child(feat_el, "rects", where), f"{where}/rects", window, tilted)
            features.append(HaarFeature(rects, tilted))
        if feature_set is None:
            feature_set = "ALL" if any(f.tilted for f in features) else "BASIC"
        cascade = Cascade(window, features, stages, feature_set)
        self.check_indices(cascade, top)
        return cascade

    def current_weak(self, weak_el: Element, where: str) -> WeakClassifier:
        values = self.numbers(self.child(weak_el, "internalNodes", where), f"{where}/internalNodes")
        leaves = self.numbers(self.child(weak_el, "leafValues", where), f"{where}/leafValues")
        if not values or len(values) % 4:
            raise self.fail(f"{where}/internalNodes", f"expected 4 numbers per node, got {len(values)}")
        nodes = np.array(values, dtype=np.float64).reshape(-1, 4)
        if len(leaves) != nodes.shape[0] + 1:
            raise self.fail(f"{where}/leafValues", f"{nodes.shape[0]} nodes need {nodes.shape[0] + 1} leaves, got {len(leaves)}")
        if np.any(nodes[:, :3] != np.round(nodes[:, :3])):
            raise self.fail(f"{where}/internalNodes", "left, right and feature index must be integers")
        return WeakClassifier(nodes, np.array(leaves, dtype=np.float64))

    def check_indices(self, cascade: Cascade, top: str) -> None:
        try:
            cascade.validate()
        except ValueError as exc:
            raise self.fail(f"{top}/stages", str(exc)) from exc

    # -------------------------------------------------------------- old layout

    def old_format(self, node: Element) -> Cascade:
        top = node.tag
        size = self.numbers(self.child(node, "size", top), f"{top}/size")
        if len(size) != 2 or any(v != int(v) or v < 3 for v in size):
            raise self.fail(f"{top}/size", f"expected two integers >= 3 (width height), got {size}")
        window = (int(size[0]), int(size[1]))
        features: list[HaarFeature] = []
        stages = []
        for s, stage_el in enumerate(self.child(node, "stages", top).findall("_")):
            where = f"{top}/stages/_[{s}]"
            threshold = self.number(stage_el, "stage_threshold", where)
            weaks = []
            for t, tree_el in enumerate(self.child(stage_el, "trees", where).findall("_")):
                weaks.append(self.old_tree(tree_el, f"{where}/trees/_[{t}]", window, features))
            if not weaks:
                raise self.fail(f"{where}/trees", "a stage needs at least one tree")
            stages.append(Stage(threshold, weaks))
        if not stages:
            raise self.fail(f"{top}/stages", "no stages")
        feature_set = "ALL" if any(f.tilted for f in features) else "BASIC"
        cascade = Cascade(window, features, stages, feature_set)
        self.check_indices(cascade, top)
        return cascade

    def old_tree(self, tree_el: Element, where: str, window: tuple[int, int], features: list[HaarFeature]) -> WeakClassifier:
        nodes, leaves = [], []
        for n, node_el in enumerate(tree_el.findall("_")):
            nw = f"{where}/_[{n}]"
            feat_el = self.child(node_el, "feature", nw)
            tilted_el = feat_el.find("tilted")
            tilted = tilted_el is not None and self.integer(feat_el, "tilted", f"{nw}/feature") != 0
            rects = self.rects(self.child(feat_el, "rects", f"{nw}/feature"), f"{nw}/feature/rects", window, tilted)
            features.append(HaarFeature(rects, tilted))
            children = []
            for side in ("left", "right"):
                if node_el.find(f"{side}_val") is not None:
                    children.append(-len(leaves))
                    leaves.append(self.number(node_el, f"{side}_val", nw))
                elif node_el.find(f"{side}_node") is not None:
                    children.append(self.integer(node_el, f"{side}_node", nw))
                else:
                    raise self.fail(nw, f"missing <{side}_val> or <{side}_node>")
            nodes.append([children[0], children[1], len(features) - 1, self.number(node_el, "threshold", nw)])
        if not nodes:
            raise self.fail(where, "a tree needs at least one node")
        if len(leaves) != len(nodes) + 1:
            raise self.fail(where, f"{len(nodes)} nodes need {len(nodes) + 1} leaf values, got {len(leaves)}")
        return WeakClassifier(np.array(nodes, dtype=np.float64), np.array(leaves, dtype=np.float64))


def _check_rect_inside(reader: _Reader, where: str, x: int, y: int, w: int, h: int, window: tuple[int, int],
                       tilted: bool) -> None:
    """Reject rectangles that reach outside the window (they would read outside the integral)."""
    if not rect_inside_window(x, y, w, h, window, tilted):
        kind = "tilted rectangle" if tilted else "rectangle"
        raise reader.fail(where, f"{kind} ({x}, {y}, {w}, {h}) reaches outside the {window[0]}x{window[1]} window")


# ----------------------------------------------------------------------------- writing


def _num(value: float) -> str:
    """Shortest text that reads back as the same float64 ('3', '-1.', '0.0123')."""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}."
    return repr(value)


def _tree_depth(weak: WeakClassifier, node: int = 0) -> int:
    """Number of nodes on the longest root-to-leaf path (1 for a stump)."""
    children = [int(c) for c in weak.nodes[node, :2] if c > 0]
    return 1 + max((_tree_depth(weak, c) for c in children), default=0)


def cascade_to_xml(cascade: Cascade) -> str:
    """The cascade as current-format OpenCV XML text (see ``save_cascade``)."""
    cascade.validate()
    width, height = cascade.window_size
    max_weak = max(len(s.weak_classifiers) for s in cascade.stages)
    max_depth = max(_tree_depth(w) for s in cascade.stages for w in s.weak_classifiers)
    out = [
        '<?xml version="1.0"?>',
        "<opencv_storage>",
        '<cascade type_id="opencv-cascade-classifier">',
        "  <stageType>BOOST</stageType>",
        "  <featureType>HAAR</featureType>",
        f"  <height>{height}</height>",
        f"  <width>{width}</width>",
        "  <stageParams>",
        f"    <maxDepth>{max_depth}</maxDepth>",
        f"    <maxWeakCount>{max_weak}</maxWeakCount></stageParams>",
        "  <featureParams>",
        "    <maxCatCount>0</maxCatCount>",
        "    <featSize>1</featSize>",
        f"    <mode>{cascade.feature_set}</mode></featureParams>",
        f"  <stageNum>{len(cascade.stages)}</stageNum>",
        "  <stages>",
    ]
    for stage in cascade.stages:
        out.append("    <_>")
        out.append(f"      <maxWeakCount>{len(stage.weak_classifiers)}</maxWeakCount>")
        out.append(f"      <stageThreshold>{_num(stage.threshold)}</stageThreshold>")
        out.append("      <weakClassifiers>")
        for weak in stage.weak_classifiers:
            nodes = " ".join(f"{int(l)} {int(r)} {int(f)} {_num(t)}" for l, r, f, t in weak.nodes)
            leaves = " ".join(_num(v) for v in weak.leaves)
            out.append(f"        <_>\n          <internalNodes>\n            {nodes}</internalNodes>")
            out.append(f"          <leafValues>\n            {leaves}</leafValues></_>")
        out.append("      </weakClassifiers></_>")
    out.append("  </stages>")
    out.append("  <features>")
    for feature in cascade.features:
        out.append("    <_>\n      <rects>")
        for x, y, w, h, weight in feature.rects:
            out.append(f"        <_>\n          {int(x)} {int(y)} {int(w)} {int(h)} {_num(weight)}</_>")
        out.append("      </rects>" + ("\n      <tilted>1</tilted></_>" if feature.tilted else "</_>"))
    out.append("  </features>")
    out.append("</cascade>")
    out.append("</opencv_storage>")
    return "\n".join(out) + "\n"


def save_cascade(cascade: Cascade | LbpCascade, path: str | os.PathLike) -> None:
    """Write the cascade as current-format OpenCV XML (atomically: temporary file, then rename).

    Args:
        cascade: the cascade to write, Haar or LBP.
        path: destination file; its folder must exist.
    """
    path = Path(path)
    text = lbp_cascade_to_xml(cascade, _num) if isinstance(cascade, LbpCascade) else cascade_to_xml(cascade)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
