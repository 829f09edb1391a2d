"""Detect-then-classify (experiments/detect_and_classify.py): preprocessing identical to training,
the chip framing refitted on UTKFace, images, videos, --every, and clear errors on bad input.

The network is a MultiTaskNet with seeded random weights saved like a run folder (settings.json +
best.npz): the tests check the plumbing, not the accuracy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn
import vj
from facestack import classify as dc
from facestack.framing import SHIPPED_CASCADE_FRAMING, FaceFraming, measure_framing
from facestack.pipeline import face_batch, load_classifier, match_boxes
from facestack.data import BatchLoader, PreprocessSettings, load_face_image
from facestack.models import MultiTaskNet
from minicnn.train.checkpoint import save_checkpoint

SETTINGS = {"script": "multitask", "variant": "paper", "width": 1, "dropout": 0.5, "bins": "paper",
            "stretch": False, "preset": "best", "out": "runs/test"}
FACE_PHOTO = "pic03572.jpg"  # 325 x 216, three faces the shipped cascade finds at 1.2 / 5 / 60


def write_run(folder: Path, settings: dict | None = None, weights: str = "best.npz", width: int = 1) -> Path:
    """A run folder holding a random MultiTaskNet."""
    folder.mkdir(parents=True, exist_ok=True)
    minicnn.manual_seed(0)
    model = MultiTaskNet("paper", age_classes=4, dropout=0.5, width=width)
    if weights == "checkpoint.npz":
        save_checkpoint(folder / weights, {"model": model.state_dict()}, {"epoch": 1})
    else:
        minicnn.save(model, folder / weights)
    (folder / "settings.json").write_text(json.dumps({**SETTINGS, **(settings or {})}))
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def webfaces(shared_data) -> Path:
    folder = shared_data / "webfaces"
    if not (folder / "images" / FACE_PHOTO).is_file():
        pytest.skip(f"WebFaces not found in {shared_data}")
    return folder


@pytest.mark.parametrize("stretch", [False, True])
def test_face_batch_is_the_training_input(tmp_path, stretch):
    """A crop covering a whole image gives bit for bit the loader's batch of that image's cache entry."""
    rgb = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    rgb[:, :40] //= 3  # a dark band, so the stretch has work to do
    Image.fromarray(rgb).save(tmp_path / "chip.png")
    settings = PreprocessSettings(size=128, color="gray", stretch=stretch)
    cached = load_face_image(tmp_path / "chip.png", settings)[None]
    expected, _ = BatchLoader(cached, shuffle=False, prefetch=0, scale="unit").make_batch(np.array([0]))
    gray = np.asarray(Image.open(tmp_path / "chip.png").convert("L"))
    got = face_batch(gray, np.array([[0, 0, 200, 200]]), settings)
    assert got.dtype == np.float32 and got.shape == (1, 1, 128, 128)
    np.testing.assert_array_equal(got, expected)


def test_crop_geometry_and_box_matching():
    framing = FaceFraming(scale=1.25, dx=0.1, dy=-0.1)
    np.testing.assert_array_equal(framing.crop_boxes(np.array([[100, 100, 80, 80]])), [[98, 82, 100, 100]])
    previous = np.array([[0, 0, 50, 50], [200, 200, 60, 60]])
    boxes = np.array([[205, 198, 60, 60], [400, 0, 50, 50], [3, 2, 50, 50]])
    np.testing.assert_array_equal(match_boxes(boxes, previous), [1, -1, 0])


def test_framing_matches_a_refit_on_100_utkface_chips(shared_data):
    if not (shared_data / "utkface").is_dir():
        pytest.skip("UTKFace not found")
    fitted = measure_framing(shared_data / "utkface", n=100)
    assert fitted.chips_used >= 85
    # the medians' standard errors on 100 chips are about 0.01 (scale) and 0.003 (offsets)
    assert fitted.scale == pytest.approx(SHIPPED_CASCADE_FRAMING.scale, rel=0.03)
    assert fitted.dx == pytest.approx(SHIPPED_CASCADE_FRAMING.dx, abs=0.01)
    assert fitted.dy == pytest.approx(SHIPPED_CASCADE_FRAMING.dy, abs=0.01)


def test_photo_with_several_faces(webfaces, run_dir, tmp_path, capsys):
    photo = webfaces / "images" / FACE_PHOTO
    out = tmp_path / "labelled.png"
    assert dc.main([str(photo), "--model", str(run_dir), "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    gray = np.asarray(Image.open(photo).convert("L"))
    boxes, _ = vj.detect_multi_scale(gray, vj.load_cascade(None), 1.2, 5)  # an image: down to the 20 px window
    assert len(boxes) >= 2
    assert [f["box"] for f in record["faces"]] == boxes.tolist()
    assert record["detector"] == {"scale_factor": 1.2, "min_neighbors": 5, "min_size": None}
    ages = load_classifier(run_dir).age_names
    for face in record["faces"]:
        assert face["gender"] in ("male", "female") and 0.5 <= face["gender_prob"] <= 1
        assert face["age_bin"] in ages and 1 / len(ages) <= face["age_prob"] <= 1
        assert face["label"] == f"{face['gender'][0].upper()} {face['age_bin']}"
        x, y, w, h = face["box"]
        cx, cy, cw, ch = face["crop"]
        assert cw == round(SHIPPED_CASCADE_FRAMING.scale * w) and abs((cx + cw / 2) - (x + w / 2)) < 0.05 * w
    drawn = np.asarray(Image.open(out))
    assert drawn.shape == (*gray.shape, 3) and not np.array_equal(drawn, np.asarray(Image.open(photo).convert("RGB")))
    assert "frames/s for detection + classification" in capsys.readouterr().out


def test_min_size_applies_to_an_image_when_given(webfaces, run_dir, tmp_path):
    """``--min-size 60`` (the video default) on an image gives the detector's boxes of 60 px or more."""
    photo = webfaces / "images" / FACE_PHOTO
    out = tmp_path / "labelled.png"
    assert dc.main([str(photo), "--model", str(run_dir), "--out", str(out), "--min-size", "60"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    gray = np.asarray(Image.open(photo).convert("L"))
    boxes, _ = vj.detect_multi_scale(gray, vj.load_cascade(None), 1.2, 5, 60)
    assert [f["box"] for f in record["faces"]] == boxes.tolist() and record["detector"]["min_size"] == 60


def test_videos_and_cameras_default_to_the_real_time_min_size():
    """Without ``--min-size`` an image is searched to the cascade's window, a video or camera from 60 px."""
    from facestack.analysis import VIDEO_MIN_SIZE

    args = dc.build_parser().parse_args(["x.jpg"])
    assert dc.detector_settings(args, "photo.JPG")["min_size"] is None
    assert dc.detector_settings(args, "clip.mp4")["min_size"] == VIDEO_MIN_SIZE == 60
    assert dc.detector_settings(args, "/dev/video0")["min_size"] == VIDEO_MIN_SIZE
    args = dc.build_parser().parse_args(["x.jpg", "--min-size", "40"])
    assert dc.detector_settings(args, "clip.mp4")["min_size"] == 40 == dc.detector_settings(args, "a.png")["min_size"]


def write_clip(path: Path, frames: int) -> None:
    """A 640 x 480 clip of the astronaut photo (a face the shipped cascade finds) moving right 8 px a frame."""
    import av

    skimage_data = pytest.importorskip("skimage.data")
    astronaut = skimage_data.astronaut()[:480]
    with av.open(str(path), "w") as sink:
        stream = dc.open_video_writer(sink, 25, 640, 480)
        for k in range(frames):
            canvas = np.full((480, 640, 3), 90, np.uint8)
            canvas[:, 40 + 8 * k: 552 + 8 * k] = astronaut
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)


def read_frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as source:
        return sum(1 for _ in source.decode(source.streams.video[0]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    pytest.importorskip("av")
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, 6)
    return path


def test_video_every_frame(clip, run_dir, tmp_path):
    out = tmp_path / "clip_labelled.mp4"
    assert dc.main([str(clip), "--model", str(run_dir), "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [f["frame"] for f in record["frames"]] == list(range(6)) and read_frame_count(out) == 6
    assert all(f["classified"] and len(f["faces"]) == 1 for f in record["frames"])
    assert all(face["from_frame"] == f["frame"] for f in record["frames"] for face in f["faces"])
    timing = record["timing"]
    assert timing["classified_frames"] == 6 and timing["fps_pipeline"] > 0
    assert sum(timing["share"].values()) == pytest.approx(1.0)


def test_video_every_third_frame_reuses_labels(clip, run_dir, tmp_path):
    out = tmp_path / "labelled"
    assert dc.main([str(clip), "--model", str(run_dir), "--out", str(out), "--every", "3", "--max-frames", "5"]) == 0
    record = json.loads((out / "clip_classified.json").read_text())
    frames = record["frames"]
    assert [f["classified"] for f in frames] == [True, False, False, True, False]
    assert record["timing"]["classified_frames"] == 2 and (out / "clip_classified.mp4").is_file()
    for f in frames:
        source = frames[f["frame"] // 3 * 3]["faces"][0]
        face = f["faces"][0]
        assert face["from_frame"] == source["from_frame"] == f["frame"] // 3 * 3
        assert (face["label"], face["gender_prob"], face["age_prob"]) == (source["label"], source["gender_prob"],
                                                                         source["age_prob"])


def test_weights_from_a_checkpoint_and_a_misfit(tmp_path):
    assert load_classifier(write_run(tmp_path / "training", weights="checkpoint.npz")).weights.name == "checkpoint.npz"
    with pytest.raises(ValueError, match="does not fit"):
        load_classifier(write_run(tmp_path / "wide", {"width": 1}, width=2))
    with pytest.raises(ValueError, match="needs a multitask run"):
        load_classifier(write_run(tmp_path / "gender", {"script": "gender_cnn"}))
    (write_run(tmp_path / "broken") / "best.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="cannot read the weights"):
        load_classifier(tmp_path / "broken")


@pytest.mark.parametrize("case, status, message", [
    ("missing model", 2, "model folder not found"),
    ("no weights", 2, "no weights in"),
    ("unknown suffix", 2, "unknown input type '.txt'"),
    ("unreadable image", 1, "cannot read image"),
    ("missing image", 1, "no such image"),
    ("output suffix", 2, "the input is an image"),
    ("missing camera", 1, "cannot open video /dev/"),
    ("corrupt video", 1, "cannot open video"),
])
def test_bad_input_gives_a_clear_error(run_dir, tmp_path, capsys, case, status, message):
    image = tmp_path / "photo.png"
    Image.new("RGB", (80, 60)).save(image)
    model, inputs, out = str(run_dir), [str(image)], str(tmp_path / "out")
    if case == "missing model":
        model = str(tmp_path / "no-such-run")
    elif case == "no weights":
        model = str(tmp_path / "empty")
        Path(model).mkdir()
        Path(model, "settings.json").write_text(json.dumps(SETTINGS))
    elif case == "unknown suffix":
        inputs = [str(tmp_path / "notes.txt")]
    elif case == "unreadable image":
        image.write_bytes(b"not a png")
    elif case == "missing image":
        inputs = [str(tmp_path / "absent.jpg")]
    elif case == "output suffix":
        out = str(tmp_path / "out.mp4")
    elif case == "missing camera":
        pytest.importorskip("av", reason="videos need PyAV (extra 'video'); without it the error names that")
        inputs = ["/dev/no-such-camera"]
    elif case == "corrupt video":
        pytest.importorskip("av", reason="videos need PyAV (extra 'video'); without it the error names that")
        inputs = [str(tmp_path / "broken.mp4")]
        Path(inputs[0]).write_bytes(b"\x00" * 64)
    assert dc.main([*inputs, "--model", model, "--out", out]) == status
    assert message in capsys.readouterr().err


def test_demo_video_from_webfaces(webfaces, tmp_path):
    pytest.importorskip("av", reason="writing a video needs PyAV (extra 'video')")
    from facestack.demo_video import write_demo_video

    names = write_demo_video(tmp_path / "demo.mp4", webfaces, frames=4, size=(320, 240), photos=2)
    assert len(names) == 2 and read_frame_count(tmp_path / "demo.mp4") == 4


def test_console_script_is_registered():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    project = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["facestack"] == "facestack.cli:main"
    assert project["project"]["scripts"]["facestack-classify"] == "facestack.classify:main"
    # the distribution installs only its three packages (no generic top-level "experiments")
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["minicnn*", "vj*", "facestack*"]


def test_demo_photo_has_two_faces_the_detector_finds(tmp_path):
    """The public-domain demo photo of the docs: two portraits, both found at the real-time settings."""
    import vj
    from facestack import demo_photo as make_demo_photo

    out = tmp_path / "two.png"
    assert make_demo_photo.main([str(out)]) == 0
    gray = np.asarray(Image.open(out).convert("L"))
    boxes, _ = vj.detect_multi_scale(gray, vj.prepare_cascade(vj.load_cascade(None)), scale_factor=1.2,
                                     min_neighbors=5, min_size=60)
    lefts = sorted(int(box[0]) for box in boxes)
    assert len(lefts) == 2 and lefts[0] < gray.shape[1] / 2 < lefts[1]


def test_video_without_pyav_names_the_extra(run_dir, tmp_path, capsys, monkeypatch):
    """Where PyAV is missing, a video input fails with the install hint (CI installs no video extra)."""
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 64)
    assert dc.main([str(clip), "--model", str(run_dir), "--out", str(tmp_path / "out.mp4")]) == 1
    assert "videos need PyAV: pip install 'facestack[video]'" in capsys.readouterr().err
