"""Agreement between two detection sources over the same frames, matched by header stamp.

Typical pairs: the ``detections`` a robot recorded against an offline rerun of the same images,
or the output bags of an fp32, an fp16 and an int8 run. Within a frame, detections are paired
one-to-one by ``matching.match_pairs`` (the package's greedy matcher: same class, IoU >= the
threshold, 0.5 by default), the same rule the demo's ground-truth check uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.eval.matching import match_pairs

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

__all__ = ['Comparison', 'FrameDiff', 'compare_sources']

K = TypeVar('K', bound='SupportsRichComparison')  # frame keys are sorted


def _match(
    a: Detections, b: Detections, iou: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Index arrays into ``a`` and ``b`` of the matched pairs, and their IoU."""
    pairs = match_pairs(b, a, iou)  # b's best-scoring detections claim partners first
    if not pairs:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float64)
    ib, ia, ious = (np.array(col) for col in zip(*pairs, strict=True))
    return ia.astype(np.int64), ib.astype(np.int64), ious.astype(np.float64)


@dataclass(frozen=True)
class FrameDiff:
    """A frame on which the sources disagree."""

    key: Any
    count_a: int
    count_b: int
    matched: int
    only_a: tuple[int, ...]  # class ids of unmatched detections of a
    only_b: tuple[int, ...]


@dataclass(frozen=True)
class Comparison:
    """Agreement of source ``b`` with source ``a`` over their common frames.

    ``agreement`` is 2 * matched / (detections of a + detections of b) (1.0 when both are empty),
    and None when the sources have no frame in common: nothing was compared, which must never
    read as agreement. ``frame_agreement`` is the share of common frames where every detection
    found its partner.
    Deltas are ``b - a`` over matched pairs: scores, and box edges in pixels.
    """

    name_a: str
    name_b: str
    frames: int
    frames_only_a: int
    frames_only_b: int
    detections_a: int
    detections_b: int
    matched: int
    agreement: float | None
    frame_agreement: float
    score_delta: dict[str, float]
    box_delta_px: dict[str, float]
    matched_iou: dict[str, float]
    disagreements: list[FrameDiff] = field(default_factory=list)
    per_frame_agreement: list[float] = field(default_factory=list)
    score_deltas: list[float] = field(default_factory=list)
    iou_threshold: float = 0.5

    def summary(self) -> str:
        """One line: the agreement, or that there was nothing to compare."""
        if self.agreement is None:
            return (f'no common frames with {self.name_a} ({self.frames_only_a} frames only in '
                    f'{self.name_a}, {self.frames_only_b} only in {self.name_b})')
        return (f'agreement with {self.name_a} {self.agreement:.3f} over {self.frames} frames, '
                f'{len(self.disagreements)} frames disagree')

    def as_dict(
        self, class_name: Callable[[int], str] = str, max_frames: int = 100,
    ) -> dict[str, Any]:
        """JSON-ready form with at most ``max_frames`` disagreeing frames listed."""
        keys = ('name_a', 'name_b', 'frames', 'frames_only_a', 'frames_only_b', 'detections_a',
                'detections_b', 'matched', 'agreement', 'frame_agreement', 'score_delta',
                'box_delta_px', 'matched_iou', 'iou_threshold')
        out = {k: getattr(self, k) for k in keys}
        out['disagreeing_frames'] = len(self.disagreements)
        out['disagreements'] = [
            {'key': list(d.key) if isinstance(d.key, tuple) else d.key, 'count_a': d.count_a,
             'count_b': d.count_b, 'matched': d.matched,
             'only_a': [class_name(c) for c in d.only_a],
             'only_b': [class_name(c) for c in d.only_b]}
            for d in self.disagreements[:max_frames]
        ]
        return out


def _stats(values: NDArray[np.floating[Any]]) -> dict[str, float]:
    if values.size == 0:
        return {}
    return {'mean': float(values.mean()), 'mean_abs': float(np.abs(values).mean()),
            'max_abs': float(np.abs(values).max())}


def compare_sources(
    a: Mapping[K, Detections],
    b: Mapping[K, Detections],
    *,
    names: tuple[str, str] = ('a', 'b'),
    iou_threshold: float = 0.5,
) -> Comparison:
    """Compare two sources keyed by frame (e.g. ``(topic, stamp ns, frame_id)``)."""
    common = sorted(set(a) & set(b))
    matched = total_a = total_b = 0
    score_d, box_d, ious, per_frame = [], [], [], []
    diffs: list[FrameDiff] = []
    for key in common:
        da, db = a[key], b[key]
        ia, ib, iou = _match(da, db, iou_threshold)
        matched += len(ia)
        total_a += len(da)
        total_b += len(db)
        score_d.append(db.scores[ib] - da.scores[ia])
        box_d.append(db.boxes[ib] - da.boxes[ia])
        ious.append(iou)
        size = len(da) + len(db)
        per_frame.append(2.0 * len(ia) / size if size else 1.0)
        if len(ia) != len(da) or len(ib) != len(db):
            only_a = np.delete(da.class_ids, ia)
            only_b = np.delete(db.class_ids, ib)
            diffs.append(FrameDiff(key, len(da), len(db), len(ia), tuple(only_a.tolist()),
                                   tuple(only_b.tolist())))
    diffs.sort(key=lambda d: -(len(d.only_a) + len(d.only_b)))
    scores = np.concatenate(score_d) if score_d else np.zeros(0)
    boxes = np.concatenate(box_d).reshape(-1) if box_d else np.zeros(0)
    iou_all = np.concatenate(ious) if ious else np.zeros(0)
    size = total_a + total_b
    return Comparison(
        name_a=names[0], name_b=names[1], frames=len(common),
        frames_only_a=len(set(a) - set(b)), frames_only_b=len(set(b) - set(a)),
        detections_a=total_a, detections_b=total_b, matched=matched,
        agreement=(2.0 * matched / size if size else 1.0) if common else None,
        frame_agreement=(len(common) - len(diffs)) / len(common) if common else 0.0,
        score_delta=_stats(scores), box_delta_px=_stats(boxes),
        matched_iou=({'mean': float(iou_all.mean()), 'min': float(iou_all.min())}
                     if iou_all.size else {}),
        disagreements=diffs, per_frame_agreement=per_frame,
        score_deltas=scores.astype(float).tolist(), iou_threshold=iou_threshold,
    )
