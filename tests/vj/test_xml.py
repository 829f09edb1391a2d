"""Reading and writing OpenCV cascade XML: both layouts, round trips, OpenCV loading our files."""
from __future__ import annotations

import numpy as np
import pytest

import vj
from vj.opencv_xml import CascadeFormatError, cascade_to_xml, parse_cascade

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

MAIN_CASCADES = ["haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
                 "haarcascade_frontalface_alt2.xml", "haarcascade_eye_tree_eyeglasses.xml",
                 "haarcascade_lefteye_2splits.xml", "haarcascade_smile.xml"]


def cascade_path(name: str) -> str:
    return cv2.data.haarcascades + name


def same_cascade(a: vj.Cascade, b: vj.Cascade) -> bool:
    return (a.window_size == b.window_size and a.feature_set == b.feature_set and a.features == b.features
            and len(a.stages) == len(b.stages)
            and all(s.threshold == t.threshold and s.weak_classifiers == t.weak_classifiers
                    for s, t in zip(a.stages, b.stages)))


def numbers(node) -> np.ndarray:
    """The numbers of an OpenCV FileNode sequence."""
    return np.array([node.at(i).real() for i in range(node.size())])


def astronaut_gray() -> np.ndarray:
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("name", MAIN_CASCADES)
def test_read_matches_opencv_filestorage(name):
    cascade = vj.load_cascade(cascade_path(name))
    storage = cv2.FileStorage(cascade_path(name), cv2.FILE_STORAGE_READ)
    root = storage.getFirstTopLevelNode()
    assert cascade.window_size == (int(root.getNode("width").real()), int(root.getNode("height").real()))
    stages = root.getNode("stages")
    assert cascade.num_stages == stages.size()
    for s in (0, stages.size() - 1):
        stage = stages.at(s)
        assert cascade.stages[s].threshold == pytest.approx(stage.getNode("stageThreshold").real(), rel=1e-12)
        weaks = stage.getNode("weakClassifiers")
        assert len(cascade.stages[s].weak_classifiers) == weaks.size()
        nodes = numbers(weaks.at(0).getNode("internalNodes"))
        np.testing.assert_allclose(cascade.stages[s].weak_classifiers[0].nodes.ravel(), nodes, rtol=1e-12)
    features = root.getNode("features")
    assert len(cascade.features) == features.size()
    last = features.at(features.size() - 1)
    rects = last.getNode("rects")
    np.testing.assert_allclose(cascade.features[-1].rects,
                               np.array([numbers(rects.at(r)) for r in range(rects.size())]))
    assert cascade.features[-1].tilted == (not last.getNode("tilted").empty() and last.getNode("tilted").real() != 0)


def test_trees_and_tilted_features_are_read():
    alt2 = vj.load_cascade(cascade_path("haarcascade_frontalface_alt2.xml"))
    assert {w.nodes.shape[0] for s in alt2.stages for w in s.weak_classifiers} == {2}
    eyes = vj.load_cascade(cascade_path("haarcascade_eye_tree_eyeglasses.xml"))
    assert eyes.has_tilted and eyes.feature_set == "ALL"
    assert max(w.nodes.shape[0] for s in eyes.stages for w in s.weak_classifiers) > 2


@pytest.mark.parametrize("name", MAIN_CASCADES)
def test_round_trip_read_write_read(name, tmp_path):
    cascade = vj.load_cascade(cascade_path(name))
    vj.save_cascade(cascade, tmp_path / "copy.xml")
    again = vj.load_cascade(tmp_path / "copy.xml")
    assert same_cascade(cascade, again)
    assert cascade_to_xml(again) == (tmp_path / "copy.xml").read_text()


@pytest.mark.parametrize("name", ["haarcascade_frontalface_alt2.xml", "haarcascade_eye_tree_eyeglasses.xml",
                                  "haarcascade_frontalface_default.xml"])
def test_opencv_loads_what_vj_writes(name, tmp_path):
    vj.save_cascade(vj.load_cascade(cascade_path(name)), tmp_path / "written.xml")
    ours = cv2.CascadeClassifier(str(tmp_path / "written.xml"))
    assert not ours.empty()
    original = cv2.CascadeClassifier(cascade_path(name))
    gray = astronaut_gray()
    a = np.asarray(ours.detectMultiScale(gray, 1.2, 0)).reshape(-1, 4)
    b = np.asarray(original.detectMultiScale(gray, 1.2, 0)).reshape(-1, 4)
    assert len(b) > 0 and sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))


