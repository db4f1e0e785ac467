"""Identity figures of tracked detections: IDF1, ID switches, MOTA (``motmetrics``).

Computed where the ground truth names its objects (``Detection2D.id``, e.g. the demo's synthetic
camera). py-motmetrics is the reference implementation of the CLEAR-MOT and identity measures
used by the MOTChallenge benchmarks; here it gets one accumulator per sequence (an image topic of
one bag) and reports over all of them. A detection matches a ground-truth object at IoU >= 0.5
with the same class, as for the other accuracy figures; detections without a track ID are not
tracker output and are left out. Only motmetrics' accumulator and metrics are used: its
``iou_matrix`` helper does not run on NumPy 2, so the distances come from
:func:`~edge_infer_ros.eval.matching.box_iou`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import motmetrics
import numpy as np

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.eval.matching import box_iou
from edge_infer_ros.eval.messages import ClassIndex, NamedBoxes

__all__ = ['IdentityResult', 'TrackedFrame', 'identity_metrics']

_METRICS = {
    'idf1': 'idf1', 'idp': 'idp', 'idr': 'idr', 'id_switches': 'num_switches', 'mota': 'mota',
    'motp_iou': 'motp', 'false_positives': 'num_false_positives', 'misses': 'num_misses',
    'matches': 'num_matches', 'objects': 'num_unique_objects', 'frames': 'num_frames',
    'mostly_tracked': 'mostly_tracked', 'mostly_lost': 'mostly_lost',
    'fragmentations': 'num_fragmentations',
}


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """One image of a sequence: the tracked detections and the ground truth with IDs."""

    detections: Detections
    truth: NamedBoxes


@dataclass(frozen=True)
class IdentityResult:
    """Identity and CLEAR-MOT figures over every sequence (motmetrics' ``OVERALL``).

    ``motp_iou`` is motmetrics' MOTP: the mean of 1 - IoU over matches (lower is better).
    ``sequences`` lists the sequences (image topics of bags) that had IDs in their truth.
    """

    sequences: tuple[str, ...]
    frames: int
    objects: int
    idf1: float
    idp: float
    idr: float
    id_switches: int
    mota: float
    motp_iou: float
    false_positives: int
    misses: int
    matches: int
    mostly_tracked: int
    mostly_lost: int
    fragmentations: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    def line(self) -> str:
        """One line for consoles and summaries."""
        return (f'IDF1 {self.idf1:.3f}, ID switches {self.id_switches}, MOTA {self.mota:.3f} '
                f'({self.objects} objects, {self.frames} frames, {self.false_positives} false, '
                f'{self.misses} missed)')


def _has_ids(truth: NamedBoxes) -> bool:
    return len(truth.ids) == len(truth) and all(truth.ids)


def _distances(dets: Detections, truth: Detections, iou_threshold: float) -> Any:
    """The (truth x hypotheses) cost for motmetrics: 1 - IoU, NaN where they may not match."""
    iou = box_iou(truth.boxes, dets.boxes)
    same = truth.class_ids[:, None] == dets.class_ids[None, :]
    return np.where(same & (iou >= iou_threshold), 1.0 - iou, np.nan)


def identity_metrics(
    sequences: Iterable[tuple[str, Sequence[TrackedFrame]]], index: ClassIndex,
    iou_threshold: float = 0.5,
) -> IdentityResult | None:
    """Score tracked detections against ground truth with object IDs, sequence by sequence.

    Frames whose truth lacks IDs are skipped; a sequence left without frames is not counted.

    Returns:
        The figures over all sequences, or None when no ground truth carried IDs.
    """
    accumulators, names = [], []
    for name, frames in sequences:
        acc = motmetrics.MOTAccumulator(auto_id=True)
        truth_ids: dict[str, int] = {}
        used = 0
        for frame in frames:
            if not _has_ids(frame.truth):
                continue
            used += 1
            truth = index.detections(frame.truth)
            tracked = frame.detections
            if tracked.track_ids is None:
                tracked = tracked.select(np.zeros(len(tracked), bool))
            else:
                tracked = tracked.select(tracked.track_ids >= 0)
            objects = [truth_ids.setdefault(i, len(truth_ids) + 1) for i in frame.truth.ids]
            hypotheses = [] if tracked.track_ids is None else tracked.track_ids.tolist()
            acc.update(objects, hypotheses, _distances(tracked, truth, iou_threshold))
        if used:
            accumulators.append(acc)
            names.append(name)
    if not accumulators:
        return None
    host = motmetrics.metrics.create()
    table = host.compute_many(accumulators, names=names, metrics=list(_METRICS.values()),
                              generate_overall=True)
    row = table.loc['OVERALL']
    number = {key: row[column] for key, column in _METRICS.items()}
    return IdentityResult(
        sequences=tuple(names), frames=int(number['frames']), objects=int(number['objects']),
        idf1=float(number['idf1']), idp=float(number['idp']), idr=float(number['idr']),
        id_switches=int(number['id_switches']), mota=float(number['mota']),
        motp_iou=float(number['motp_iou']), false_positives=int(number['false_positives']),
        misses=int(number['misses']), matches=int(number['matches']),
        mostly_tracked=int(number['mostly_tracked']), mostly_lost=int(number['mostly_lost']),
        fragmentations=int(number['fragmentations']),
    )
