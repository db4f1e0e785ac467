"""The last gate before detections leave the pipeline: only values a detector can mean.

A model whose layout was misread (a forced ``output_format`` that slipped past the shape check,
a head exported without its sigmoid) yields scores of thousands and class ids past the label
list. Such detections are dropped and counted, never published: consumers of
``vision_msgs/ObjectHypothesis`` rely on a score in [0, 1] and a class the labels name.
"""

from __future__ import annotations

import numpy as np

from edge_infer_ros.decoders.detections import Detections

__all__ = ['OutputCheck']


class OutputCheck:
    """Drops detections with a score outside [0, 1] or a class id outside the label list.

    ``num_classes`` of 0 means the labels are unknown: then only negative ids are refused.
    ``dropped`` counts what was refused so far (read by reports and diagnostics).
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.dropped = 0

    def __call__(self, dets: Detections) -> Detections:
        """Return ``dets`` without the impossible ones (the same object when all are fine)."""
        scores, ids = dets.scores, dets.class_ids
        ok = (scores >= 0.0) & (scores <= 1.0) & (ids >= 0)
        if self.num_classes:
            ok &= ids < self.num_classes
        if bool(ok.all()):
            return dets
        self.dropped += int(ok.size - np.count_nonzero(ok))
        return dets.select(ok)
