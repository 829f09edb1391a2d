"""``vj train``: train a Haar or LBP cascade and write it as OpenCV XML.

    vj train --pos cbcl/train/faces --neg backgrounds --window 19 --stages 10 \\
        --min-hit-rate 0.995 --max-false-alarm 0.5 --out cascade.xml

    vj train --pos-chips chips/ --chip-box 0.03,0,0.93,0.93 --jitter 0.1 --mirror \\
        --neg backgrounds --window 24 --stages 20 --out frontalface.xml

    vj train --vec faces.vec -w 24 -h 24 --bg bg.txt --num-pos 2000 --num-neg 1000 \\
        --num-stages 20 --bt GAB --out cascade.xml

    vj train --pos cbcl/train/faces --neg backgrounds --window 19 --feature-type LBP --out lbp.xml

Positives: ``--pos DIR`` folders of face crops used whole; ``--pos-chips DIR`` folders
of larger chips, each cut by the face box ``--chip-box X,Y,W,H`` (fractions of the
chip, so the faces are framed as the detector's boxes should be; ``--jitter``,
``--grow`` move it at random); ``--vec FILE`` an ``opencv_createsamples``
.vec file; ``--info FILE`` an ``opencv_annotation`` info file (boxes cut to the
window). Negatives: ``--neg DIR`` a folder of face-free images and / or ``--bg FILE``
``opencv_traincascade`` negative lists. Unreadable and odd-sized files are skipped
and reported. The options of ``opencv_traincascade`` that map onto vj's settings are
accepted under their names (``docs/traincascade_options.md``). Prints one line per
boosting round (with ``--verbose``) and per stage: stage number, weak classifiers,
hit rate, false-alarm rate, negatives mined per second, elapsed time and an estimate
of the time left. Running the same command again after an interruption resumes after
the last finished stage.

vj holds no data set's framing: an application adds its own positive sources through
``run(args, extra_sources)`` (``facestack train-cascade`` adds UTKFace chips and WebFaces
faces this way).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, describe, float_in, guarded, int_at_least
from .sample_files import DEFAULT_MAX_PIXELS

#: Window sides ``vj train`` accepts: 3 px is the smallest window vj's cascade readers and detector take
#: (a 1-px border around the variance rectangle), 128 px is far above any detector window in use
#: (OpenCV's are 14 to 60 px) and already needs tens of GB per stage for the full feature set.
MIN_WINDOW_SIDE, MAX_WINDOW_SIDE = 3, 128
WINDOW_SIDE = int_at_least(MIN_WINDOW_SIDE, MAX_WINDOW_SIDE, " (window side in pixels: 3 is the smallest a cascade "
                           "and its features fit, 128 the largest vj trains)")

#: opencv_traincascade's ``-bt`` names and the ``--boost`` variants they are.
BT_NAMES = {"GAB": "gentle", "DAB": "discrete", "RAB": "real", "LB": "logit"}

if TYPE_CHECKING:
    from .cascade_train import CascadeTrainingConfig
    from .positives import SampleReport


def register(subparsers) -> None:
    """Add the ``train`` subcommand to the ``vj`` parser."""
    p = subparsers.add_parser("train", help="train a Haar or LBP cascade", description="Train a Viola-Jones cascade.",
                              add_help=False)
    add_train_arguments(p)
    p.set_defaults(func=run)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Every ``vj train`` option, on ``p`` (made with ``add_help=False``: ``-h`` is the window height, as
    opencv_traincascade's); an application's own command adds its positive sources beside them."""
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("--pos", nargs="*", default=[], metavar="DIR", help="folders of face crops (used whole)")
    p.add_argument("--pos-chips", nargs="*", default=[], metavar="DIR",
                   help="folders of chips, each cut by --chip-box")
    p.add_argument("--chip-box", type=_chip_box, default=None, metavar="X,Y,W,H",
                   help="--pos-chips: the face box as fractions of each chip's width and height")
    p.add_argument("--pos-limit", type=int_at_least(1), default=None,
                   help="read at most this many files per positive source")
    p.add_argument("--mirror", action="store_true", help="add left-right mirrored positives")
    p.add_argument("--jitter", type=float_in(0, 1), default=0.0,
                   help="--pos-chips boxes: random shift / shrink by up to this fraction of the side")
    p.add_argument("--grow", type=float_in(0, 4), default=0.0,
                   help="--pos-chips boxes: the jitter may also enlarge the box by up to this fraction (default 0)")
    p.add_argument("--rotate", type=float_in(0, 180), default=0.0, metavar="DEG",
                   help="--pos/--pos-chips: turn each face by a random angle in [-DEG, DEG] (default 0)")
    p.add_argument("--blur", type=float_in(0, 100), default=0.0, metavar="SIGMA",
                   help="--pos/--pos-chips: Gaussian blur of random sigma in [0, SIGMA] window px (default 0)")
    p.add_argument("--vec", nargs="*", default=[], metavar="FILE",
                   help="opencv_createsamples .vec files of positives at the window size")
    p.add_argument("--info", nargs="*", default=[], metavar="FILE",
                   help="opencv_annotation info files: 'image count x y w h ...' lines, boxes cut to the window")
    p.add_argument("--neg", default=None, metavar="DIR", help="folder of face-free background images")
    p.add_argument("--bg", nargs="*", default=[], metavar="FILE",
                   help="opencv_traincascade negative lists: one background image path per line")
    p.add_argument("--window", type=WINDOW_SIDE, nargs="+", default=[24], metavar="PX",
                   help="window side, or width height (default 24)")
    p.add_argument("-w", "--width", type=WINDOW_SIDE, default=None, help="window width (opencv -w; overrides --window)")
    p.add_argument("-h", "--height", type=WINDOW_SIDE, default=None,
                   help="window height (opencv -h; overrides --window)")
    p.add_argument("--stages", "--num-stages", dest="stages", type=int_at_least(1, 10_000), default=20,
                   help="most stages (default 20)")
    p.add_argument("--min-hit-rate", type=float_in(0, 1, low_open=True), default=0.995,
                   help="per-stage hit rate (default 0.995)")
    p.add_argument("--max-false-alarm", "--max-false-alarm-rate", dest="max_false_alarm",
                   type=float_in(0, 1, low_open=True, high_open=True), default=0.5,
                   help="per-stage false-alarm rate (default 0.5)")
    p.add_argument("--target-fpr", type=float_in(0, 1, low_open=True), default=None,
                   help="stop at this overall false-positive rate (default max-false-alarm ** stages)")
    p.add_argument("--acceptance-ratio-break-value", type=float_in(-1, 1), default=None, metavar="RATE",
                   help="opencv's stopping rule: stop once the cascade accepts at most this share of "
                   "background windows (or max-false-alarm ** stages, if higher); negative: off, as opencv's -1")
    p.add_argument("--weight-trim-rate", type=float_in(0, 1), default=0.95,
                   help="Gentle/discrete weight trimming (default 0.95, as opencv; 0 disables)")
    p.add_argument("--bt", default=None, choices=tuple(BT_NAMES),
                   help="opencv's boosting type: GAB = --boost gentle, DAB = discrete, RAB = real, LB = logit")
    p.add_argument("--max-depth", type=int_at_least(1, 25), default=1, metavar="D",
                   help="opencv's -maxDepth: each weak classifier is a tree of at most D levels of splits "
                   "(default 1: stumps)")
    p.add_argument("--reuse-negatives", action="store_true",
                   help="carry the last stage's negatives that the cascade still accepts into the next stage "
                   "(at most half of --num-neg) and mine only the rest (not in opencv_traincascade; docs/performance.md has what it saved)")
    p.add_argument("--memory-budget", type=float_in(0, 1e6, low_open=True), default=None, metavar="GB",
                   help="refuse to start when a stage's training set would need more than this many GB")
    p.add_argument("--num-neg", type=int_at_least(1), default=2000, help="negatives mined per stage (default 2000)")
    p.add_argument("--hit-rate-per-source", action="store_true",
                   help="hold --min-hit-rate on each positive source (folder or file) of a stage apart, not only "
                   "on all of them, so a small, hard source is not the one each stage gives up "
                   "(not in opencv_traincascade)")
    p.add_argument("--num-pos", type=int_at_least(1), default=2000,
                   help="most positives per stage (default 2000): the first of the shuffled positives that the "
                   "cascade still accepts, so this bounds how many different faces training sees")
    p.add_argument("--min-positives", type=int_at_least(1), default=100, help="stop when fewer positives survive")
    p.add_argument("--max-weak", "--max-weak-count", dest="max_weak", type=int_at_least(1), default=200,
                   help="most stumps per stage (default 200)")
    p.add_argument("--features", "--mode", dest="features", default="BASIC", choices=("BASIC", "CORE", "ALL"),
                   help="Haar feature set")
    p.add_argument("--feature-type", default="HAAR", choices=("HAAR", "LBP"), type=str.upper,
                   help="opencv's -featureType: HAAR (default) or LBP (multi-block LBP codes, categorical stumps)")
    p.add_argument("--feature-fraction", type=float_in(0, 1, low_open=True), default=1.0,
                   help="random fraction of features to use")
    p.add_argument("--boost", default="gentle", choices=tuple(BT_NAMES.values()),
                   help="AdaBoost variant (default gentle)")
    p.add_argument("--max-mining-windows", type=int_at_least(1), default=200_000_000,
                   help="stop when a stage's negatives are not found within this many windows")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed")
    p.add_argument("--threads", "--num-threads", dest="threads", type=int_at_least(1), default=None,
                   help="Numba threads")
    p.add_argument("--verbose", action="store_true", help="print every boosting round")
    p.add_argument("--max-pixels", type=int_at_least(1), default=DEFAULT_MAX_PIXELS,
                   help="skip background images over this many pixels, before decoding "
                   f"(default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--out", required=True,
                   help="output cascade XML (resumed if it exists with its OUT.train.json sidecar)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh, replacing OUT (and its sidecar) even if another training or tool wrote it")


