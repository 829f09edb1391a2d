"""The classification half of detect-then-classify: a trained multi-task run, face crops
prepared exactly as its training images were, labels carried between frames, drawing.

Training images (``facestack.train.cli.prepare_data`` -> ``facestack.data.load_face_image`` ->
``BatchLoader(scale="unit")``) went through: Pillow's "L" grey (BT.601 luma), the whole
chip resized to 128 x 128 with Pillow's bilinear filter, the min-max stretch when the
run's ``stretch`` setting was on, then ``float32(pixels) * float32(1/255)``, laid out
``(N, 1, 128, 128)``. :func:`face_batch` does the same to chip-framed crops of a frame
(:mod:`facestack.framing`); a crop reaching past the frame repeats its edge pixels.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from minicnn import Tensor, no_grad
from facestack.data import PreprocessSettings, age_bins
from facestack.data.labels import GENDER_NAMES
from facestack.data.preprocess import RESAMPLE, stretch_to_full_range
from facestack.data.validate import check_bool, check_choice, check_number, read_json_object
from facestack.models import MultiTaskNet
from minicnn.serialization import load_arrays
from minicnn.train.checkpoint import load_checkpoint
from facestack.train.cli import BINS
from vj.positives import crop_padded

#: Weight files of a run folder, in order of preference (``weights.npz``: a model folder
#: written by ``facestack export-model``, as the shipped one).
WEIGHT_FILES = ("best.npz", "model.npz", "weights.npz", "checkpoint.npz")
GENDER_COLOURS = {"male": (64, 160, 255), "female": (255, 64, 160)}
UNLABELLED_COLOUR = (255, 220, 0)


def age_bin_names(bins_setting: str) -> list[str]:
    """Short names of a run's age bins (``--bins paper`` -> ``0-30, 31-45, 46-60, 61-100``)."""
    if bins_setting not in BINS:
        raise ValueError(f"unknown age bins {bins_setting!r} in the run's settings: expected one of {sorted(BINS)}")
    return [f"{lo}+" if np.isinf(hi) else f"{lo}-{hi}" for lo, hi in age_bins(BINS[bins_setting]).intervals()]


