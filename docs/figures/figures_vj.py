"""The figures of the vj tutorials, each computed by the code it explains.

Every function takes the output folder, writes one PNG named after the function
(without ``figure_``) and returns its path. The photo is scikit-image's astronaut
(``skimage.data.astronaut()``), the cascade OpenCV's ``haarcascade_frontalface_default.xml``
(shipped with ``opencv-python-headless``, read by ``vj.load_cascade``; OpenCV itself
runs nothing here) or the one vj ships (``vj.load_cascade(None)``). The AdaBoost
figure lives in ``figures_vj_train.py`` and is registered here.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import vj  # noqa: E402
from vj.cascade import HaarFeature  # noqa: E402
from vj.features import draw_feature, feature_value  # noqa: E402
from vj.grouping import group_rectangles  # noqa: E402
from vj.image import resize_bilinear, to_gray_uint8  # noqa: E402
from vj.integral import integral_image, rect_sum, squared_integral_image  # noqa: E402
from vj.stats import stage_depths, stage_pass_counts  # noqa: E402

from figures_minicnn import number_grid, save  # noqa: E402
from figures_vj_train import figure_adaboost_rounds  # noqa: E402

#: Optional packages each figure needs (the test skips a figure whose packages are missing).
REQUIRES = {
    "haar_first_features": ("cv2", "skimage"),
    "haar_first_features_vj": ("skimage",),
    "adaboost_rounds": ("skimage",),
    "cascade_rejection": ("cv2", "skimage"),
    "detection_grouping": ("cv2", "skimage"),
}
SCALE_FACTOR = 1.1
PHOTO_DPI = 72  # figures with photos: keeps each PNG under 200 KB


@lru_cache(maxsize=None)
def opencv_cascade(name: str = "haarcascade_frontalface_default.xml") -> vj.Cascade:
    """One of the cascades shipped with opencv-python, read by vj."""
    import cv2

    return vj.load_cascade(Path(cv2.data.haarcascades) / name)


@lru_cache(maxsize=None)
def astronaut_gray() -> np.ndarray:
    """scikit-image's astronaut photo, (512, 512) uint8 grey (read-only: shared between figures)."""
    from skimage import data

    gray = to_gray_uint8(data.astronaut())
    gray.flags.writeable = False
    return gray


# ----------------------------------------------------------------------- integral image
def figure_integral_image(out_dir: Path) -> Path:
    """A small image, its integral image, and a rectangle sum read from four corners."""
    image = np.random.default_rng(1).integers(0, 10, size=(5, 6))
    sums = integral_image(image)
    x, y, w, h = 1, 1, 3, 2
    total = rect_sum(sums, x, y, w, h)
    assert total == image[y : y + h, x : x + w].sum()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [6, 7]})
    colours = np.ones(image.shape + (4,))
    colours[y : y + h, x : x + w] = (1.0, 0.8, 0.4, 1.0)
    number_grid(axes[0], image, colours, "{:d}",
                title=f"image I (5 x 6); rectangle x={x}, y={y}, w={w}, h={h}: sum {total}")
    corners = {(y, x): "+", (y, x + w): "-", (y + h, x): "-", (y + h, x + w): "+"}
    colours = np.ones(sums.shape + (4,))
    for (r, c), sign in corners.items():
        colours[r, c] = (0.55, 0.8, 0.55, 1.0) if sign == "+" else (0.95, 0.55, 0.55, 1.0)
    number_grid(axes[1], sums, colours, "{:d}", title="integral S (6 x 7): S[Y, X] = sum of I[y < Y, x < X]\n"
                f"sum = S[{y},{x}] - S[{y},{x + w}] - S[{y + h},{x}] + S[{y + h},{x + w}] = "
                f"{sums[y, x]} - {sums[y, x + w]} - {sums[y + h, x]} + {sums[y + h, x + w]} = {total}")
    for ax, shape in zip(axes, (image.shape, sums.shape)):
        ax.set_xticks(np.arange(shape[1]) + 0.5)
        ax.set_xticklabels(range(shape[1]), fontsize=7)
        ax.set_yticks(np.arange(shape[0]) + 0.5)
        ax.set_yticklabels(range(shape[0]), fontsize=7)
        ax.tick_params(labelbottom=True, labelleft=True)
    fig.suptitle("Any rectangle sum costs four look-ups (vj/integral.py: integral_image, rect_sum)", fontsize=10)
    fig.subplots_adjust(top=0.8)
    return save(fig, out_dir / "integral_image.png")