#: A positive source an application adds: (label, reader of windows at a window size).
PositiveSource = tuple[str, Callable[[tuple[int, int]], tuple[np.ndarray, "SampleReport"]]]


def _chip_box(text: str) -> tuple[float, float, float, float]:
    """``X,Y,W,H`` fractions of a chip; W and H in (0, 4], X and Y in [-2, 2]."""
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected four numbers X,Y,W,H (fractions of the chip), got {text!r}")
    if not (0 < w <= 4 and 0 < h <= 4 and -2 <= x <= 2 and -2 <= y <= 2):
        raise argparse.ArgumentTypeError(f"chip box {text!r}: W and H must be in (0, 4], X and Y in [-2, 2]")
    return (x, y, w, h)


def folder_sources(args: argparse.Namespace) -> list[PositiveSource]:
    """vj's own positive sources: ``--pos`` folders used whole, ``--pos-chips`` folders cut by ``--chip-box``."""
    from .positives import read_crop_folder

    if args.pos_chips and args.chip_box is None:
        raise ValueError("--pos-chips needs --chip-box X,Y,W,H (the face box as fractions of a chip)")

    def reader(folder: str, box: tuple[float, float, float, float] | None):
        return lambda window: read_crop_folder(
            folder, window, box=box, limit=args.pos_limit, jitter=args.jitter if box is not None else 0.0,
            seed=args.seed, rotate=args.rotate, blur=args.blur, grow=args.grow if box is not None else 0.0)

    return [(d, reader(d, None)) for d in args.pos] + [(d, reader(d, args.chip_box)) for d in args.pos_chips]


