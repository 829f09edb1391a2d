"""LBP cascades: reading (also scikit-image's misspelt copy), writing, the feature, and the packed-form cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vj
from vj.detect import cached_prepared, detect_raw
from vj.integral import integral_image
from vj.lbp import lbp_code

cv2 = pytest.importorskip("cv2")

LBP_FACE = vj.data.lbpcascades + "lbpcascade_frontalface.xml"


@pytest.fixture(scope="module")
def cascade() -> vj.LbpCascade:
    return vj.load_cascade(LBP_FACE)


@pytest.fixture(scope="module")
def astronaut_gray() -> np.ndarray:
    import skimage.data

    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)


def test_shipped_lbp_cascade(cascade):
    assert isinstance(cascade, vj.LbpCascade)
    assert cascade.window_size == (24, 24) and cascade.num_stages == 20 and cascade.features.shape == (136, 4)
    assert all(w.nodes.shape == (1, 3) and w.subsets.shape == (1, 8) for s in cascade.stages
               for w in s.weak_classifiers)
    assert not cv2.CascadeClassifier(LBP_FACE).empty()


def test_scikit_image_copy_with_misspelt_tag_reads_the_same(cascade):
    import skimage

    path = Path(skimage.__file__).parent / "data" / "lbpcascade_frontalface_opencv.xml"
    if not path.is_file():
        pytest.skip("scikit-image's LBP cascade is not installed")
    assert "featuhreParams" in path.read_text()
    assert cv2.CascadeClassifier(str(path)).empty()  # OpenCV refuses it
    theirs = vj.load_cascade(path)
    assert theirs == cascade


def test_save_and_reload_is_identical_and_opencv_reads_it(cascade, astronaut_gray, tmp_path):
    vj.save_cascade(cascade, tmp_path / "copy.xml")
    again = vj.load_cascade(tmp_path / "copy.xml")
    assert again == cascade
    reference = cv2.CascadeClassifier(str(tmp_path / "copy.xml"))
    assert not reference.empty() and reference.getFeatureType() == 1
    ours = vj.CascadeClassifier(tmp_path / "copy.xml")
    expected = cv2.CascadeClassifier(LBP_FACE).detectMultiScale(astronaut_gray, 1.1, 3)
    assert sorted(map(tuple, reference.detectMultiScale(astronaut_gray, 1.1, 3).tolist())) == \
        sorted(map(tuple, expected.tolist()))
    assert sorted(map(tuple, ours.detectMultiScale(astronaut_gray, 1.1, 3).tolist())) == \
        sorted(map(tuple, expected.tolist()))


def test_lbp_code_bits():
    """Bit 128 is the top-left cell, then clockwise; a cell counts when its sum >= the centre's."""
    cells = np.array([[9, 0, 9], [0, 5, 5], [0, 9, 0]])  # >= 5: top-left, top-right, right, bottom
    image = np.kron(cells, np.ones((2, 3), dtype=np.int64))  # cells of 3 x 2 pixels
    code = lbp_code(integral_image(image), 0, 0, 3, 2)
    assert code == 128 | 32 | 16 | 4


def test_compiled_scan_uses_the_same_codes(astronaut_gray):
    """A one-stump cascade that passes exactly the windows whose code is in a chosen set."""
    x, y, w, h = 2, 3, 4, 5
    codes_left = np.arange(0, 256, 3)
    stump = vj.LbpWeakClassifier.stump(0, codes_left, 1.0, -1.0)
    tiny = vj.LbpCascade((16, 20), np.array([[x, y, w, h]]), [vj.LbpStage(0.0, [stump])])
    image = astronaut_gray[100:161, 200:270]  # 61 rows: OpenCV's stripes cover every window row
    boxes, scores = detect_raw(image, tiny, 10.0)  # one scale: every window at step 2 (scale 1)
    found = {tuple(b[:2]) for b in boxes.tolist()}
    integral = integral_image(image)
    expected = set()
    for wy in range(0, image.shape[0] - 20 + 1, 2):
        wx = 0
        while wx <= image.shape[1] - 16:
            passes = lbp_code(integral, wx + x, wy + y, w, h) in set(codes_left.tolist())
            if passes:
                expected.add((wx, wy))
            wx += 2 if passes else 4  # a window failing the first stage skips the next
    assert found == expected and len(found) > 0
    assert np.all(scores == 1.0)


