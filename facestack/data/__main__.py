"""Command line: build the cache and split, print the report, draw the figure; or download.

    python -m facestack.data build --data ../shared/data/utkface [--size 128 --color gray]
    python -m facestack.data download --dest ~/data [--sha256 HEX]

Errors follow :func:`facestack.cli.run_command`: one line naming the file or option,
exit status 2 for a wrong option (a missing ``--data`` folder, a size of 0, fractions
that do not add up to 1), 1 for a failure (no images in the folder, a download that
broke off), ``--debug`` for the traceback.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from urllib.error import HTTPError, URLError

from ..cli import DEBUG_FLAG, DEBUG_HELP, Parser, run_command

from .cache import build_cache, default_cache_dir
from .download import WIKI_CROP_URL, download
from .imdb_wiki import ImdbWikiCleaning
from .labels import age_bins, format_counts
from .plots import plot_age_distribution
from .preprocess import RESAMPLE, PreprocessSettings
from .sources import FORMATS, read_faces
from .split import split_for_cache
from .validate import UsageError, check_number, check_writable_folder

PROG = "python -m facestack.data"


def _bins_arg(text: str):
    if text in ("paper", "code"):
        return age_bins(text)
    try:
        edges = [math.inf if e.strip() in ("inf", "Inf") else float(e) for e in text.split(",")]
        return age_bins(edges)
    except ValueError as error:
        raise UsageError(f"--bins {text!r}: expected 'paper', 'code' or increasing edges like 0,31,46,61,101 "
                         f"({error})") from None


def _check_build_options(args: argparse.Namespace) -> None:
    """Every numeric option in range, the data path present, before anything is read."""
    if not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder")
    if len(args.size) > 2:
        raise UsageError(f"--size takes H or H W, got {len(args.size)} numbers")
    for value in args.size:
        check_number(value, "--size", integer=True, minimum=1, maximum=4096)
    check_number(args.box_margin, "--box-margin", minimum=0.0, maximum=10.0)
    check_number(args.workers, "--workers", integer=True, minimum=1, maximum=1024, optional=True)
    check_number(args.max_age, "--max-age", integer=True, minimum=0, maximum=200)
    check_number(args.max_rows, "--max-rows", integer=True, minimum=1, optional=True)
    check_number(args.seed, "--seed", integer=True, minimum=0, maximum=2**63 - 1)
    if not (math.isnan(args.min_face_score) or args.min_face_score == -math.inf):
        check_number(args.min_face_score, "--min-face-score")
    for value in args.fractions:
        check_number(value, "--fractions", minimum=0.0, maximum=1.0)
    if abs(sum(args.fractions) - 1.0) > 1e-6:
        raise UsageError(f"--fractions must add up to 1, got {' + '.join(map(str, args.fractions))} = "
                         f"{sum(args.fractions):g}")


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
    _check_build_options(args)
    bins = _bins_arg(args.bins)
    if args.cache_dir is not None:
        check_writable_folder(args.cache_dir, "--cache-dir")
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
    print(format_counts(cache.counts(bins), bins))
    split = split_for_cache(cache, bins, tuple(args.fractions), args.seed)
    print(f"split (seed {split.seed}): train {len(split.train):,}  val {len(split.val):,}  "
          f"test {len(split.test):,}  excluded {len(split.excluded):,}")
    figure_path = Path(args.figure) if args.figure else cache.directory / "age_distribution.png"
    plot_age_distribution(cache.age, cache.gender, bins, f"Age distribution per gender ({faces.source})", figure_path)
    print(f"figure: {figure_path}")
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.sha256 is not None and (len(args.sha256) != 64 or any(c not in "0123456789abcdefABCDEF"
                                                                   for c in args.sha256)):
        raise UsageError(f"--sha256 must be 64 hexadecimal digits, got {args.sha256!r}")
    if not args.url.startswith(("http://", "https://", "file:")):
        raise UsageError(f"--url must be an http(s) address, got {args.url!r}")
    check_writable_folder(args.dest, "--dest")
    try:
        path = download(args.url, args.dest, sha256=args.sha256, extract=not args.no_extract, progress=True)
    except HTTPError as error:
        raise OSError(f"download of {args.url} failed: HTTP {error.code} {error.reason}") from None
    except URLError as error:
        raise OSError(f"download of {args.url} failed: {error.reason}; check the address and the "
                      "network, then run the same command again (it resumes)") from None
    except TimeoutError:
        raise OSError(f"download of {args.url} timed out; run the same command again (it resumes)") from None
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m facestack.data``; returns the exit status (see the module doc)."""
    return run_command(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_build(sub)
    d = sub.add_parser("download", help="download and extract IMDB-WIKI's wiki_crop.tar (or --url)")
    d.add_argument("--url", default=WIKI_CROP_URL)
    d.add_argument("--dest", default=".")
    d.add_argument("--sha256", default=None)
    d.add_argument("--no-extract", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "build":
        return _build(args)
    return _download(args)


if __name__ == "__main__":
    sys.exit(main())