def _load_positives(args: argparse.Namespace, window: tuple[int, int],
                    extra_sources: Sequence[PositiveSource] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Every positive window, mirrored if asked, in one seeded random order.

    Returns:
        ``(windows, sources)``: ``(N, h, w)`` uint8 and ``(N,)`` int64, the index of the
        source (``.vec`` / info file, then folder or data set, in that order) of each window.
    """
    from .positives import mirrored

    sources = folder_sources(args) + list(extra_sources)
    parts = _sample_file_positives(args, window)
    if not sources and not parts:
        raise ValueError("no positives: give --pos, --pos-chips, --vec or --info")
    for _label, read in sources:
        windows, report = read(window)
        print(report.summary())
        for label, names in (("unreadable", report.unreadable), ("odd-sized", report.odd_sized)):
            if names:
                print(f"  skipped {label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
        parts.append(windows)
    positives = np.concatenate(parts)
    sources = np.concatenate([np.full(len(part), index, np.int64) for index, part in enumerate(parts)])
    if args.mirror:
        positives, sources = mirrored(positives), np.concatenate([sources, sources])
    order = np.random.default_rng(args.seed).permutation(len(positives))
    return np.ascontiguousarray(positives[order]), sources[order]


def _sample_file_positives(args: argparse.Namespace, window: tuple[int, int]) -> list[np.ndarray]:
    """The positives of the ``--vec`` and ``--info`` files, one array per file."""
    from .sample_files import read_info_positives, read_vec

    parts = []
    for file in args.vec:
        parts.append(read_vec(file, window))
        print(f"{file}: {len(parts[-1])} samples (.vec)")
    for file in args.info:
        parts.append(read_info_positives(file, window))
        print(f"{file}: {len(parts[-1])} boxes (info file)")
    return parts


def _load_bg_lists(files: list[str], window: tuple[int, int], max_pixels: int) -> list[np.ndarray]:
    """The background images of the ``--bg`` lists that are at least as large as the window
    (unreadable ones and those over ``max_pixels`` are skipped and reported)."""
    from .sample_files import parse_bg

    images = []
    for file in files:
        grays, skipped = _read_grays(parse_bg(file), max_pixels)
        big = [g for g in grays if g.shape[0] >= window[1] and g.shape[1] >= window[0]]
        print(f"{file}: {len(big)} background images ({len(skipped)} unreadable or too large, "
              f"{len(grays) - len(big)} smaller than the window)")
        _report_skipped(skipped)
        images += big
    return images


def _read_grays(paths: list[Path], max_pixels: int) -> tuple[list[np.ndarray], list[str]]:
    """Decode every image that can be (``vj.sample_files.read_gray_image``); the others' one-line reasons."""
    from .sample_files import read_gray_image

    grays, skipped = [], []
    for path in paths:
        try:
            grays.append(read_gray_image(path, max_pixels))
        except (OSError, ValueError) as exc:
            skipped.append(describe(exc))
    return grays, skipped


def _report_skipped(reasons: list[str]) -> None:
    for reason in reasons[:5]:
        print(f"  skipped {reason}")
    if len(reasons) > 5:
        print(f"  ... and {len(reasons) - 5} more")


def _check_memory_budget(config: CascadeTrainingConfig, budget_gb: float | None) -> None:
    """Refuse a training whose per-stage training set would not fit ``budget_gb``."""
    from .cascade_train import training_memory_bytes

    if budget_gb is None:
        return
    need = training_memory_bytes(config)
    if need > budget_gb * 1e9:
        raise ValueError(f"a stage needs about {need / 1e9:.2f} GB (features x samples bytes of binned values, "
                         f"plus integrals), over --memory-budget {budget_gb:g} GB: lower --num-pos / --num-neg "
                         "or --feature-fraction")


def _load_backgrounds(folder: str, window: tuple[int, int], max_pixels: int) -> list[np.ndarray]:
    from .positives import image_files

    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"background folder not found: {folder}")
    images, skipped = _read_grays(image_files(path), max_pixels)
    big = [g for g in images if g.shape[0] >= window[1] and g.shape[1] >= window[0]]
    print(f"{folder}: {len(big)} background images ({len(skipped)} unreadable or too large, "
          f"{len(images) - len(big)} smaller than the window)")
    _report_skipped(skipped)
    if not big:
        raise ValueError(f"no usable background image in {folder}")
    return big