def old_format_xml(cascade: vj.Cascade, name: str = "old_cascade") -> str:
    """The cascade in OpenCV 1.x's opencv-haar-classifier layout (each node has its own feature)."""
    out = ['<?xml version="1.0"?>', "<opencv_storage>", f'<{name} type_id="opencv-haar-classifier">',
           f"  <size>{cascade.window_size[0]} {cascade.window_size[1]}</size>", "  <stages>"]
    for stage in cascade.stages:
        out.append("    <_>\n      <trees>")
        for weak in stage.weak_classifiers:
            out.append("        <_>")
            for left, right, feature_index, threshold in weak.nodes:
                feature = cascade.features[int(feature_index)]
                rects = "".join(f"<_>{int(x)} {int(y)} {int(w)} {int(h)} {float(wt)!r}</_>" for x, y, w, h, wt in feature.rects)
                out.append(f"          <_><feature><rects>{rects}</rects><tilted>{int(feature.tilted)}</tilted>"
                           f"</feature><threshold>{float(threshold)!r}</threshold>")
                for side, child in (("left", int(left)), ("right", int(right))):
                    if child > 0:
                        out.append(f"            <{side}_node>{child}</{side}_node>")
                    else:
                        out.append(f"            <{side}_val>{float(weak.leaves[-child])!r}</{side}_val>")
                out.append("          </_>")
            out.append("        </_>")
        out.append(f"      </trees>\n      <stage_threshold>{float(stage.threshold)!r}</stage_threshold>")
        out.append("      <parent>-1</parent>\n      <next>-1</next></_>")
    out += ["  </stages>", f"</{name}>", "</opencv_storage>", ""]
    return "\n".join(out)


@pytest.mark.parametrize("name", ["haarcascade_frontalface_alt2.xml", "haarcascade_eye_tree_eyeglasses.xml"])
def test_old_format_reads_like_opencv(name, tmp_path):
    new = vj.load_cascade(cascade_path(name))
    (tmp_path / "old.xml").write_text(old_format_xml(new))
    old = vj.load_cascade(tmp_path / "old.xml")
    assert old.window_size == new.window_size and old.num_weak == new.num_weak
    assert len(old.features) == sum(w.nodes.shape[0] for s in new.stages for w in s.weak_classifiers)
    gray = astronaut_gray()
    boxes_old, scores_old = vj.detect_multi_scale(gray, old, 1.2, 0)
    boxes_new, scores_new = vj.detect_multi_scale(gray, new, 1.2, 0)
    assert len(boxes_new) > 0 and np.array_equal(boxes_old, boxes_new) and np.array_equal(scores_old, scores_new)
    reference = cv2.CascadeClassifier(str(tmp_path / "old.xml"))  # OpenCV 4 converts the old layout itself
    assert not reference.empty()
    ref = np.asarray(reference.detectMultiScale(gray, 1.2, 0)).reshape(-1, 4)
    assert sorted(map(tuple, ref.tolist())) == sorted(map(tuple, boxes_old.tolist()))


def small_cascade_xml(internal_nodes: str = "0 -1 0 0.5", leaves: str = "-1. 1.", rect: str = "0 0 4 2 -1.",
                      threshold: str = "<stageThreshold>-0.5</stageThreshold>") -> str:
    return f"""<?xml version="1.0"?>
<opencv_storage><cascade type_id="opencv-cascade-classifier">
<stageType>BOOST</stageType><featureType>HAAR</featureType><height>6</height><width>6</width>
<featureParams><maxCatCount>0</maxCatCount></featureParams><stageNum>1</stageNum>
<stages><_><maxWeakCount>1</maxWeakCount>{threshold}
<weakClassifiers><_><internalNodes>{internal_nodes}</internalNodes><leafValues>{leaves}</leafValues></_>
</weakClassifiers></_></stages>
<features><_><rects><_>{rect}</_><_>0 0 4 1 2.</_></rects></_></features>
</cascade></opencv_storage>"""


def test_small_cascade_parses():
    cascade = parse_cascade(small_cascade_xml())
    assert cascade.window_size == (6, 6) and cascade.num_weak == 1 and cascade.feature_set == "BASIC"
    assert cascade.stages[0].weak_classifiers[0] == vj.WeakClassifier.stump(0, 0.5, -1.0, 1.0)


@pytest.mark.parametrize("xml, element", [
    (small_cascade_xml(internal_nodes="0 -1 0"), "internalNodes"),
    (small_cascade_xml(leaves="1. 2. 3."), "leafValues"),
    (small_cascade_xml(internal_nodes="0 -1 7 0.5"), "feature index"),
    (small_cascade_xml(internal_nodes="0 -1 zero 0.5"), "internalNodes"),
    (small_cascade_xml(rect="3 3 4 2 -1."), "rects"),
    (small_cascade_xml(rect="0 0 4 -1."), "rects"),
    (small_cascade_xml(threshold=""), "stageThreshold"),
    (small_cascade_xml().replace("<width>6</width>", ""), "width"),
    ("<opencv_storage><cascade><foo>1</foo></cascade></opencv_storage>", "cascade"),
    ("<opencv_storage></opencv_storage>", "opencv_storage"),
])
def test_malformed_cascades_name_the_element(xml, element):
    with pytest.raises(CascadeFormatError, match=element):
        parse_cascade(xml)


def test_entity_expansion_is_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            "<opencv_storage><cascade><stageType>&lol3;</stageType></cascade></opencv_storage>")
    with pytest.raises(CascadeFormatError, match="unsafe"):
        parse_cascade(bomb)
