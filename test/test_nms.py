"""NMS against a brute-force greedy reference on random boxes (property-based)."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
import numpy as np
import pytest

from edge_infer_ros.decoders.nms import nms, top_k_indices


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    return inter / (area_a + area_b - inter)


def _valid(box: np.ndarray) -> bool:
    width, height = float(box[2]) - float(box[0]), float(box[3]) - float(box[1])
    return width > 0 and height > 0 and width * height > np.finfo(np.float64).eps


def reference_nms(boxes, scores, iou_threshold, classes=None, score_threshold=None, top_k=0,
                  max_detections=0) -> list[int]:
    order = [i for i in range(len(scores))
             if score_threshold is None or scores[i] >= score_threshold]
    order = [i for i in order if _valid(boxes[i])]
    order.sort(key=lambda i: (-scores[i], i))
    if top_k > 0:
        order = order[:top_k]
    kept: list[int] = []
    for i in order:
        if all(
            (classes is not None and classes[i] != classes[k])
            or _iou(boxes[i], boxes[k]) <= iou_threshold
            for k in kept
        ):
            kept.append(i)
    return kept[:max_detections] if max_detections > 0 else kept


@st.composite
def scenes(draw):
    n = draw(st.integers(0, 24))
    xy = draw(arrays(np.float32, (n, 2), elements=st.floats(-50, 100, width=32)))  # Past border.
    wh = draw(arrays(np.float32, (n, 2), elements=st.floats(0, 60, width=32)))
    # Few distinct scores so ties (and their order) are exercised.
    scores = draw(arrays(np.float32, n, elements=st.sampled_from([0.1, 0.3, 0.5, 0.9, 0.95])))
    classes = draw(arrays(np.int32, n, elements=st.integers(0, 3)))
    return np.concatenate([xy, xy + wh], axis=1), scores, classes


def _no_near_ties(boxes: np.ndarray, threshold: float) -> bool:
    """OpenCV compares in float32; skip cases whose IoU sits within rounding of the threshold."""
    b = boxes.astype(np.float64)
    b = b[[_valid(box) for box in b]] if len(b) else b
    iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area[:, None] + area[None, :] - inter)
    return bool(np.all(np.abs(iou - threshold) > 1e-5))


@settings(max_examples=120, deadline=None)
@given(
    scenes(),
    st.sampled_from([0.0, 0.3, 0.45, 0.7, 0.95]),
    st.booleans(),
    st.sampled_from([None, 0.5]),
    st.sampled_from([0, 5]),
    st.sampled_from([0, 3]),
)
def test_matches_reference(scene, iou_threshold, class_aware, score_threshold, top_k, max_det):
    boxes, scores, classes = scene
    assume(_no_near_ties(boxes, iou_threshold))
    got = nms(
        boxes, scores, iou_threshold, class_ids=classes if class_aware else None,
        score_threshold=score_threshold, top_k=top_k, max_detections=max_det,
    )
    want = reference_nms(
        boxes.astype(np.float64), scores, iou_threshold, classes if class_aware else None,
        score_threshold, top_k, max_det,
    )
    assert got.dtype == np.int64
    assert got.tolist() == want


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([0.2, 0.4, 0.4, 0.8]), max_size=40), st.integers(0, 45))
def test_top_k_is_stable_and_best_first(scores, k):
    s = np.array(scores, np.float32)
    want = sorted(range(len(s)), key=lambda i: (-s[i], i))
    want = want[:k] if 0 < k < len(s) else want
    assert top_k_indices(s, k).tolist() == want


def test_keeps_far_boxes_and_suppresses_overlaps() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]],
                     np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.5, class_ids=np.array([0, 1, 0, 0])).tolist() == [3, 1, 2]
    assert nms(boxes, scores, 0.5, max_detections=1).tolist() == [3]
    assert nms(boxes, scores, 0.5, score_threshold=0.96).tolist() == []


def test_empty_and_mismatched_inputs() -> None:
    empty = nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert empty.shape == (0,) and empty.dtype == np.int64
    with pytest.raises(ValueError, match='boxes has 2 rows but scores has 1'):
        nms(np.zeros((2, 4)), np.zeros(1), 0.5)


def test_classes_never_suppress_each_other_even_past_the_border() -> None:
    # cv2.dnn.NMSBoxesBatched offsets classes by the max coordinate only, so boxes at negative
    # coordinates can collide across classes; ours must not.
    boxes = np.array([[-100, -100, 5, 5], [-100, -100, 5, 5], [0, 0, 4, 4]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, 0.5, class_ids=np.array([0, 1, 2])).tolist() == [0, 1, 2]


def test_degenerate_boxes_are_dropped() -> None:
    boxes = np.array([[0, 0, 0, 0], [5, 5, 5, 9], [0, 0, 10, 10], [3, 3, 1, 1]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [2]