# ------------------------------------------------------------------------ Haar features
#: Viola and Jones' five feature types in a 24x24 window: (their form with disjoint
#: rectangles, the same feature as OpenCV writes it: the whole area with weight -1, then
#: the other part with a weight that makes the total a difference of equal areas).
FIVE_TYPES = {
    "two-rectangle, horizontal\nright - left": (
        [[4, 6, 8, 12, -1], [12, 6, 8, 12, 1]],
        [[4, 6, 16, 12, -1], [12, 6, 8, 12, 2]]),
    "two-rectangle, vertical\nbottom - top": (
        [[6, 4, 12, 8, -1], [6, 12, 12, 8, 1]],
        [[6, 4, 12, 16, -1], [6, 12, 12, 8, 2]]),
    "three-rectangle, horizontal\n2 x middle - sides": (
        [[3, 6, 6, 12, -1], [9, 6, 6, 12, 2], [15, 6, 6, 12, -1]],
        [[3, 6, 18, 12, -1], [9, 6, 6, 12, 3]]),
    "three-rectangle, vertical\n2 x middle - ends": (
        [[6, 3, 12, 6, -1], [6, 9, 12, 6, 2], [6, 15, 12, 6, -1]],
        [[6, 3, 12, 18, -1], [6, 9, 12, 6, 3]]),
    "four-rectangle\ndiagonal - anti-diagonal": (
        [[4, 4, 8, 8, 1], [12, 4, 8, 8, -1], [4, 12, 8, 8, -1], [12, 12, 8, 8, 1]],
        [[4, 4, 16, 16, -1], [4, 4, 8, 8, 2], [12, 12, 8, 8, 2]]),
}


def figure_haar_types(out_dir: Path) -> Path:
    """The five Viola-Jones feature types, drawn by vj.features.draw_feature."""
    probe = integral_image(np.random.default_rng(0).integers(0, 256, size=(24, 24)))
    fig, axes = plt.subplots(1, 5, figsize=(13, 3.2))
    for ax, (name, (viola_jones, opencv)) in zip(axes, FIVE_TYPES.items()):
        feature = HaarFeature(np.array(viola_jones, dtype=np.float64))
        same = HaarFeature(np.array(opencv, dtype=np.float64))
        assert feature_value(feature, probe, None, 0, 0) == feature_value(same, probe, None, 0, 0)
        draw_feature(feature, (24, 24), ax=ax, title=name)
        ax.title.set_fontsize(9)
    fig.suptitle("The five Haar feature types in a 24 x 24 window: weighted rectangle sums "
                 "(white +, black -, weights in red)", fontsize=10)
    fig.subplots_adjust(top=0.78)
    return save(fig, out_dir / "haar_types.png")


def normalised_value(feature: HaarFeature, window: np.ndarray) -> float:
    """A feature's value on a window of the cascade's size, as OpenCV's nodes compare it
    with their thresholds.

    The raw weighted sum divided by the standard deviation of the window's inner
    rectangle (one pixel in from each side) times its area (see ``vj.evaluate``).
    """
    sums, squares = integral_image(window), squared_integral_image(window)
    inner = (1, 1, window.shape[1] - 2, window.shape[0] - 2)
    area = inner[2] * inner[3]
    s, q = float(rect_sum(sums, *inner)), float(rect_sum(squares, *inner))
    return feature_value(feature, sums, None, 0, 0) / np.sqrt(area * q - s * s)


