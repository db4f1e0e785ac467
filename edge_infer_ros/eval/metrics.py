"""Latency, throughput, class counts and COCO mAP of an offline run.

mAP comes from ``faster-coco-eval``, a maintained, faster implementation of the reference
``pycocotools`` COCOeval (same matching, same 101-point interpolation): numbers here are
comparable with published COCO results. Nothing AP-related is computed by hand; per-class values
and precision/recall curves are read from the evaluator's own accumulated arrays.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from faster_coco_eval import COCO, COCOeval_faster
import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.eval.messages import ClassIndex
from edge_infer_ros.stats import STAGES

__all__ = [
    'COCO_MAX_DETECTIONS',
    'CocoResult',
    'EvalImage',
    'class_counts',
    'coco_map',
    'latency_summary',
]

LATENCY_STAGES = (*STAGES[:4], 'total')
_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
COCO_MAX_DETECTIONS = 100
"""COCO's per-image cap on scored detections: above it, numbers stop being comparable."""


def latency_summary(
    samples: Mapping[str, NDArray[np.float64]], wall_seconds: float,
) -> dict[str, Any]:
    """Per-stage distribution (ms) and throughput of the processed frames.

    ``throughput_fps`` is frames over the wall time of the processing loops (bag reading and
    writing included); ``pipeline_fps`` is what the detector alone would sustain (1000 / mean
    total).
    """
    out: dict[str, Any] = {'stages': {}}
    frames = 0
    for stage in LATENCY_STAGES:
        values = np.asarray(samples.get(stage, ()), dtype=np.float64)
        frames = max(frames, values.size)
        if values.size == 0:
            continue
        pct = np.percentile(values, _PERCENTILES)
        out['stages'][stage] = {
            'mean': float(values.mean()),
            **{f'p{q:g}': float(v) for q, v in zip(_PERCENTILES, pct, strict=True)},
            'min': float(values.min()),
            'max': float(values.max()),
        }
    total = out['stages'].get('total', {}).get('mean', 0.0)
    out['frames'] = frames
    out['wall_seconds'] = float(wall_seconds)
    out['throughput_fps'] = frames / wall_seconds if wall_seconds > 0 else 0.0
    out['pipeline_fps'] = 1000.0 / total if total > 0 else 0.0
    return out


def class_counts(detections: Iterable[Detections], index: ClassIndex) -> dict[str, int]:
    """Detections per class name, most frequent first."""
    counter: Counter[int] = Counter()
    for dets in detections:
        counter.update(dets.class_ids.tolist())
    return {index.name(cid): n for cid, n in counter.most_common()}


@dataclass(frozen=True, eq=False)
class EvalImage:
    """One evaluated frame: its size, the ground truth and the detections to score."""

    width: int
    height: int
    ground_truth: Detections
    detections: Detections


@dataclass(frozen=True)
class CocoResult:
    """COCO bbox metrics; None where a class has no ground truth (COCO's -1).

    ``per_class`` maps a class name to ``ap50``, ``ap50_95``, ``ground_truth`` and
    ``detections`` counts; ``pr_curves`` maps it to (recall, precision) at IoU 0.5.
    ``images_over_cap`` counts images whose detections beyond COCO's 100 were not scored.
    """

    images: int
    map50: float | None
    map50_95: float | None
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    pr_curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    images_over_cap: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (curves excluded: they are plotted)."""
        return {'images': self.images, 'map50': self.map50, 'map50_95': self.map50_95,
                'per_class': self.per_class, 'images_over_detection_cap': self.images_over_cap}


def _xywh(boxes: NDArray[Any]) -> NDArray[np.float64]:
    out = boxes.astype(np.float64)
    out[:, 2:] -= out[:, :2]
    return out


def _dataset(
    images: list[EvalImage], cat_of: dict[int, int],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCO ground-truth dict and result list; image, annotation and category ids start at 1."""
    gt_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image_id, item in enumerate(images, start=1):
        gt_images.append({'id': image_id, 'width': item.width, 'height': item.height})
        gt = item.ground_truth
        for box, cid in zip(_xywh(gt.boxes).tolist(), gt.class_ids.tolist(), strict=True):
            annotations.append({'id': len(annotations) + 1, 'image_id': image_id,
                                'category_id': cat_of[cid], 'bbox': box,
                                'area': box[2] * box[3], 'iscrowd': 0})
        dt = item.detections
        for box, score, cid in zip(_xywh(dt.boxes).tolist(), dt.scores.tolist(),
                                   dt.class_ids.tolist(), strict=True):
            results.append({'image_id': image_id, 'category_id': cat_of[cid], 'bbox': box,
                            'score': score})
    categories = [{'id': coco_id, 'name': str(cid)} for cid, coco_id in cat_of.items()]
    return {'images': gt_images, 'annotations': annotations, 'categories': categories}, results


def _mean_valid(values: NDArray[np.floating[Any]]) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def coco_map(images: list[EvalImage], index: ClassIndex) -> CocoResult:
    """COCO mAP@0.5 and mAP@0.5:0.95, overall and per class, over ``images``.

    Scored as published COCO numbers are: at most the 100 best detections of each image.
    """
    class_ids = sorted({int(c) for item in images
                        for c in (*item.ground_truth.class_ids, *item.detections.class_ids)})
    if not images or not class_ids:
        return CocoResult(len(images), None, None)
    cat_of = {cid: k for k, cid in enumerate(class_ids, start=1)}
    dataset, results = _dataset(images, cat_of)
    coco_gt = COCO(dataset)
    coco_dt = coco_gt.loadRes(results) if results else COCO()
    evaluator = COCOeval_faster(coco_gt, coco_dt, 'bbox', print_function=lambda *_: None)
    evaluator.params.maxDets = [1, 10, COCO_MAX_DETECTIONS]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    stats = evaluator.stats_as_dict
    precision = np.asarray(evaluator.eval['precision'])  # [IoU, recall, class, area, maxDets]
    recall_points = [float(r) for r in evaluator.params.recThrs]
    gt_counts = Counter(int(c) for item in images for c in item.ground_truth.class_ids)
    dt_counts = Counter(int(c) for item in images for c in item.detections.class_ids)
    per_class: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[list[float], list[float]]] = {}
    cat_ids = [int(c) for c in evaluator.params.catIds]
    for k, coco_id in enumerate(cat_ids):
        cid = class_ids[coco_id - 1]
        name = index.name(cid)
        cls = precision[:, :, k, 0, -1]
        per_class[name] = {'class_id': cid, 'ap50': _mean_valid(cls[0]),
                           'ap50_95': _mean_valid(cls), 'ground_truth': gt_counts[cid],
                           'detections': dt_counts[cid]}
        if gt_counts[cid]:
            curves[name] = (recall_points, np.clip(cls[0], 0.0, 1.0).tolist())

    def stat(key: str) -> float | None:
        value = float(stats[key])
        return None if value < 0 else value

    over_cap = sum(len(item.detections) > COCO_MAX_DETECTIONS for item in images)
    return CocoResult(len(images), stat('AP_50'), stat('AP_all'), per_class, curves, over_cap)
