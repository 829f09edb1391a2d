"""Sanity checks of a parsed cascade, before the detector packs and runs it.

A cascade XML file is input from anywhere: a well-formed file can still hold values
that make the detector misbehave or allocate without bound. ``check_cascade`` refuses
them with a ``vj.CascadeFormatError`` subclass whose message names the file, the
stage / weak classifier / feature and the value:

- ``CascadeValueError``: a NaN or infinite stage threshold, node threshold, leaf
  value or rectangle weight, or one beyond float32's range (``MAX_ABS_VALUE``, the
  detector computes in float32); a rectangle of negative size or outside the window; a
  feature index or tree child outside its range;
- ``CascadeSizeError``: a window side outside ``MIN_WINDOW_SIDE..MAX_WINDOW_SIDE``, or
  more stages, weak classifiers, tree nodes or features than ``MAX_STAGES``,
  ``MAX_WEAK_CLASSIFIERS``, ``MAX_TREE_NODES`` (per tree) or ``MAX_FEATURES``.

``sidecar_problem`` checks the ``.train.json`` record ``vj train`` resumes from in the
same spirit (types and ranges of every value it uses).

The limits are far above any real cascade (OpenCV's largest shipped one has 47 stages,
2913 weak classifiers and a 24x24 window) and low enough that packing stays small.
"""
from __future__ import annotations

import math

import numpy as np

from .cascade import Cascade
from .lbp import LbpCascade
from .opencv_xml import CascadeFormatError

MIN_WINDOW_SIDE = 3
MAX_WINDOW_SIDE = 1024
MAX_STAGES = 10_000
MAX_WEAK_CLASSIFIERS = 1_000_000
MAX_TREE_NODES = 1024
MAX_FEATURES = 1_000_000
#: Largest magnitude of a threshold, leaf value or weight: the detector computes in float32.
MAX_ABS_VALUE = float(np.finfo(np.float32).max)


class CascadeValueError(CascadeFormatError):
    """A cascade holds a value the detector cannot use (NaN/inf, out of range, outside the window)."""


class CascadeSizeError(CascadeFormatError):
    """A cascade is larger than any real one (window, stage, weak classifier or feature counts)."""