@dataclass
class FaceClassifier:
    """A trained MultiTaskNet (eval mode) and the preprocessing of its run.

    Attributes:
        model: the network, (N, 1, H, W) float32 -> (gender logits (N, 2), age logits (N, K)).
        preprocess: the run's image settings (size, grey, stretch, resampling).
        age_names: short names of the K age bins.
        gender_names: ``("male", "female")``, index = the network's gender class.
        weights: the file the weights came from.
        settings: the run's settings.json.
    """

    model: MultiTaskNet
    preprocess: PreprocessSettings
    age_names: list[str]
    gender_names: tuple[str, ...]
    weights: Path
    settings: dict[str, Any] = field(repr=False)

    def classify(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities for a batch of prepared faces (one forward pass, no graph).

        Args:
            x: float32 ``(N, 1, H, W)`` from :func:`face_batch`.
        Returns:
            ``(gender_probs (N, 2), age_probs (N, K))``, float64.
        """
        if len(x) == 0:
            return np.zeros((0, len(self.gender_names))), np.zeros((0, len(self.age_names)))
        with no_grad():
            gender_logits, age_logits = self.model(Tensor(x))
        return softmax(gender_logits.data), softmax(age_logits.data)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 of ``(N, K)`` logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def load_classifier(run_dir: str | os.PathLike) -> FaceClassifier:
    """The multi-task network of a run folder, from its settings.json and best weights.

    Weights: ``best.npz``, else ``model.npz``, else ``weights.npz`` (a folder written by
    ``facestack export-model``; float16 storage is widened to float32), else the model part
    of ``checkpoint.npz`` (a run still training). Raises FileNotFoundError (no folder, no settings.json, no weights) or
    ValueError (not a multi-task run, or weights of another shape).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"model folder not found: {run}")
    settings_path = run / "settings.json"
    if not settings_path.is_file():
        raise FileNotFoundError(f"{run} is not a run folder: it has no settings.json")
    settings = read_json_object(settings_path)
    weights = next((run / name for name in WEIGHT_FILES if (run / name).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"no weights in {run}: expected one of {', '.join(WEIGHT_FILES)}")
    try:
        if weights.name == "checkpoint.npz":
            state = load_checkpoint(weights)[0].get("model", {})
        else:
            state = widen_float16(load_arrays(weights))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read the weights in {weights}: {error}") from None
    return classifier_from_state(state, settings, weights)


def widen_float16(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays of a network state with float16 storage (an exported model) as float32."""
    return {name: value.astype(np.float32) if value.dtype == np.float16 else value for name, value in state.items()}


def classifier_from_state(state: dict[str, Any], settings: dict[str, Any], weights: Path) -> FaceClassifier:
    """A FaceClassifier from a network state and the run settings that describe the network.

    Every setting that shapes the network is checked (type and range) before the network is
    allocated, so an absurd ``width`` fails at once instead of allocating gigabytes.
    Raises ValueError when the settings are not of a multi-task run or the state does not fit them.
    """
    if settings.get("script", "multitask") != "multitask":
        raise ValueError(f"{weights.parent} holds a {settings['script']!r} run; detect-then-classify needs a "
                         "multitask run")
    source = str(weights.parent / "settings.json")
    age_names = age_bin_names(settings.get("bins", "paper"))
    width = settings.get("width") or 1
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 8:
        raise ValueError(f"{weights.parent}: width must be an integer in 1..8, got {width!r}")
    check_choice(settings.get("variant", "paper"), "variant", ("paper", "authors-code"), source)
    check_number(settings.get("dropout"), "dropout", minimum=0.0, below=1.0, optional=True, source=source)
    check_bool(settings.get("stretch", False), "stretch", source=source)
    for name, value in state.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            raise ValueError(f"{weights}: {name!r} is not a numeric array")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{weights}: {name!r} holds NaN or infinite values")
    model = MultiTaskNet(variant=settings.get("variant", "paper"), age_classes=len(age_names),
                         dropout=settings.get("dropout"), width=width)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as error:
        raise ValueError(f"{weights} does not fit the network its settings describe: {error}") from None
    model.eval()
    # as facestack.train.cli.prepare_data builds the training cache
    preprocess = PreprocessSettings(size=128, color="gray", stretch=bool(settings.get("stretch", False)))
    gender_names = tuple(GENDER_NAMES[k] for k in sorted(GENDER_NAMES))
    return FaceClassifier(model, preprocess, age_names, gender_names, weights, settings)


def face_batch(gray: np.ndarray, crops: np.ndarray, preprocess: PreprocessSettings) -> np.ndarray:
    """The network's input for crops of one grey frame, prepared as the training images were.

    Args:
        gray: ``(H, W)`` uint8, Pillow's "L" of the frame.
        crops: ``(N, 4)`` int ``x, y, w, h`` (may reach outside the frame: edge pixels repeat).
        preprocess: size, stretch and resampling of the run.
    Returns:
        float32 ``(N, 1, height, width)`` in [0, 1].
    """
    out_h, out_w = preprocess.size
    batch = np.empty((len(crops), 1, out_h, out_w), dtype=np.uint8)
    for i, crop in enumerate(np.asarray(crops).reshape(-1, 4)):
        pixels = Image.fromarray(np.ascontiguousarray(crop_padded(gray, crop)))
        face = np.asarray(pixels.resize((out_w, out_h), RESAMPLE[preprocess.resample]), dtype=np.uint8)
        batch[i, 0] = stretch_to_full_range(face) if preprocess.stretch else face
    x = batch.astype(np.float32)
    x *= np.float32(1.0 / 255.0)  # BatchLoader's scale="unit"
    return x


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of ``x, y, w, h`` boxes: ``(N, 4), (M, 4) -> (N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_boxes(boxes: np.ndarray, previous: np.ndarray, min_iou: float = 0.3) -> np.ndarray:
    """For each box, the index of the previous box it continues (greedy by IoU), or -1.

    Args:
        boxes: ``(N, 4)`` this frame's boxes; previous: ``(M, 4)`` the last frame's.
        min_iou: pairs overlapping less are never matched.
    Returns:
        ``(N,)`` int64 indices into ``previous``; each previous box is used at most once.
    """
    match = np.full(len(boxes), -1, dtype=np.int64)
    if len(boxes) == 0 or len(previous) == 0:
        return match
    iou = iou_matrix(boxes, previous)
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if match[i] < 0 and j not in match:
            match[i] = j
    return match


def face_records(classifier: FaceClassifier, boxes: np.ndarray, scores: np.ndarray, crops: np.ndarray,
                 gender_probs: np.ndarray, age_probs: np.ndarray) -> list[dict[str, Any]]:
    """JSON-ready records of classified faces: box, crop, detection score, labels and probabilities."""
    records = []
    for k in range(len(boxes)):
        g, a = int(np.argmax(gender_probs[k])), int(np.argmax(age_probs[k]))
        gender, age = classifier.gender_names[g], classifier.age_names[a]
        records.append({"box": [int(v) for v in boxes[k]], "detection_score": float(scores[k]),
                        "crop": [int(v) for v in crops[k]], "gender": gender,
                        "gender_prob": round(float(gender_probs[k, g]), 4), "age_bin": age,
                        "age_prob": round(float(age_probs[k, a]), 4), "label": f"{gender[0].upper()} {age}"})
    return records


@lru_cache(maxsize=16)
def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (kept: video frames reuse a few sizes)."""
    return ImageFont.load_default(size=size)


def draw_faces(image: Image.Image, faces: list[dict[str, Any]]) -> Image.Image:
    """An RGB copy of ``image`` with each face's box and, above it, its label (``F 31-45``) over
    its gender and age-bin probabilities; faces without a ``label`` get a plain yellow box."""
    canvas = image.convert("RGB")
    pen = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    for face in faces:
        x, y, w, h = face["box"]
        colour = GENDER_COLOURS.get(face.get("gender"), UNLABELLED_COLOUR)
        pen.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=line)
        if face.get("label") is None:
            continue
        text = f"{face['label']}\n{face['gender_prob']:.2f} {face['age_prob']:.2f}"
        font = label_font(int(np.clip(w / 5.5, 10, 40)))  # the text about as wide as the box
        left, top, right, bottom = pen.multiline_textbbox((0, 0), text, font=font, spacing=line)
        tag_w, tag_h = right - left + 2 * line, bottom - top + 2 * line
        tag_y = y - tag_h if y - tag_h >= 0 else y + h  # above the box, else below it
        pen.rectangle([x, tag_y, x + tag_w, tag_y + tag_h], fill=colour)
        pen.multiline_text((x + line - left, tag_y + line - top), text, fill=(0, 0, 0), font=font, spacing=line)
    return canvas
