"""Command line: build the cache and split, print the report, draw the figure; or download.

    python -m facestack.data build --data ../shared/data/utkface [--size 128 --color gray]
    python -m facestack.data download --dest ~/data [--sha256 HEX]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .cache import build_cache, default_cache_dir
from .download import WIKI_CROP_URL, download
from .imdb_wiki import ImdbWikiCleaning
from .labels import age_bins, format_counts
from .plots import plot_age_distribution
from .preprocess import RESAMPLE, PreprocessSettings
from .sources import FORMATS, read_faces
from .split import split_for_cache


def _bins_arg(text: str):
    if text in ("paper", "code"):
        return age_bins(text)
    edges = [math.inf if e.strip() in ("inf", "Inf") else float(e) for e in text.split(",")]
    return age_bins(edges)


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="read a data set, build its cache and split, print the report")
    p.add_argument("--data", required=True, help="UTKFace folder, or IMDB-WIKI folder / .mat file")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--cache-dir", default=None, help=f"default: $FACESTACK_CACHE or {default_cache_dir()}")
    p.add_argument("--size", type=int, nargs="+", default=[128], help="H [W] in pixels (default 128)")
    p.add_argument("--color", choices=("gray", "rgb"), default="gray")
    p.add_argument("--no-crop", action="store_true", help="ignore IMDB-WIKI face boxes")
    p.add_argument("--box-margin", type=float, default=0.0)
    p.add_argument("--stretch", action="store_true", help="min-max stretch each image (authors' code)")
    p.add_argument("--resample", choices=sorted(RESAMPLE), default="bilinear")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--bins", default="paper", help="'paper', 'code' or edges like 0,31,46,61,101")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.85, 0.05, 0.10])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="default: <cache>/age_distribution.png")
    p.add_argument("--min-face-score", type=float, default=-math.inf, help="IMDB-WIKI; 'nan' = no threshold")
    p.add_argument("--allow-second-face", action="store_true", help="IMDB-WIKI: keep rows with a second face")
    p.add_argument("--max-age", type=int, default=100, help="IMDB-WIKI")
    p.add_argument("--max-rows", type=int, default=None, help="IMDB-WIKI (authors: 40000)")


def _build(args: argparse.Namespace) -> int:
    cleaning = ImdbWikiCleaning(
        min_face_score=None if math.isnan(args.min_face_score) else args.min_face_score,
        single_face_only=not args.allow_second_face,
        max_age=args.max_age,
        max_rows=args.max_rows,
    )
    started = time.perf_counter()
    faces = read_faces(args.data, args.format, cleaning)
    print(faces.report.summary())
    size = tuple(args.size) if len(args.size) == 2 else (args.size[0], args.size[0])
    settings = PreprocessSettings(
        size=size, color=args.color, crop_to_box=not args.no_crop, box_margin=args.box_margin,
        stretch=args.stretch, resample=args.resample,
    )
    cache = build_cache(faces, settings, args.cache_dir, workers=args.workers, rebuild=args.rebuild, progress=True)
    elapsed = time.perf_counter() - started
    report = cache.report
    print(f"cache: {cache.directory}  images {tuple(cache.images.shape)} uint8  ({elapsed:.1f} s this run, "
          f"built in {report['build_seconds']:.1f} s)")
    print(f"bad files: {report['images_bad']} of {report['images_total']}")
    for bad in report["bad_files"]:
        print(f"  {bad['path']}: {bad['reason']}")
    bins = _bins_arg(args.bins)
    print(format_counts(cache.counts(bins), bins))
    split = split_for_cache(cache, bins, tuple(args.fractions), args.seed)
    print(f"split (seed {split.seed}): train {len(split.train):,}  val {len(split.val):,}  "
          f"test {len(split.test):,}  excluded {len(split.excluded):,}")
    figure_path = Path(args.figure) if args.figure else cache.directory / "age_distribution.png"
    plot_age_distribution(cache.age, cache.gender, bins, f"Age distribution per gender ({faces.source})", figure_path)
    print(f"figure: {figure_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m facestack.data``."""
    parser = argparse.ArgumentParser(prog="python -m facestack.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_build(sub)
    d = sub.add_parser("download", help="download and extract IMDB-WIKI's wiki_crop.tar (or --url)")
    d.add_argument("--url", default=WIKI_CROP_URL)
    d.add_argument("--dest", default=".")
    d.add_argument("--sha256", default=None)
    d.add_argument("--no-extract", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "build":
        return _build(args)
    path = download(args.url, args.dest, sha256=args.sha256, extract=not args.no_extract, progress=True)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
