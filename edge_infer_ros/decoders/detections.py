"""The result of one image through the detector, in original image pixels.

A plain frozen dataclass of three aligned numpy arrays, so decoders, NMS, the ROS conversions and
the evaluation tools all share one representation without copying per detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ['Detections']


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections of one image, sorted by descending score.

    Attributes:
        boxes: (N, 4) float32, ``x1 y1 x2 y2`` in original image pixels.
        scores: (N,) float32 confidence in [0, 1] for most models.
        class_ids: (N,) int32 model class index.
    """

    boxes: NDArray[Any]
    scores: NDArray[Any]
    class_ids: NDArray[Any]

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
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index])
