"""``facestack eval-detector``: detection quality of cascades on a landmark-annotated set.

    facestack eval-detector --annotations webfaces/WebFaces_GroundThruth.txt \\
        --cascade default haarcascade_frontalface_default.xml \\
        --scale-factor 1.1 --min-neighbors 3 --plot curve.png --json eval.json

For each cascade (``default`` is the one shipped with vj) it prints recall and
unmatched detections per photo at the operating ``--min-neighbors`` and writes the
curve over a sweep of ``min_neighbors`` (see :mod:`facestack.detector_eval` for the
matching rule). An existing ``--json`` or ``--plot`` file is refused before any detection
unless ``--overwrite`` is given, as in ``facestack evaluate``. It was ``vj eval`` before the
WebFaces format moved out of vj.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli import Parser


PROG = "facestack eval-detector"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module doc); numeric options are range-checked (exit 2)."""
    from vj.cli import float_in, int_at_least

    p = Parser(prog=PROG, description="Evaluate cascades on a WebFaces-format annotated set: "
                                                       "recall against unmatched detections per photo.")
    p.add_argument("--annotations", required=True, help="ground truth file (WebFaces landmark format)")
    p.add_argument("--images", default=None, help="photo folder (default: images/ beside the annotations)")
    p.add_argument("--cascade", nargs="+", default=["default"],
                   help="cascade XML files; 'default' is vj's shipped cascade")
    p.add_argument("--scale-factor", type=float_in(1.0, 4.0, low_open=True), default=1.1,
                   help="pyramid step, in (1, 4] (default 1.1)")
    p.add_argument("--min-neighbors", type=int_at_least(0, 1000), default=3, help="operating point (default 3)")
    p.add_argument("--sweep-max", type=int_at_least(0, 1000), default=15,
                   help="curve over min_neighbors 0..this (default 15)")
    p.add_argument("--limit", type=int_at_least(1), default=None, help="evaluate the first N photos only")
    p.add_argument("--plot", default=None, help="write the curve to this image file")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json / --plot files")
    p.add_argument("--reference", default=None, metavar="CASCADE",
                   help="one of the --cascade files: print every cascade's recall at its unmatched detections "
                        "per photo, at each --at min_neighbors")
    p.add_argument("--at", type=int_at_least(0, 1000), nargs="+", default=[3, 4, 5], metavar="N",
                   help="the reference's min_neighbors for --reference (default 3 4 5)")
    return p


def _photos(annotations: dict, image_dir: Path, names: list[str]):
    from vj.positives import read_gray

    for name in names:
        yield read_gray(image_dir / name), annotations[name]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``facestack eval-detector``; returns the exit status."""
    from vj.opencv_xml import load_cascade

    from .cli import check_new_file
    from .data.validate import UsageError, atomic_write_text
    from .detector_eval import compare_at_reference, evaluate_detector, plot_curves
    from .webfaces import read_webfaces_annotations

    args = build_parser().parse_args(argv)
    try:
        annotations = read_webfaces_annotations(args.annotations)
        cascades = {name: load_cascade(None if name == "default" else name) for name in args.cascade}
    except FileNotFoundError as exc:
        print(f"{PROG}: error: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    image_dir = Path(args.images) if args.images else Path(args.annotations).parent / "images"
    names = sorted(annotations)[: args.limit]
    missing = [n for n in names if not (image_dir / n).is_file()]
    if missing:
        print(f"{PROG}: {len(missing)} annotated photos missing from {image_dir}, e.g. {missing[0]}", file=sys.stderr)
        return 2
    labels = ["vj default" if name == "default" else Path(name).name for name in args.cascade]
    reference = None
    if args.reference is not None:
        reference = "vj default" if args.reference == "default" else Path(args.reference).name
        if reference not in labels:
            print(f"{PROG}: error: --reference {args.reference} is not one of the --cascade files", file=sys.stderr)
            return 2
        if max(args.at) > args.sweep_max:
            print(f"{PROG}: error: --at {max(args.at)} is beyond --sweep-max {args.sweep_max}", file=sys.stderr)
            return 2
    try:  # the output files before minutes of detection, not after
        for output, option in ((args.json, "--json"), (args.plot, "--plot")):
            if output:
                check_new_file(Path(output), args.overwrite, option)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    sweep = range(0, args.sweep_max + 1)
    results, record = {}, {}
    for name, cascade in cascades.items():
        result = evaluate_detector(cascade, _photos(annotations, image_dir, names), args.scale_factor, sweep)
        recall, fpi = result.at(args.min_neighbors)
        label = "vj default" if name == "default" else Path(name).name
        results[label] = result
        print(f"{label}: recall {recall:.3f}, {fpi:.3f} unmatched detections per photo at min_neighbors "
              f"{args.min_neighbors} ({result.num_faces} faces, {result.num_images} photos, scale "
              f"{args.scale_factor}, detection {result.seconds:.1f} s)", flush=True)
        record[label] = {"min_neighbors": result.min_neighbors.tolist(), "recall": result.recall.tolist(),
                         "false_per_image": result.false_per_image.tolist(), "faces": result.num_faces,
                         "photos": result.num_images, "scale_factor": args.scale_factor,
                         "detection_seconds": result.seconds}
    if reference is not None:
        rows = compare_at_reference(results, reference, args.at)
        for row in rows:
            figures = ", ".join(f"{name} {'-' if r is None else f'{r:.3f}'}" for name, r in row["recall"].items())
            print(f"at {reference}'s {row['false_per_image']:.3f} unmatched detections per photo "
                  f"(min_neighbors {row['min_neighbors']}): recall {figures}")
        record["at_reference"] = {"reference": reference, "rows": rows}
    if args.plot:
        plot_curves(results, args.plot, operating_points=(args.min_neighbors,),
                    title=f"{len(names)} photos, scale {args.scale_factor}")
    if args.json:
        atomic_write_text(json.dumps(record, indent=1), args.json)
    return 0
