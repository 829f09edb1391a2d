"""How a model's labels hold up as faces get small: UTKFace chips shrunk, found, re-framed, classified.

Web and group photos hold many faces under 60 px (on the WebFaces photos about 60% of the
annotated faces have boxes that small), while the network learnt from 200 px chips resized
to 128. This sweep shrinks every chip of a split so its face is about ``size`` pixels wide,
then runs the photo path on it (:func:`facestack.evaluate_framed.evaluate_through_detector`:
detector, framing, network) and reports, per size, how many faces the detector found and
the gender and age accuracy over those:

    python experiments/face_size_accuracy.py --split val --json sizes.json --plot sizes.png

The validation split is the default: the sweep informs a choice (the smallest face worth
labelling), and no choice is made on the test split.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .cli import Parser

DEFAULT_SIZES = (20, 24, 32, 40, 48, 64, 96)


def sweep_face_sizes(classifier: Any, data_dir: str, sizes: tuple[float, ...], split: str = "val",
                     cache_dir: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """One row per size (and one for the chips as they are, ``size`` None):
    ``{size, faces, found, gender_accuracy, age_accuracy}``."""
    from .evaluate_framed import evaluate_through_detector

    rows = []
    for size in (None, *sizes):
        result = evaluate_through_detector(classifier, data_dir, split, cache_dir, face_size=size, limit=limit)
        faces = result["found"] + result["missed"]
        rows.append({"size": size, "faces": faces, "found": result["found"],
                     "gender_accuracy": result["tasks"]["gender"]["accuracy"],
                     "age_accuracy": result["tasks"]["age"]["accuracy"]})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The sweep as a Markdown table."""
    lines = ["| face size | found | gender | age |", "|---|---|---|---|"]
    for row in rows:
        size = "chip as it is" if row["size"] is None else f"{row['size']:g} px"
        lines.append(f"| {size} | {row['found']:,} of {row['faces']:,} | {100 * row['gender_accuracy']:.1f}% | "
                     f"{100 * row['age_accuracy']:.1f}% |")
    return "\n".join(lines)


def plot_sweep(rows: list[dict[str, Any]], path: str, title: str) -> None:
    """Accuracy per task and the share found against face size; the full-size chips as dashed lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = rows[0]
    sized = [r for r in rows if r["size"] is not None]
    sizes = [r["size"] for r in sized]
    fig, ax = plt.subplots(figsize=(8.4, 4.4))
    for key, label, colour in (("gender_accuracy", "gender accuracy", "tab:blue"),
                               ("age_accuracy", "age accuracy (4 bins)", "tab:orange")):
        ax.plot(sizes, [100 * r[key] for r in sized], marker="o", color=colour, label=label)
        ax.axhline(100 * full[key], color=colour, linestyle="--", linewidth=1)
    ax.plot(sizes, [100 * r["found"] / r["faces"] for r in sized], marker="s", color="tab:gray",
            label="faces found by the detector")
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:g}" for s in sizes])
    ax.set_xlabel("face box side (px); dashed: the chips as they are")
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, print its table, and write the JSON and plot if asked."""
    from .cli import check_new_file
    from .data.validate import UsageError, atomic_write_text, check_number
    from .evaluate_framed import MIN_FACE_SIZE
    from .pipeline import load_classifier
    from .shipped import load_shipped_classifier
    from .train.cli import default_data_dir

    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a multitask run folder, or one written by export-model "
                                        "(default: the shipped model)")
    parser.add_argument("--data", help="the UTKFace folder (default $FACESTACK_DATA/utkface)")
    parser.add_argument("--cache-dir", help="where preprocessed caches live (default $FACESTACK_CACHE)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="val")
    parser.add_argument("--sizes", type=float, nargs="+", default=list(DEFAULT_SIZES), metavar="PX",
                        help=f"face box sides to shrink the chips to (default {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--limit", type=int, metavar="N", help="only the split's first N faces (quick checks)")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write the figure (PNG or SVG)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --json / --plot files")
    args = parser.parse_args(argv)
    for size in args.sizes:
        check_number(size, "--sizes", minimum=MIN_FACE_SIZE, maximum=100_000)
    check_number(args.limit, "--limit", integer=True, minimum=1, optional=True)
    for option, value in (("--json", args.json), ("--plot", args.plot)):
        if value:
            check_new_file(Path(value), args.overwrite, option)
    classifier = load_classifier(args.model) if args.model else load_shipped_classifier()
    data = Path(args.data) if args.data else default_data_dir()
    if not data.exists():
        raise UsageError(f"no data at {data}: pass --data, or set FACESTACK_DATA to the folder holding utkface/")
    rows = sweep_face_sizes(classifier, str(data), tuple(sorted(set(args.sizes))), args.split, args.cache_dir,
                            args.limit)
    print(f"{args.model or 'the shipped model'}, UTKFace {args.split} split, through the detector:")
    print(format_table(rows))
    if args.json:
        from .evaluate import weights_record

        record = {"model": args.model or "shipped", "split": args.split, **weights_record(classifier), "rows": rows}
        atomic_write_text(json.dumps(record, indent=1) + "\n", args.json)
    if args.plot:
        plot_sweep(rows, args.plot, f"{args.model or 'shipped model'}: labels by face size ({args.split} split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
