"""The result of one image through the detector, in original image pixels.

A plain frozen dataclass of aligned numpy arrays, so decoders, NMS, the tracker, the ROS
conversions and the evaluation tools all share one representation without copying per detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ['Detections', 'box_centres_sizes', 'class_id_strings', 'track_id_strings']


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections of one image, sorted by descending score.

    Attributes:
        boxes: (N, 4) float32, ``x1 y1 x2 y2`` in original image pixels.
        scores: (N,) float32 confidence in [0, 1] for most models.
        class_ids: (N,) int32 model class index.
        track_ids: (N,) int64 identity given by a tracker, -1 for a detection it does not
            track (yet); None when no tracker ran, so the messages carry no IDs at all.
    """

    boxes: NDArray[Any]
    scores: NDArray[Any]
    class_ids: NDArray[Any]
    track_ids: NDArray[Any] | None = None

    def __post_init__(self) -> None:
        """Coerce dtypes and reject misaligned arrays, so consumers can trust the shapes."""
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        class_ids = np.asarray(self.class_ids, dtype=np.int32).reshape(-1)
        if not len(boxes) == len(scores) == len(class_ids):
            msg = (
                f'Detections arrays differ in length: boxes {len(boxes)!r}, scores '
                f'{len(scores)!r}, class_ids {len(class_ids)!r}.'
            )
            raise ValueError(msg)
        object.__setattr__(self, 'boxes', boxes)
        object.__setattr__(self, 'scores', scores)
        object.__setattr__(self, 'class_ids', class_ids)
        if self.track_ids is not None:
            track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
            if len(track_ids) != len(scores):
                msg = (f'Detections arrays differ in length: track_ids {len(track_ids)!r}, '
                       f'scores {len(scores)!r}.')
                raise ValueError(msg)
            object.__setattr__(self, 'track_ids', track_ids)

    @classmethod
    def empty(cls) -> Detections:
        """Return a result with no detections (the common case for an empty scene)."""
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
        )

    def __len__(self) -> int:
        """Return the number of detections."""
        return int(self.scores.shape[0])

    def select(self, index: NDArray[Any] | slice) -> Detections:
        """Return the detections picked by an index array, boolean mask or slice."""
        track_ids = None if self.track_ids is None else self.track_ids[index]
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index], track_ids)

    def with_track_ids(self, track_ids: NDArray[Any]) -> Detections:
        """The same detections (arrays shared, not copied) carrying ``track_ids``."""
        return Detections(self.boxes, self.scores, self.class_ids, track_ids)


def track_id_strings(dets: Detections) -> list[str]:
    """``Detection2D.id`` of each detection: the track ID in decimal, '' where there is none."""
    if dets.track_ids is None:
        return [''] * len(dets)
    return ['' if t < 0 else str(t) for t in dets.track_ids.tolist()]


def box_centres_sizes(dets: Detections) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``BoundingBox2D`` centre (x, y) and size (w, h) of each detection, in float64 as sent."""
    boxes = dets.boxes.astype(np.float64)
    return (boxes[:, :2] + boxes[:, 2:]) * 0.5, boxes[:, 2:] - boxes[:, :2]


def class_id_strings(dets: Detections, labels: Sequence[str], class_id_mode: str) -> list[str]:
    """``ObjectHypothesis.class_id`` of each detection.

    Its label under ``class_id_mode: name`` where the label list has one, else the class index
    in decimal.
    """
    named = class_id_mode == 'name'
    return [labels[i] if named and 0 <= i < len(labels) else str(i)
            for i in dets.class_ids.tolist()]