def check_cascade(cascade: Cascade | LbpCascade, source: str) -> None:
    """Refuse a cascade whose values or sizes the detector must not run on.

    Args:
        cascade: a Haar ``Cascade`` or an ``LbpCascade``, as the XML readers build it.
        source: the file it came from, named in every message.

    Raises:
        CascadeSizeError: window side, stage, weak classifier, node or feature counts over the limits.
        CascadeValueError: a non-finite number, a bad rectangle, feature index or tree child.
        TypeError: ``cascade`` is neither kind.
    """
    if not isinstance(cascade, (Cascade, LbpCascade)):
        raise TypeError(f"expected a Cascade or LbpCascade, got {type(cascade).__name__}")
    _check_sizes(cascade, source)
    features = len(cascade.features)
    thresholds = np.array([float(stage.threshold) for stage in cascade.stages])
    if not _finite(thresholds).all():
        s = int(np.flatnonzero(~_finite(thresholds))[0])
        raise CascadeValueError(f"{source}: stage {s}: threshold {thresholds[s]} is not a finite float32 number")
    weaks = [(s, w, weak) for s, stage in enumerate(cascade.stages) for w, weak in enumerate(stage.weak_classifiers)]
    sizes = np.array([np.asarray(weak.nodes).shape[0] for _, _, weak in weaks])
    if sizes.max() > MAX_TREE_NODES:
        s, w, _ = weaks[int(np.argmax(sizes))]
        raise CascadeSizeError(f"{source}: stage {s} weak classifier {w}: {sizes.max()} tree nodes, "
                               f"more than {MAX_TREE_NODES}")
    nodes = np.concatenate([np.asarray(weak.nodes, dtype=np.float64)[:, :3] for _, _, weak in weaks])
    leaves = np.concatenate([np.asarray(weak.leaves, dtype=np.float64) for _, _, weak in weaks])
    haar = isinstance(cascade, Cascade)
    node_thresholds = (np.concatenate([weak.nodes[:, 3] for _, _, weak in weaks]) if haar else np.zeros(0))
    count = np.repeat(sizes, sizes).astype(np.float64)
    position = np.arange(len(nodes)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    if not (_finite(leaves).all() and _finite(node_thresholds).all()
            and _tree_ok(nodes, count, position.astype(np.float64), features)):
        for s, w, weak in weaks:
            _check_weak(np.asarray(weak.nodes, dtype=np.float64), np.asarray(weak.leaves, dtype=np.float64), haar,
                        features, f"{source}: stage {s} weak classifier {w}")
        raise CascadeValueError(f"{source}: a weak classifier's tree is malformed")  # the loop names it first
    if isinstance(cascade, Cascade):
        _check_haar_features(cascade, source)
    else:
        _check_lbp_features(cascade, source)


def _check_sizes(cascade: Cascade | LbpCascade, source: str) -> None:
    width, height = cascade.window_size
    for name, side in (("width", width), ("height", height)):
        if not MIN_WINDOW_SIDE <= side <= MAX_WINDOW_SIDE:
            raise CascadeSizeError(f"{source}: window {name} {side} is outside {MIN_WINDOW_SIDE}..{MAX_WINDOW_SIDE}")
    if not 1 <= cascade.num_stages <= MAX_STAGES:
        raise CascadeSizeError(f"{source}: {cascade.num_stages} stages, expected 1..{MAX_STAGES}")
    if cascade.num_weak > MAX_WEAK_CLASSIFIERS:
        raise CascadeSizeError(f"{source}: {cascade.num_weak} weak classifiers, more than {MAX_WEAK_CLASSIFIERS}")
    if len(cascade.features) > MAX_FEATURES:
        raise CascadeSizeError(f"{source}: {len(cascade.features)} features, more than {MAX_FEATURES}")
    for s, stage in enumerate(cascade.stages):
        if not stage.weak_classifiers:
            raise CascadeValueError(f"{source}: stage {s} has no weak classifiers")


def _finite(values: np.ndarray) -> np.ndarray:
    """Whether each value is a finite number within float32's range."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) <= MAX_ABS_VALUE)


def _check_finite(values: np.ndarray, what: str) -> None:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~_finite(values))
    if bad.size:
        raise CascadeValueError(f"{what} {int(bad[0])} is {values[bad[0]]}, expected a finite float32 number")


def _tree_ok(nodes: np.ndarray, count: np.ndarray, position: np.ndarray, features: int) -> bool:
    """Rows ``left, right, feature`` of every tree at once (``count``: nodes of the row's tree, ``position``:
    the row's index in it): feature indices in ``0..features-1``; children ``> 0`` a later node of the same
    tree, ``<= 0`` one of its leaves."""
    with np.errstate(invalid="ignore"):
        index, children = nodes[:, 2], nodes[:, :2]
        return bool(np.isfinite(nodes).all() and (nodes == np.round(nodes)).all()
                    and ((index >= 0) & (index < features)).all()
                    and ((children >= -count[:, None]) & (children < count[:, None])).all()
                    and ((children <= 0) | (children > position[:, None])).all())


def _check_weak(nodes: np.ndarray, leaves: np.ndarray, haar: bool, features: int, where: str) -> None:
    """Raise the error naming the first bad value of one weak classifier, if it has one."""
    _check_finite(leaves, f"{where}: leaf value")
    if haar:
        _check_finite(nodes[:, 3], f"{where}: node threshold")
    count = nodes.shape[0]
    for n, row in enumerate(nodes):
        index = float(row[2])
        if not (math.isfinite(index) and index == round(index) and 0 <= index < features):
            raise CascadeValueError(f"{where} node {n}: feature index {index:g} outside 0..{features - 1}")
        for child in (float(row[0]), float(row[1])):
            if not (math.isfinite(child) and child == round(child) and -count <= child < count):
                raise CascadeValueError(f"{where} node {n}: child {child:g} outside the tree of {count} nodes")
            if 0 < child <= n:
                raise CascadeValueError(f"{where} node {n}: child {child:g} points back up the tree (a loop)")


def _check_haar_features(cascade: Cascade, source: str) -> None:
    if not cascade.features:
        return
    rects = np.concatenate([np.asarray(f.rects, dtype=np.float64) for f in cascade.features])
    owner = np.repeat(np.arange(len(cascade.features)), [len(f.rects) for f in cascade.features])
    tilted = np.array([f.tilted for f in cascade.features], dtype=bool)[owner]
    width, height = cascade.window_size
    with np.errstate(invalid="ignore"):
        x, y, w, h = (rects[:, i] for i in range(4))
        upright = (x >= 0) & (y >= 0) & (x + w <= width) & (y + h <= height)
        rotated = (x - h >= 0) & (y >= 0) & (x + w <= width) & (y + w + h <= height)
        good = (_finite(rects).all(axis=1) & (rects[:, :4] == np.round(rects[:, :4])).all(axis=1)
                & (w > 0) & (h > 0) & np.where(tilted, rotated, upright))
    if good.all():
        return
    row = int(np.flatnonzero(~good)[0])
    f = int(owner[row])
    r = row - int(np.flatnonzero(owner == f)[0])
    where = f"{source}: feature {f} rectangle {r}"
    values = rects[row]
    if not _finite(values).all():
        raise CascadeValueError(f"{where}: {values.tolist()} holds a value that is not a finite float32 number")
    if (values[:4] != np.round(values[:4])).any():
        raise CascadeValueError(f"{where}: coordinates {values[:4].tolist()} are not integers")
    if values[2] <= 0 or values[3] <= 0:
        raise CascadeValueError(f"{where}: size {values[2]:g}x{values[3]:g}, expected positive")
    raise CascadeValueError(f"{where} ({values[0]:g}, {values[1]:g}, {values[2]:g}, {values[3]:g}) reaches outside "
                            f"the {width}x{height} window{' (tilted)' if tilted[row] else ''}")


def _check_lbp_features(cascade: LbpCascade, source: str) -> None:
    width, height = cascade.window_size
    for f, (x, y, w, h) in enumerate(np.asarray(cascade.features, dtype=np.int64).tolist()):
        if w < 1 or h < 1 or x < 0 or y < 0 or x + 3 * w > width or y + 3 * h > height:
            raise CascadeValueError(f"{source}: feature {f}: block ({x}, {y}) of 3x3 cells {w}x{h} reaches "
                                    f"outside the {width}x{height} window")


def sidecar_problem(record: object, stage_fields: dict[str, str]) -> str:
    """What is wrong with a decoded ``.train.json`` training record ('' if nothing).

    Args:
        record: the decoded JSON.
        stage_fields: the ``StageReport`` field names and their type names (``"int"``, ``"float"``,
            or ``"float | None"`` where null is allowed), which every stage record must use.
    """
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("fingerprint"), str):
        return "'fingerprint' must be a string"
    for key in ("xml_sha256", "previous_xml_sha256"):
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key!r} must be a string or null"
    seconds = record.get("training_seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e12:
        return f"'training_seconds' must be a number >= 0, got {seconds!r}"
    stages = record.get("stages")
    if not isinstance(stages, list):
        return "'stages' must be a list"
    names = stage_fields
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or set(stage) - set(names) or "stage" not in stage:
            return f"stage record {i} must be an object with the fields {sorted(names)}"
        for key, value in stage.items():
            if value is None and names[key].endswith("| None"):
                continue
            wanted = int if names[key] == "int" else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (wanted is int and
                                                                                 not isinstance(value, int)):
                return f"stage record {i}: {key!r} must be {'an integer' if wanted is int else 'a number'}"
            if not (math.isfinite(value) and value >= 0) and key != "threshold":
                return f"stage record {i}: {key!r} must be a finite number >= 0, got {value!r}"
            if not math.isfinite(value):
                return f"stage record {i}: {key!r} must be a finite number, got {value!r}"
        if stage["stage"] != i:
            return f"stage record {i} is numbered {stage['stage']}"
    return ""
