"""The command line shared by the experiment scripts: options, presets, data, run folder, run.

Each script (``experiments/gender_cnn.py``, ``lenet_age.py``, ``multitask.py``) describes
itself as an :class:`Experiment`: its presets (``paper``, ``authors-code``, ``best``),
how to build its model, its tasks and its task weighting. :func:`main` does the rest:

1. parse the shared options; every option left out takes the value of the chosen preset
   (``--variant``, or ``--best``), then of :data:`COMMON_DEFAULTS`;
2. read the data (UTKFace, or IMDB-WIKI by format detection), build the 128x128 grayscale
   cache, and take the seeded split stratified by the paper's age bins and gender, so every
   experiment on a data set uses the same split (``--limit N`` keeps N training images and
   N/8 validation and test images and caches only those: for smoke tests; ``--train-limit N``
   trains on N of the training images and keeps the whole validation and test splits: the
   paper's small-data setting);
3. write ``settings.json`` into the run folder, train with :class:`~minicnn.train.Trainer`,
   print one line per epoch and the final test results.

``--resume`` continues a run folder with the settings saved in it (options given again on
the command line, e.g. a larger ``--epochs``, take precedence); a folder without a readable
``checkpoint.npz`` is an error, never a fresh start. A new run refuses a folder that already
holds a run's files unless ``--overwrite``.

Errors follow :func:`facestack.cli.run_command`: one line naming the option or file, exit
status 2 for a wrong option, 1 for a failure, ``--debug`` for the traceback. Every option,
and every value of a resumed ``settings.json``, is range-checked (:func:`validate_settings`)
before data is read or a network allocated. Ctrl-C (SIGINT, even where the launching shell
left it ignored) and SIGTERM end the run with ``interrupted after epoch N; continue with
--resume RUN_DIR`` and status 130; the files on disk are those of the last finished epoch.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from minicnn import backend, nn
from ..data import Augment, BatchLoader, PhotoAugment, PreprocessSettings, age_bins, build_cache, read_faces
from ..data.labels import GENDER_NAMES
from ..data.split import split_for_cache, stratified_split
from ..data.validate import UsageError, check_number, check_settings, check_writable_folder, read_json_object
from ..cli import DEBUG_FLAG, DEBUG_HELP, EXIT_INTERRUPTED, Parser, run_command
from minicnn.train.checkpoint import load_checkpoint
from minicnn.train.config import Task, TrainConfig
from minicnn.train.loop import Trainer
from minicnn.train.report import balanced_class_weights, write_json
from minicnn.train.step import NonFiniteLossError
from .provenance import PROVENANCE_FILE, append_provenance
from .diagnose import MAJORITY_NOTE_EPOCH, DiagnosticsRecorder, majority_note, majority_val_accuracy
from .weighting import TaskWeighting

BINS = {"paper": "paper", "authors-code": "code"}
SPLIT_BINS = "paper"  # the split is stratified by these bins whatever --bins says: one split for all runs

#: A model within this much test accuracy of the majority class counts as "no better" (``Experiment.majority_hint``).
MAJORITY_MARGIN = 0.005
#: Values of options that neither the command line nor the preset sets.
COMMON_DEFAULTS: dict[str, Any] = {
    "data": None, "format": "auto", "cache_dir": None, "seed": 0, "split_seed": 0, "epochs": 30, "batch_size": 128,
    "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "schedule": "exponential", "decay_rate": 0.96,
    "decay_steps": 5000, "warmup_epochs": 0.0, "min_lr_factor": 0.0, "device": "cpu", "limit": None,
    "train_limit": None, "bins": "paper", "augment": False, "stretch": False, "class_weights": "none", "init": "paper",
    "dropout": None, "steps_per_epoch": None, "workers": None, "threads": None, "no_progress": False,
    "loss_over_classes": False, "patience": None, "photo_augment": False, "diagnostics_epochs": None,
}


def default_data_dir() -> Path:
    """``$FACESTACK_DATA/utkface``, else ``../shared/data/utkface`` from the current folder (a clone's layout)."""
    env = os.environ.get("FACESTACK_DATA")
    return Path(env) / "utkface" if env else Path("..") / "shared" / "data" / "utkface"


@dataclass
class RunData:
    """The images and labels of a run and its three parts.

    Attributes:
        images: uint8 (N, 1, H, W), memory-mapped from the cache.
        labels: name -> (N,) (age, age_bin for the chosen bins, gender, ...).
        train, val, test: int64 row indices into ``images``.
        age_class_names: readable names of the age bins.
        cache_dir: the cache folder used.
        source: the data set's name.
    """

    images: np.ndarray
    labels: dict[str, np.ndarray]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    age_class_names: tuple[str, ...]
    cache_dir: Path
    source: str

    def task(self, name: str) -> Task:
        """The ``gender`` or ``age`` task on these labels."""
        if name == "gender":
            return Task("gender", "gender", tuple(GENDER_NAMES[k] for k in sorted(GENDER_NAMES)))
        if name == "age":
            return Task("age", "age_bin", self.age_class_names)
        raise ValueError(f"unknown task {name!r}: expected 'gender' or 'age'")


@dataclass
class Experiment:
    """What a script contributes: presets, model, tasks, weighting and extra options."""

    script: str
    description: str
    presets: dict[str, dict[str, Any]]
    build_model: Callable[[argparse.Namespace, list[Task]], nn.Module]
    task_names: tuple[str, ...]
    build_weighting: Callable[[argparse.Namespace, list[Task]], TaskWeighting | None] = lambda s, t: None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    extra_defaults: dict[str, Any] = field(default_factory=dict)
    #: What to tell the user when the model ends no better than the majority class (None: nothing).
    majority_hint: Callable[[argparse.Namespace], str] | None = None


def build_parser(experiment: Experiment) -> argparse.ArgumentParser:
    """The shared options (every default None: unset options come from the preset)."""
    p = Parser(prog=f"python experiments/{experiment.script}.py", description=experiment.description,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--data", help=f"UTKFace folder or IMDB-WIKI folder/.mat (default {default_data_dir()})")
    a("--format", choices=("auto", "utkface", "imdb-wiki"), help="data format (default: detected)")
    a("--cache-dir", help="where preprocessed caches live (default $FACESTACK_CACHE or ~/.cache/facestack)")
    a("--out", help="run folder (default runs/<script>-<preset>-<timestamp>)")
    a("--resume", nargs="?", const=True, help="continue the run in --out (or in the folder given here)")
    a("--overwrite", action="store_true", default=None, help="start a new run in an --out folder that holds one")
    a(DEBUG_FLAG, action="store_true", default=None, help=DEBUG_HELP)
    a("--variant", choices=("paper", "authors-code"), help="follow the paper's text (default) or its authors' code")
    a("--best", action="store_true", default=None, help="our own preset, beyond the paper (see the docstring)")
    a("--seed", type=int, help="seed of initialisation, order, augmentation and dropout (default 0)")
    a("--split-seed", type=int, help="seed of the train/val/test split (default 0)")
    a("--epochs", type=int)
    a("--batch-size", type=int)
    a("--lr", type=float, help="base learning rate")
    a("--momentum", type=float)
    a("--weight-decay", type=float, help="L2 coefficient on every network parameter")
    a("--schedule", choices=("exponential", "cosine", "constant"))
    a("--decay-rate", type=float, help="exponential schedule: factor every --decay-steps (staircase)")
    a("--decay-steps", type=int)
    a("--warmup-epochs", type=float, help="cosine schedule: epochs of linear warm-up")
    a("--min-lr-factor", type=float, help="cosine schedule: final rate as a fraction of --lr")
    a("--dropout", type=float, help="dropout probability of the FC layers (default: the variant's)")
    a("--init", choices=("paper", "default"), help="paper: truncated normal 0.1, biases 0.1; default: U(+-1/sqrt(fan_in))")
    a("--augment", action=argparse.BooleanOptionalAction, default=None, help="random crop (pad 8) + flip + brightness")
    a("--photo-augment", action=argparse.BooleanOptionalAction, default=None,
      help="also zoom, shift, rotate, blur, JPEG-compress and relight each training face as real photos vary "
           "(facestack.data.photo_augment; implies --augment, replaces its padded crop)")
    a("--patience", type=int, help="stop once the best mean validation accuracy is this many epochs old")
    a("--diagnostics-epochs", type=int, metavar="N",
      help="write per-layer activation and gradient statistics (diagnostics.csv) before training and after "
           "each of the first N epochs, on a fixed validation batch (facestack/train/diagnose.py)")
    a("--stretch", action=argparse.BooleanOptionalAction, default=None, help="min-max stretch each image (authors' code)")
    a("--class-weights", choices=("none", "balanced"), help="cross-entropy class weights from the training labels")
    a("--bins", choices=tuple(BINS), help="age bins: the text's [0,30] [31,45] [46,60] [61,100] or the code's")
    a("--device", choices=("cpu", "gpu"))
    a("--limit", type=int, help="use only N training images (and N/8 validation, N/8 test): smoke tests")
    a("--train-limit", type=int, metavar="N",
      help="train on a seeded random N of the training split, keeping the whole validation and test splits: "
           "the paper's small-data setting (about 6,000 images)")
    a("--steps-per-epoch", type=int, help="stop each epoch after this many steps: smoke tests")
    a("--workers", type=int, help="processes decoding images for the cache (default: all CPUs)")
    a("--threads", type=int, help="CPU training: split each batch over this many threads, one model replica "
                                  "each (default: all CPUs; 1: one plain step; results depend on it)")
    a("--no-progress", action="store_true", default=None, help="no progress bar")
    if experiment.add_arguments is not None:
        experiment.add_arguments(p)
    return p


#: Range of each numeric setting: (integer, minimum, maximum, above, optional) (see check_number).
NUMERIC_SETTINGS: dict[str, tuple[bool, float | None, float | None, float | None, bool]] = {
    "seed": (True, 0, 2**63 - 1, None, False), "split_seed": (True, 0, 2**63 - 1, None, False),
    "epochs": (True, 1, 1_000_000, None, False), "batch_size": (True, 1, 65_536, None, False),
    "lr": (False, None, 100.0, 0.0, False), "momentum": (False, 0.0, 0.999999, None, False),
    "weight_decay": (False, 0.0, 1.0, None, False), "decay_rate": (False, None, 1.0, 0.0, False),
    "decay_steps": (True, 1, None, None, False), "warmup_epochs": (False, 0.0, 1_000_000, None, False),
    "min_lr_factor": (False, 0.0, 1.0, None, False), "dropout": (False, 0.0, 0.999, None, True),
    "limit": (True, 1, None, None, True), "train_limit": (True, 1, None, None, True),
    "steps_per_epoch": (True, 1, None, None, True),
    "workers": (True, 1, 1024, None, True), "threads": (True, 1, 1024, None, True),
    "patience": (True, 1, None, None, True), "weighting_lr": (False, None, 100.0, 0.0, True),
    "width": (True, 1, 8, None, True),  # multitask: 8 is already 64 times the paper's conv work
    "diagnostics_epochs": (True, 1, 10_000, None, True),
}
#: Settings that must be true or false (or unset).
BOOLEAN_SETTINGS = ("augment", "photo_augment", "stretch", "best", "no_progress", "loss_over_classes")
#: What a Trainer checkpoint's meta entry holds (checked before a resumed run reads its data).
CHECKPOINT_KEYS = ("format", "epoch", "step", "best", "history", "step_log", "tasks", "config")
#: Files a run writes into its folder; a new run refuses a folder holding any of them.
RUN_FILES = ("checkpoint.npz", "best.npz", "model.npz", "log.csv", "steps.csv", "results.json", "settings.json",
             "diagnostics.csv", PROVENANCE_FILE)


def validate_settings(settings: argparse.Namespace, parser: argparse.ArgumentParser, given: set[str],
                      source: str | None) -> argparse.Namespace:
    """Check every setting's type and range (:data:`NUMERIC_SETTINGS`, the parser's choices) before use.

    Args:
        given: the settings given on the command line (their errors name the ``--option``).
        source: the settings.json a resumed run read the others from (None for a new run).
    Raises:
        UsageError: a command-line option is out of range. ValueError: a value of ``source`` is.
    """
    choices = {a.dest: a.choices for a in parser._actions if a.choices is not None}
    check_settings(vars(settings), NUMERIC_SETTINGS, BOOLEAN_SETTINGS, choices, ("data", "cache_dir", "out"),
                   given, source)
    weights = getattr(settings, "task_weights", None)
    if weights is not None:
        origin = None if "task_weights" in given else source
        if not isinstance(weights, list) or not 1 <= len(weights) <= 16:
            raise (UsageError if origin is None else ValueError)(
                f"{origin + ': ' if origin else ''}task_weights must be a list of numbers, got {weights!r}")
        for weight in weights:
            check_number(weight, "--task-weights" if origin is None else "task_weights", minimum=0.0, maximum=1e6,
                         source=origin)
    return settings


def resolve_settings(experiment: Experiment, argv: list[str] | None) -> tuple[argparse.Namespace, bool]:
    """Parse ``argv``, fill every unset option and check them all; returns (settings, resuming)."""
    parser = build_parser(experiment)
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    given.pop("debug", None)
    resume = given.pop("resume", None)
    if resume is not None:
        if given.pop("overwrite", None):
            raise UsageError("--resume continues a run and --overwrite replaces one: give only one of them")
        folder = Path(given.get("out") or (resume if resume is not True else ""))
        if not str(folder) or str(folder) == ".":
            raise UsageError("--resume needs a run folder: pass --resume RUN_DIR or --out RUN_DIR --resume")
        if not folder.is_dir():
            raise UsageError(f"--resume {folder}: no such run folder")
        if not (folder / "settings.json").is_file():
            raise UsageError(f"--resume {folder}: not a run folder (it holds no settings.json)")
        saved = read_json_object(folder / "settings.json")
        if saved.get("script", experiment.script) != experiment.script:
            raise UsageError(f"--resume {folder}: it holds a {saved['script']!r} run, not a {experiment.script} one")
        preset = saved.get("preset") if saved.get("preset") in experiment.presets else "paper"
        # settings added since the run was started take the value they had then: the preset's or the default
        saved = {**COMMON_DEFAULTS, **experiment.extra_defaults, **experiment.presets[preset], **saved}
        saved.pop("overwrite", None)
        saved.update(given)
        saved["out"] = str(folder)
        namespace = argparse.Namespace(**saved)
        return validate_settings(namespace, parser, set(given), str(folder / "settings.json")), True
    preset = "best" if given.get("best") else given.get("variant", "paper")
    settings = {**COMMON_DEFAULTS, **experiment.extra_defaults, **experiment.presets[preset], **given}
    settings["variant"] = given.get("variant", experiment.presets[preset].get("variant", "paper"))
    settings["preset"], settings["best"] = preset, preset == "best"
    settings["script"] = experiment.script
    if settings.get("threads") is None:  # recorded in settings.json, so --resume keeps it
        settings["threads"] = os.cpu_count() or 1
    if not settings.get("out"):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        settings["out"] = str(Path("runs") / f"{experiment.script}-{preset}-{stamp}")
    return validate_settings(argparse.Namespace(**settings), parser, set(given), None), False


def prepare_data(settings: argparse.Namespace) -> RunData:
    """Read the faces, cache them (128x128 gray) and take the seeded stratified split (see module doc)."""
    path = Path(settings.data) if settings.data else default_data_dir()
    if not path.exists():
        raise UsageError(f"no data at {path}: pass --data, or set FACESTACK_DATA to the folder holding utkface/")
    faces = read_faces(path, settings.format)
    image_settings = PreprocessSettings(size=128, color="gray", stretch=bool(settings.stretch))
    bins = age_bins(BINS[settings.bins])
    progress = not settings.no_progress
    train_limit = getattr(settings, "train_limit", None)  # callers outside the CLI (evaluate) leave it out
    if settings.limit and train_limit:
        raise UsageError("--limit shrinks every split and --train-limit only the training one: give only one")
    if settings.limit:
        split_bins = age_bins(SPLIT_BINS)
        split = stratified_split(split_bins.assign(faces.age), faces.gender, seed=settings.split_seed,
                                 bins_key=split_bins.key())
        rng = np.random.default_rng([settings.split_seed, settings.limit])
        n_eval = max(settings.limit // 8, 8)
        parts = {name: np.sort(rng.choice(rows, min(n, len(rows)), replace=False))
                 for name, rows, n in (("train", split.train, settings.limit), ("val", split.val, n_eval),
                                       ("test", split.test, n_eval))}
        chosen = np.sort(np.concatenate(list(parts.values())))
        cache = build_cache(faces.subset(chosen), image_settings, settings.cache_dir, workers=settings.workers,
                            progress=progress)
        original_rows = chosen[cache.source_row]  # row in `faces` of each cache row
        train, val, test = (np.flatnonzero(np.isin(original_rows, parts[k])) for k in ("train", "val", "test"))
    else:
        cache = build_cache(faces, image_settings, settings.cache_dir, workers=settings.workers, progress=progress)
        split = split_for_cache(cache, SPLIT_BINS, seed=settings.split_seed)
        train, val, test = split.train, split.val, split.test
        if train_limit and train_limit < len(train):
            rng = np.random.default_rng([settings.split_seed, train_limit])
            train = np.sort(rng.choice(train, train_limit, replace=False))
    return RunData(cache.images, cache.labels(bins), train, val, test, tuple(bins.labels()),
                   Path(cache.directory), faces.source)


def make_loaders(data: RunData, settings: argparse.Namespace) -> tuple[BatchLoader, BatchLoader, BatchLoader]:
    """Training loader (shuffled, augmented if asked) and unshuffled validation and test loaders."""
    common = {"batch_size": settings.batch_size, "device": settings.device, "scale": "unit"}
    augment = None
    if getattr(settings, "photo_augment", False):
        augment = Augment(crop_padding=0, photo=PhotoAugment())
    elif settings.augment:
        augment = Augment()
    train = BatchLoader(data.images, data.labels, data.train, shuffle=True, seed=settings.seed,
                        augment=augment, **common)
    val = BatchLoader(data.images, data.labels, data.val, shuffle=False, **common)
    test = BatchLoader(data.images, data.labels, data.test, shuffle=False, **common)
    return train, val, test


def seeded_default_init(model: nn.Module, seed: int) -> nn.Module:
    """Redraw every Conv2d / Linear weight and bias from U(+-1/sqrt(fan_in)) with a seeded generator."""
    rng = np.random.default_rng([seed, 1])
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = int(np.prod(module.weight.shape[1:]))
            nn.init.default_uniform_(module.weight, fan_in, rng)
            if module.bias is not None:
                nn.init.default_uniform_(module.bias, fan_in, rng)
    return model


def initialise(model: nn.Module, settings: argparse.Namespace) -> nn.Module:
    """Apply ``settings.init`` (``paper`` or ``default``) with ``settings.seed``."""
    from ..models import paper_init

    if settings.init == "paper":
        return paper_init(model, rng=np.random.default_rng([settings.seed, 1]))
    return seeded_default_init(model, settings.seed)


def build_tasks(experiment: Experiment, settings: argparse.Namespace, data: RunData) -> list[Task]:
    """The experiment's tasks, with class weights and the authors' 1/K loss scale when the settings ask."""
    tasks = []
    for name in experiment.task_names:
        task = data.task(name)
        weights = None
        if settings.class_weights == "balanced":
            weights = tuple(balanced_class_weights(data.labels[task.label][data.train], task.classes))
        scale = 1.0 / task.classes if getattr(settings, "loss_over_classes", False) else 1.0
        tasks.append(Task(task.name, task.label, task.class_names, weights, scale))
    return tasks


def _epoch_line(row: dict[str, Any], tasks: list[Task], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"{row['epoch_seconds']:.0f} s",
             f"{row['seconds_per_step']:.3f} s/step", f"lr {row['lr']:.3g}", f"objective {row['train_objective']:.4f}"]
    for t in tasks:
        parts.append(f"{t.name}: loss {row[f'train_{t.name}_loss']:.3f} acc train {row[f'train_{t.name}_acc']:.3f} "
                     f"val {row[f'val_{t.name}_acc']:.3f} test {row[f'test_{t.name}_acc']:.3f}")
    weights = {k: v for k, v in row.items() if k.startswith(("w_", "sigma2_"))}
    if weights:
        parts.append(" ".join(f"{k} {v:.4g}" for k, v in weights.items()))
    return " | ".join(parts)


def check_run_folder(out: Path, resuming: bool, overwrite: bool) -> int | None:
    """Before any data is read: a resumed run needs a readable checkpoint; a new one, a free folder.

    Returns:
        The epoch the resumed checkpoint ends at; None for a new run.

    Raises:
        UsageError: resuming a folder without ``checkpoint.npz`` (a run stopped before its first
            epoch ended, or one whose checkpoint was deleted: nothing is started afresh over its
            files), or starting a new run in a folder holding a run's files without ``overwrite``.
        ValueError: the checkpoint cannot be read (damaged, truncated, not a checkpoint).
    """
    checkpoint = out / "checkpoint.npz"
    if resuming:
        if not checkpoint.is_file():
            partial = sorted(p.name for p in out.glob("checkpoint.npz.*.tmp"))
            why = f" (only {partial[0]}, a write that was cut off)" if partial else ""
            raise UsageError(f"--resume {out}: no checkpoint.npz{why}, so there is nothing to resume; "
                             f"to start this run again from epoch 1, pass --out {out} --overwrite without --resume")
        try:
            meta = load_checkpoint(checkpoint)[1]
        except ValueError as error:
            raise ValueError(f"cannot resume: {error}") from None
        missing = [key for key in CHECKPOINT_KEYS if key not in meta]
        if missing:
            raise ValueError(f"cannot resume: {checkpoint} is not a Trainer checkpoint (meta lacks {', '.join(missing)})")
        check_writable_folder(out, "the run folder")
        return int(meta["epoch"])
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise UsageError(f"--out {out} already holds a run ({', '.join(existing)}): pass --resume to continue it, "
                         "--overwrite to replace it, or another --out")
    check_writable_folder(out, "the run folder")
    if overwrite:
        checkpoint.unlink(missing_ok=True)  # the Trainer never starts over a checkpoint
        (out / PROVENANCE_FILE).unlink(missing_ok=True)
    return None


def main(experiment: Experiment, argv: list[str] | None = None) -> int:
    """Run ``experiment`` with the command line ``argv``; returns the exit status (see the module doc).

    0: trained; 1: failed (one line on stderr); 2: a wrong option; 3: the loss became NaN/inf;
    130: interrupted (Ctrl-C or SIGTERM).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(f"python experiments/{experiment.script}.py", lambda rest: _run(experiment, rest, argv), argv)


def _run(experiment: Experiment, argv: list[str], command_line: list[str]) -> int:
    """The training command itself (``main`` adds the error contract and the signal handlers)."""
    settings, resuming = resolve_settings(experiment, argv)
    if settings.device == "gpu":  # before reading any data: fail at once, naming the fix
        try:
            backend._require_cupy()
        except RuntimeError as error:
            raise UsageError(f"--device gpu: {error}") from None
    out = Path(settings.out)
    resumed_from_epoch = check_run_folder(out, resuming, bool(getattr(settings, "overwrite", False)))
    try:
        data = prepare_data(settings)
    except KeyboardInterrupt:
        print(f"\ninterrupted before training started; nothing was written to {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"data: {data.source} cache {data.cache_dir}; train {len(data.train):,}  val {len(data.val):,}  "
          f"test {len(data.test):,}; age bins {', '.join(data.age_class_names)}")
    tasks = build_tasks(experiment, settings, data)
    model = initialise(experiment.build_model(settings, tasks), settings)
    weighting = experiment.build_weighting(settings, tasks)
    train, val, test = make_loaders(data, settings)
    steps = min(len(train), settings.steps_per_epoch or len(train))
    config = TrainConfig(
        epochs=settings.epochs, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
        schedule=settings.schedule, decay_rate=settings.decay_rate, decay_steps=settings.decay_steps,
        warmup_steps=int(round(settings.warmup_epochs * steps)), min_lr_factor=settings.min_lr_factor,
        weighting_lr=getattr(settings, "weighting_lr", None), seed=settings.seed, device=settings.device,
        threads=getattr(settings, "threads", None) or 1, max_steps_per_epoch=settings.steps_per_epoch,
        patience=getattr(settings, "patience", None),
    )
    record = {k: v for k, v in vars(settings).items() if k not in ("overwrite", "debug")}
    record["command"] = " ".join([sys.argv[0].rsplit("/", 1)[-1]] + command_line)
    write_json(record, out / "settings.json")
    append_provenance(out, resumed_from_epoch)
    title = f"{experiment.script} ({settings.preset})"
    print(f"{title}: {model.num_parameters():,} parameters, {steps} steps/epoch, run folder {out}")
    diagnostics = None
    if getattr(settings, "diagnostics_epochs", None):
        diagnostics = DiagnosticsRecorder(model, tasks, val, out, settings.diagnostics_epochs, settings.device)
        if not resuming:
            diagnostics.measure(0)

    val_majority = majority_val_accuracy(train, val, tasks) if experiment.majority_hint else None

    def on_epoch_end(row: dict[str, Any]) -> None:
        print(_epoch_line(row, tasks, settings.epochs), flush=True)
        if val_majority is not None and int(row["epoch"]) == MAJORITY_NOTE_EPOCH:
            note = majority_note(row, tasks, val_majority, MAJORITY_MARGIN)
            if note:
                print(f"{note}: {experiment.majority_hint(settings)}", flush=True)
        if diagnostics is not None:
            diagnostics.measure(int(row["epoch"]))

    trainer = Trainer(model, tasks, config, out, weighting, title=title, progress=not settings.no_progress,
                      on_epoch_end=on_epoch_end)
    try:
        results = trainer.fit(train, val, test, resume=resuming)
    except NonFiniteLossError as error:
        print(f"training stopped: {error}", *getattr(error, "__notes__", []), sep="\n", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if trainer.epoch == 0 and not trainer.checkpoint_path.exists():
            print(f"\ninterrupted in epoch 1, before the first checkpoint: nothing to resume; start again with "
                  f"--out {out} --overwrite", file=sys.stderr)
        else:
            print(f"\ninterrupted after epoch {trainer.epoch}; continue with --resume {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    for which in ("final", "best"):
        if which in results:
            line = ", ".join(f"{t.name} acc {results[which][t.name]['accuracy']:.4f} "
                             f"macro recall {results[which][t.name]['macro_recall']:.4f}" for t in tasks)
            print(f"test, {which} model (epoch {results[which]['epoch']}): {line}")
    print("majority class: " + ", ".join(f"{t.name} {results['baseline'][t.name]['class']} "
                                         f"acc {results['baseline'][t.name]['test_accuracy']:.4f}" for t in tasks))
    final = results.get("best") or results.get("final")
    if experiment.majority_hint and final and all(
            final[t.name]["accuracy"] <= results["baseline"][t.name]["test_accuracy"] + MAJORITY_MARGIN for t in tasks):
        print(f"no better than the majority class: {experiment.majority_hint(settings)}")
    print(f"results: {out / 'results.json'}")
    return 0
