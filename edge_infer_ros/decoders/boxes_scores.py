"""Decoders for heads split into a box output and a score output.

YOLO-NAS (exported without NMS) and DAMO-YOLO end in two tensors: ``[B, N, 4]`` boxes
``x1 y1 x2 y2`` in input pixels and ``[B, N, nc]`` class scores (some exporters write the scores
channels-first, ``[B, nc, N]``), one row per dense candidate, before NMS. Read as one YOLOv8
tensor, the first four class scores would become the box; so the pair is recognised by its
shapes: the same N candidates in both, 4 values per candidate in one.

RF-DETR (and LW-DETR) export the same pair for a few hundred queries, named ``dets`` and
``labels``, but with boxes ``cx cy w h`` as fractions of the input and class logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.config import DecoderConfig
from edge_infer_ros.decoders.base import (
    Decoder,
    Dims,
    TensorInfo,
    Tensors,
    class_score_candidates,
    cxcywh_to_xyxy,
    finish,
    take_batch,
)
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.imaging.preprocess import LetterboxTransform

__all__ = ['BoxesScoresDecoder', 'RfDetrDecoder', 'find_boxes_scores']


def _pairs(boxes: Dims, scores: Dims) -> bool | None:
    """None if ``scores`` does not score the candidates of ``boxes``; else channels-first."""
    if len(boxes) != 3 or len(scores) != 3 or boxes[2] != 4:
        return None
    n = boxes[1]
    if scores[1] == n and scores[2] is not None:
        return False
    if n is not None and scores[2] == n and scores[1] is not None:
        return True
    return None


def find_boxes_scores(outputs: Sequence[TensorInfo]) -> tuple[int, int, bool] | None:
    """``(boxes index, scores index, scores channels-first)`` when two outputs form the pair.

    Exactly two outputs, both 3-D; when both could be the boxes (4 classes), the one whose name
    says ``box`` is.
    """
    if len(outputs) != 2:
        return None
    found = []
    for b, s in ((0, 1), (1, 0)):
        first = _pairs(outputs[b][1], outputs[s][1])
        if first is not None:
            found.append((b, s, first))
    if len(found) == 2:
        found = [f for f in found if 'box' in outputs[f[0]][0].lower()]
    return found[0] if len(found) == 1 else None


class BoxesScoresDecoder(Decoder):
    """``[B, N, 4]`` xyxy boxes in input pixels and ``[B, N, nc]`` (or ``[B, nc, N]``) scores."""

    name = 'boxes_scores'

    def __init__(self, boxes_index: int, scores_index: int, *,
                 channels_first: bool = False) -> None:
        """Remember which output holds what, and the scores' orientation."""
        self.boxes_index = boxes_index
        self.scores_index = scores_index
        self.channels_first = channels_first

    def _pick(self, outputs: Sequence[NDArray[Any]], batch_index: int) -> Tensors:
        return {
            'boxes': take_batch(outputs[self.boxes_index], batch_index, 3, 'boxes_scores boxes'),
            'scores': take_batch(outputs[self.scores_index], batch_index, 3,
                                 'boxes_scores scores'),
        }

    def _by_candidate(self, tensors: Tensors) -> NDArray[Any]:
        """The scores as ``[N, nc]``, a view when the model wrote them so."""
        scores = tensors['scores']
        return scores.T if self.channels_first else scores

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        scores = self._by_candidate(tensors).T  # [nc, N], a view
        if scores.dtype != np.float32:
            scores = scores.astype(np.float32)
        cand, conf, cls = class_score_candidates(scores, cfg)
        return finish(tensors['boxes'][cand], conf, cls, transform, cfg, apply_nms=True)


class RfDetrDecoder(BoxesScoresDecoder):
    """RF-DETR / LW-DETR: ``dets`` [B, Q, 4] normalised ``cx cy w h``, ``labels`` [B, Q, C] logits.

    Like the reference post-processing, every (query, class) pair whose sigmoid score passes
    the threshold is a detection (the best ``max_detections`` of them); the queries are already
    one per object, so there is no NMS. The class ids are the model's own (COCO checkpoints use
    the 91 COCO category ids): pair them with a matching ``labels_path``.
    """

    name = 'rfdetr'

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        logits = self._by_candidate(tensors)
        # sigmoid(x) >= t  <=>  x >= logit(t): threshold the logits, then score the few left.
        t = min(max(cfg.confidence_threshold, 1e-7), 1 - 1e-7)
        query, cls = np.nonzero(logits >= np.log(t / (1 - t)))
        scores = 1.0 / (1.0 + np.exp(-logits[query, cls].astype(np.float32)))
        boxes = cxcywh_to_xyxy(tensors['boxes'][query])
        boxes[:, 0::2] *= transform.input_width
        boxes[:, 1::2] *= transform.input_height
        return finish(boxes, scores, cls, transform, cfg, apply_nms=False)