def check_output_file(out: Path, overwrite: bool) -> None:
    """Before any work: the cascade's folder exists (created if needed) and is writable, ``out`` is not a
    folder, and an ``out`` with no training sidecar is not replaced without ``overwrite``.

    Raises:
        OSError: the folder cannot be created or written in, or ``out`` is a folder.
        OutputExistsError: ``out`` exists without a sidecar (a cascade no vj training wrote).
    """
    from .cascade_train import OutputExistsError, sidecar_path
    from .cli_detect import check_output_folder

    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give the cascade file's name")
    check_output_folder(out.parent, "the cascade in")
    if out.exists() and not overwrite and not sidecar_path(out).exists():
        raise OutputExistsError(f"{out} exists and has no {sidecar_path(out).name} beside it, so it is not a "
                                "training to resume: choose another --out, or pass --overwrite to replace it")


def _duration(seconds: float) -> str:
    """``seconds`` as ``1 h 05 min``, ``12 min`` or ``40 s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def _time_left(seconds: float | None) -> str:
    """The progress line's estimate: ``about 12 min left``, or why there is none yet."""
    if seconds is None:
        return "time left not known yet (the first stages mine too few windows to time)"
    return f"about {_duration(seconds)} left"


def run(args: argparse.Namespace, extra_sources: Sequence[PositiveSource] = (), prog: str = "vj train") -> int:
    """Execute ``vj train`` with the parsed ``args`` (and an application's extra positive sources);
    returns the exit status: 0 done, 1 failed, 2 usage error (checked before any work), 130 interrupted
    (the cascade file then holds the finished stages and the same command resumes). ``prog`` starts
    every error line (an application's own command passes its name)."""
    return guarded(prog, lambda parsed: _run(parsed, extra_sources, prog), args)


