"""groupRectangles against OpenCV, NMS and clipping."""
from __future__ import annotations

import numpy as np
import pytest

from vj.grouping import box_iou, clip_boxes, group_rectangles, non_max_suppression

cv2 = pytest.importorskip("cv2")


def random_clusters(rng, n_clusters=6, max_members=9):
    """Jittered copies of a few boxes, some nested in others, as a detector produces."""
    boxes = []
    for _ in range(n_clusters):
        size = int(rng.integers(20, 80))
        x, y = (int(v) for v in rng.integers(0, 300, size=2))
        for _ in range(int(rng.integers(1, max_members))):
            s = size + int(rng.integers(-3, 4))
            boxes.append([x + int(rng.integers(-3, 4)), y + int(rng.integers(-3, 4)), s, s])
        if rng.random() < 0.5:  # a smaller group inside this one
            for _ in range(int(rng.integers(1, 5))):
                boxes.append([x + size // 4, y + size // 4, size // 2, size // 2])
    return np.array(boxes, dtype=np.int64)


@pytest.mark.parametrize("seed", range(30))
def test_group_rectangles_equals_opencv(seed):
    rng = np.random.default_rng(seed)
    boxes = random_clusters(rng)
    scores = rng.normal(size=len(boxes))
    for threshold in (1, 2, 3, 5):
        ours, our_scores = group_rectangles(boxes, scores, threshold, 0.2)
        theirs, _ = cv2.groupRectangles(boxes.tolist(), threshold, 0.2)
        theirs = np.asarray(theirs, dtype=np.int64).reshape(-1, 4)
        assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, theirs.tolist()))
        assert our_scores.shape == (len(ours),)


def test_group_scores_are_the_best_member():
    boxes = np.array([[10, 10, 40, 40], [11, 10, 40, 40], [10, 12, 41, 41], [200, 200, 30, 30]])
    scores = np.array([1.0, 3.0, 2.0, 9.0])
    grouped, grouped_scores = group_rectangles(boxes, scores, 2)
    assert grouped.tolist() == [[10, 11, 40, 40]] and grouped_scores.tolist() == [3.0]
    same, same_scores = group_rectangles(boxes, scores, 0)
    assert np.array_equal(same, boxes) and np.array_equal(same_scores, scores)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 1, 10, 10]])
    scores = np.array([0.5, 0.9, 0.3, 0.1])
    kept, kept_scores = non_max_suppression(boxes, scores, 0.3)
    assert kept.tolist() == [[1, 1, 10, 10], [50, 50, 10, 10]] and kept_scores.tolist() == [0.9, 0.3]
    kept, _ = non_max_suppression(boxes, scores, 0.3, min_neighbors=1)
    assert kept.tolist() == [[1, 1, 10, 10]]


def test_box_iou_and_clip():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])
    clipped, scores = clip_boxes(np.array([[-5, 90, 20, 20], [100, 0, 5, 5]]), np.array([1.0, 2.0]), 100, 100)
    assert clipped.tolist() == [[0, 90, 15, 10]] and scores.tolist() == [1.0]