def first_stage_on_face(cascade: vj.Cascade, name: str, path: Path) -> Path:
    """Draw every weak classifier of ``cascade``'s first stage on the astronaut's face as
    ``cascade`` finds it (its largest box), with each node's value, threshold and leaf."""
    gray = astronaut_gray()
    boxes, _ = vj.detect_multi_scale(gray, cascade, SCALE_FACTOR, 3)
    x, y, w, h = boxes[np.argmax(boxes[:, 2])]
    window_w, window_h = cascade.window_size
    crop = gray[y : y + h, x : x + w]
    window = resize_bilinear(crop, window_w, window_h)
    stage = cascade.stages[0]
    count = len(stage.weak_classifiers)
    cols = 5
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows))
    total = 0.0
    for k, ax in enumerate(axes.ravel()):
        if k >= count:
            ax.axis("off")
            continue
        weak = stage.weak_classifiers[k]
        index, threshold = int(weak.nodes[0, 2]), weak.nodes[0, 3]
        value = normalised_value(cascade.features[index], window)
        leaf = weak.leaves[0] if value < threshold else weak.leaves[1]
        total += leaf
        draw_feature(cascade.features[index], cascade.window_size, ax=ax, window_image=crop)
        ax.set_title(f"weak {k}: feature {index}\n{value:+.3f} {'<' if value < threshold else '>='} "
                     f"{threshold:+.3f} -> {leaf:+.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
    verdict = "passes" if total >= stage.threshold else "fails"
    fig.suptitle(f"Stage 0 of {name} on the face vj finds in the astronaut photo "
                 f"(box {w} x {h} px, resized to {window_w} x {window_h}):\n"
                 f"normalised feature value vs node threshold -> leaf; "
                 f"leaf sum {total:+.3f} vs stage threshold {stage.threshold:+.3f}: the window {verdict}",
                 fontsize=10)
    fig.tight_layout(h_pad=1.5)
    return save(fig, path, dpi=PHOTO_DPI)


def figure_haar_first_features(out_dir: Path) -> Path:
    """The weak classifiers of the first stage of OpenCV's frontal-face cascade, on the astronaut's face."""
    return first_stage_on_face(opencv_cascade(), "haarcascade_frontalface_default.xml",
                               out_dir / "haar_first_features.png")


def figure_haar_first_features_vj(out_dir: Path) -> Path:
    """The same for the cascade vj ships (``vj/data/haarcascades/frontalface_vj.xml``, trained by ``vj train``)."""
    return first_stage_on_face(vj.load_cascade(None), "vj's frontalface_vj.xml", out_dir / "haar_first_features_vj.png")


# ------------------------------------------------------------------------------ cascade
def figure_cascade_rejection(out_dir: Path) -> Path:
    """Windows reaching each stage on a real photo, and where they stop at one scale."""
    cascade = opencv_cascade()
    gray = astronaut_gray()
    counts = stage_pass_counts(gray, cascade, SCALE_FACTOR)
    levels = stage_depths(gray, cascade, SCALE_FACTOR)
    boxes, _ = vj.detect_multi_scale(gray, cascade, SCALE_FACTOR, 3)
    face_scale = boxes[:, 2].max() / cascade.window_size[0]
    level = min(levels, key=lambda lv: abs(lv.scale - face_scale))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    ax = axes[0]
    ax.imshow(gray, cmap="gray")
    pitch = level.step * level.scale
    half = cascade.window_size[0] * level.scale / 2
    rows, cols = level.depth.shape
    depth = np.ma.masked_less(level.depth.astype(float), 0)
    image = ax.imshow(depth, cmap="plasma", alpha=0.65, vmin=0, vmax=cascade.num_stages, interpolation="nearest",
                      extent=(half - pitch / 2, half + (cols - 0.5) * pitch, half + (rows - 0.5) * pitch,
                              half - pitch / 2))
    ax.set_xlim(0, gray.shape[1])
    ax.set_ylim(gray.shape[0], 0)
    fig.colorbar(image, ax=ax, fraction=0.046, label="stage that rejected the window (max: accepted)")
    ax.set_title(f"one pyramid level (windows {round(cascade.window_size[0] * level.scale)} px), coloured at "
                 f"each window's centre;\nuncoloured: skipped or low contrast", fontsize=9)
    ax.axis("off")
    ax = axes[1]
    stages = np.arange(cascade.num_stages + 1)
    ax.bar(stages, counts.reached, color=["tab:blue"] * cascade.num_stages + ["tab:green"])
    ax.set_yscale("log")
    ticks = sorted(set(range(0, cascade.num_stages, 5)) | {cascade.num_stages})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(s) if s < cascade.num_stages else f"{s}:\npassed all" for s in ticks], fontsize=8)
    ax.set(xlabel="stage s", ylabel="windows evaluated by stage s",
           title=f"all {len(levels)} pyramid levels, scale factor {SCALE_FACTOR}")
    text = (f"window positions: {counts.windows:,}\n"
            f"skipped (neighbour failed stage 0): {counts.skipped:,}\n"
            f"rejected before stage 0 (low contrast): {counts.low_contrast:,}\n"
            f"rejected by stage 0: {counts.rejected[0]:,}; by stages 0-2: {counts.rejected[:3].sum():,}\n"
            f"passed all {cascade.num_stages} stages: {counts.accepted}\n"
            f"weak classifiers evaluated per window: {counts.mean_weak_per_window:.1f}\n"
            f"   of the {cascade.num_weak:,} the cascade holds")
    ax.text(0.97, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=8,
            bbox=dict(facecolor="white", edgecolor="0.7"))
    fig.suptitle("haarcascade_frontalface_default.xml on the astronaut photo, measured with vj.stats", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir / "cascade_rejection.png", dpi=PHOTO_DPI)