def _run(args: argparse.Namespace, extra_sources: Sequence[PositiveSource], prog: str) -> int:
    from .cascade_train import (CascadeTrainingConfig, OutputExistsError, ResumeMismatchError, SidecarError,
                                TooFewPositivesError, train_cascade)

    if len(args.window) not in (1, 2):
        print(f"{prog}: --window takes one side or a width and a height", file=sys.stderr)
        return EXIT_USAGE
    window = (args.width or args.window[0], args.height or args.window[-1])
    if args.neg is None and not args.bg:
        print(f"{prog}: no negatives: give --neg DIR and / or --bg FILE", file=sys.stderr)
        return EXIT_USAGE
    boost = BT_NAMES[args.bt] if args.bt else args.boost
    feature_type = getattr(args, "feature_type", "HAAR")
    if feature_type == "LBP" and args.features != "BASIC":
        print(f"{prog}: --mode {args.features} chooses Haar features; LBP training has one feature pool "
              "(drop --mode, or use --feature-type HAAR)", file=sys.stderr)
        return EXIT_USAGE
    target = args.target_fpr
    if args.acceptance_ratio_break_value is not None and args.acceptance_ratio_break_value >= 0:
        # opencv stops at this acceptance ratio or at max-false-alarm ** stages, whichever comes first
        target = max(args.acceptance_ratio_break_value, args.max_false_alarm ** args.stages)
    out = Path(args.out)
    overwrite = bool(getattr(args, "overwrite", False))
    try:
        check_output_file(out, overwrite)
        if args.threads:
            import numba

            numba.set_num_threads(args.threads)
        config = CascadeTrainingConfig(
            window_size=window, num_stages=args.stages, min_hit_rate=args.min_hit_rate,
            max_false_alarm=args.max_false_alarm, target_false_positive_rate=target,
            num_negatives=args.num_neg, max_positives=args.num_pos, min_positives=args.min_positives,
            max_weak_per_stage=args.max_weak, feature_set=args.features, feature_fraction=args.feature_fraction,
            boost_type=boost, weight_trim_rate=args.weight_trim_rate, max_mining_windows=args.max_mining_windows,
            seed=args.seed, feature_type=feature_type, max_depth=getattr(args, "max_depth", 1),
            reuse_negatives=bool(getattr(args, "reuse_negatives", False)),
            hit_rate_per_source=bool(getattr(args, "hit_rate_per_source", False)))
        _check_memory_budget(config, args.memory_budget)
    except (OSError, ValueError) as exc:
        print(f"{prog}: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    max_pixels = getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)
    try:
        positives, positive_sources = _load_positives(args, window, extra_sources)
        backgrounds = ((_load_backgrounds(args.neg, window, max_pixels) if args.neg else [])
                       + _load_bg_lists(args.bg, window, max_pixels))
        if not backgrounds:
            raise ValueError("no usable background image in --neg / --bg")
    except (OSError, ValueError) as exc:
        print(f"{prog}: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{len(positives)} positives, window {window[0]}x{window[1]}, writing {args.out}", flush=True)
    start = time.perf_counter()
    saved = {"stages": 0}

    def progress(event: str, info: dict) -> None:
        elapsed = time.perf_counter() - start
        if event == "round" and args.verbose:
            print(f"  stage {info['stage'] + 1} round {info['round']}: hit {info['hit_rate']:.4f} "
                  f"false alarm {info['false_alarm']:.4f}", flush=True)
        elif event == "stage":
            saved["stages"] = info["stage"] + 1
            print(f"stage {info['stage'] + 1}: {info['num_weak']} weak, hit {info['hit_rate']:.4f}, false alarm "
                  f"{info['false_alarm']:.4f}, {info['positives']} pos, {info['negatives']} neg mined at "
                  f"{info['negatives_per_second']:.0f}/s (cascade accepted {info['acceptance_before']:.2e} of "
                  f"background windows), stage {info['seconds']:.1f} s, elapsed {elapsed:.0f} s, "
                  f"{_time_left(info['seconds_left'])}", flush=True)
        elif event == "resume":
            saved["stages"] = info["stages"]
            print(f"resuming after stage {info['stages']} from {args.out}", flush=True)
        elif event == "stop":
            print(f"stopped: {info['reason']} (elapsed {elapsed:.0f} s; whole training "
                  f"{_duration(info['training_seconds'])}, resumed sessions included)", flush=True)

    try:
        result = train_cascade(positives, backgrounds, config, out, progress, overwrite=overwrite,
                               positive_sources=positive_sources)
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        kept = f"{out} holds the {saved['stages']} finished stages" if saved["stages"] else "no stage was finished"
        print(f"{prog}: interrupted; {kept}: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OutputExistsError as exc:
        print(f"{prog}: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (TooFewPositivesError, ResumeMismatchError, SidecarError, ValueError, OSError) as exc:
        print(f"{prog}: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {args.out}: {result.cascade.num_stages} stages, {result.cascade.num_weak} weak classifiers")
    return 0