def _reference_walk(image: np.ndarray, cascade: vj.LbpCascade) -> set[tuple[int, int, float]]:
    """The windows a stump cascade passes at scale 1 (step 2), walked in Python as OpenCV walks them."""
    integral = integral_image(image)
    win_w, win_h = cascade.window_size
    found = set()
    for wy in range(0, image.shape[0] - win_h + 1, 2):
        wx = 0
        while wx <= image.shape[1] - win_w:
            failed_stage, total = None, 0.0
            for s, stage in enumerate(cascade.stages):
                total = 0.0
                for weak in stage.weak_classifiers:
                    x, y, w, h = cascade.features[int(weak.nodes[0, 2])]
                    code = lbp_code(integral, wx + x, wy + y, w, h)
                    goes_left = (int(weak.subsets[0, code >> 5]) >> (code & 31)) & 1
                    total += float(np.float32(weak.leaves[0 if goes_left else 1]))
                if total < float(np.float32(stage.threshold) - np.float32(1e-5)):
                    failed_stage = s
                    break
            if failed_stage is None:
                found.add((wx, wy, total))
            wx += 4 if failed_stage == 0 else 2
    return found


def test_row_wise_first_stages_decide_as_the_scalar_walk(astronaut_gray):
    """A four-stage random stump cascade: the SIMD row sums of stages 0 and 1 and the scalar
    walk of the rest find exactly the windows and scores of a plain Python walk."""
    rng = np.random.default_rng(7)
    features = np.array([[rng.integers(0, 5), rng.integers(0, 6), rng.integers(1, 4), rng.integers(1, 4)]
                         for _ in range(12)])
    stages, feature = [], 0
    for count in (3, 4, 3, 2):
        weaks = []
        for _ in range(count):
            codes_left = np.flatnonzero(rng.random(256) < 0.5)
            weaks.append(vj.LbpWeakClassifier.stump(feature, codes_left, float(rng.normal()), float(rng.normal())))
            feature += 1
        stages.append(vj.LbpStage(float(rng.normal(-1.0, 0.2)), weaks))
    tiny = vj.LbpCascade((16, 18), features, stages)
    image = astronaut_gray[60:141, 150:260]
    boxes, scores = detect_raw(image, tiny, 10.0)  # one scale: every window at step 2
    expected = _reference_walk(image, tiny)
    assert len(expected) > 5
    assert {(int(b[0]), int(b[1]), float(sc)) for b, sc in zip(boxes.tolist(), scores.tolist())} == expected


def test_packed_form_is_cached_and_follows_changes(cascade, astronaut_gray):
    own = vj.load_cascade(LBP_FACE)
    first = cached_prepared(own)
    assert cached_prepared(own) is first  # no re-packing per call
    boxes, _ = vj.detect_multi_scale(astronaut_gray, own, 1.2, 3)
    assert cached_prepared(own) is first
    own.stages = own.stages[:5]  # a shorter cascade accepts more
    assert cached_prepared(own) is not first
    short, _ = vj.detect_multi_scale(astronaut_gray, own, 1.2, 3)
    fresh, _ = vj.detect_multi_scale(astronaut_gray, vj.prepare_cascade(vj.LbpCascade(
        own.window_size, own.features, list(own.stages))), 1.2, 3)
    assert np.array_equal(short, fresh) and len(short) > len(boxes)
    own.stages[-1].threshold = 1e9
    assert vj.detect_multi_scale(astronaut_gray, own, 1.2, 3)[0].shape == (0, 4)


def test_haar_packed_form_follows_changes(astronaut_gray):
    haar = vj.load_cascade(vj.data.haarcascades + "haarcascade_frontalface_alt2.xml")
    first = cached_prepared(haar)
    assert cached_prepared(haar) is first
    haar.stages.append(vj.Stage(1e9, [vj.WeakClassifier.stump(0, 0.0, 0.0, 0.0)]))
    assert vj.detect_multi_scale(astronaut_gray, haar, 1.2, 3)[0].shape == (0, 4)
    haar.stages.pop()
    assert len(vj.detect_multi_scale(astronaut_gray, haar, 1.2, 3)[0]) > 0


def test_malformed_lbp_files_are_named(tmp_path):
    text = Path(LBP_FACE).read_text()
    bad_subset = text.replace("0 -1 46 -67130709", "0 -1 46 -67130709.5", 1)
    (tmp_path / "a.xml").write_text(bad_subset)
    with pytest.raises(vj.CascadeFormatError, match="integers"):
        vj.load_cascade(tmp_path / "a.xml")
    outside = text.replace("<rect>\n        0 0 3 5</rect>", "<rect>\n        20 0 3 5</rect>", 1)
    assert outside != text
    (tmp_path / "b.xml").write_text(outside)
    with pytest.raises(vj.CascadeFormatError, match="outside"):
        vj.load_cascade(tmp_path / "b.xml")
    cats = text.replace("<maxCatCount>256</maxCatCount>", "<maxCatCount>16</maxCatCount>", 1)
    (tmp_path / "c.xml").write_text(cats)
    with pytest.raises(vj.CascadeFormatError, match="256"):
        vj.load_cascade(tmp_path / "c.xml")