# -------------------------------------------------------------------- scales, grouping
def figure_detection_grouping(out_dir: Path) -> Path:
    """Raw windows from every scale, what grouping keeps, and the work per pyramid level."""
    cascade = opencv_cascade()
    gray = astronaut_gray()
    raw, scores = vj.detect_raw(gray, cascade, SCALE_FACTOR)
    grouped, _ = group_rectangles(raw, scores, min_neighbors=3)
    levels = stage_depths(gray, cascade, SCALE_FACTOR)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    colour_of = plt.get_cmap("viridis")
    sizes = raw[:, 2]
    for ax, boxes, title in ((axes[0], raw, f"{len(raw)} raw windows (detect_raw), coloured by size"),
                             (axes[1], grouped, f"{len(grouped)} box(es) after group_rectangles, min_neighbors=3")):
        ax.imshow(gray, cmap="gray")
        for bx, by, bw, bh in boxes:
            shade = (bw - sizes.min()) / max(np.ptp(sizes), 1)
            ax.add_patch(plt.Rectangle((bx, by), bw, bh, fill=False, linewidth=1.2,
                                       edgecolor=colour_of(shade) if boxes is raw else "lime"))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ax = axes[2]
    window_px = [round(cascade.window_size[0] * lv.scale) for lv in levels]
    positions = [lv.depth.size for lv in levels]
    hits = [int((lv.depth == cascade.num_stages).sum()) for lv in levels]
    ax.semilogy(window_px, positions, "o-", label="window positions scanned")
    found = np.flatnonzero(hits)
    ax.semilogy(np.array(window_px)[found], np.array(hits)[found], "s", label="raw windows accepted (where any)")
    ax.set(xlabel="window side in image pixels (one point per pyramid level)", ylabel="count")
    ax.set_title(f"{len(levels)} levels, each {SCALE_FACTOR} x the previous; step 2 px below scale 2", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("Detection across scales, then grouping (vj/detect.py, vj/grouping.py)", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir / "detection_grouping.png", dpi=PHOTO_DPI)


FIGURES = {
    "integral_image": figure_integral_image,
    "haar_types": figure_haar_types,
    "haar_first_features": figure_haar_first_features,
    "haar_first_features_vj": figure_haar_first_features_vj,
    "adaboost_rounds": figure_adaboost_rounds,
    "cascade_rejection": figure_cascade_rejection,
    "detection_grouping": figure_detection_grouping,
}
