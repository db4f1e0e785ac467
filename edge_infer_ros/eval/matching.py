"""Matching detections against reference boxes: IoU and greedy one-to-one assignment.

Used wherever two sets of boxes for the same image are compared (demo ground truth check, bag
comparison mode). Not an AP metric: mAP comes from a COCO-metrics library in ``eval``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_infer_ros.decoders.detections import Detections

__all__ = ['box_iou', 'match_detections', 'match_pairs']


def box_iou(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Pairwise IoU of (N, 4) and (M, 4) ``x1 y1 x2 y2`` boxes as an (N, M) array."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_pairs(
    dets: Detections, ref: Detections, iou_threshold: float = 0.5, same_class: bool = True,
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matches ``(det index, ref index, iou)``, best-scoring detections first."""
    if len(dets) == 0 or len(ref) == 0:
        return []
    iou = box_iou(dets.boxes, ref.boxes)
    if same_class:
        iou = np.where(dets.class_ids[:, None] == ref.class_ids[None, :], iou, 0.0)
    taken = np.zeros(len(ref), bool)
    pairs = []
    for i in np.argsort(-dets.scores, kind='stable'):
        candidates = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            taken[j] = True
            pairs.append((int(i), j, float(candidates[j])))
    return pairs


def match_detections(
    dets: Detections, truth: Detections, iou_threshold: float = 0.5,
) -> tuple[int, int, int]:
    """Count (true positives, false positives, false negatives) at one IoU threshold."""
    tp = len(match_pairs(dets, truth, iou_threshold))
    return tp, len(dets) - tp, len(truth) - tp
