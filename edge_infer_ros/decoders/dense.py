"""Decoders for single-tensor heads: YOLOv8/11, YOLOv5/7, YOLOX/YOLOv6, end-to-end YOLO, RT-DETR.

Dense heads (YOLOv8, YOLOv5) are thresholded before anything else: one vectorised maximum over
the class scores (or the objectness column) picks the few candidates, and only those get their
boxes decoded, their class argmax taken and NMS run. The conventional route (transpose and
argmax all 8400 anchors) does ~10x the memory traffic for the same result.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.config import DecoderConfig
from edge_infer_ros.decoders.base import (
    Decoder,
    Tensors,
    best_class,
    class_score_candidates,
    cxcywh_to_xyxy,
    finish,
    take_batch,
)
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.decoders.nms import top_k_indices
from edge_infer_ros.errors import DecoderError
from edge_infer_ros.imaging.preprocess import LetterboxTransform

__all__ = [
    'End2EndDecoder',
    'RtDetrUltralyticsDecoder',
    'YoloV5Decoder',
    'YoloV8Decoder',
    'YoloxDecoder',
    'anchor_free_strides',
    'rtdetr_scored_layout',
]


def _as_float32(arr: NDArray[Any]) -> NDArray[Any]:
    """Return float32 data; float16 reductions in numpy are ~20x slower than one cast."""
    return arr if arr.dtype == np.float32 else arr.astype(np.float32)


def _scored_rows(scores: NDArray[Any], cfg: DecoderConfig) -> NDArray[Any]:
    """Indices of rows at or above the threshold, never the all-zero padding rows.

    Exports that run NMS inside the graph (Ultralytics ``nms=True``) pad their fixed ``max_det``
    rows with zeros; a score of exactly 0 is padding even when ``confidence_threshold`` is 0.
    """
    return np.flatnonzero((scores >= cfg.confidence_threshold) & (scores > 0))


def rtdetr_scored_layout(channels: int | None, num_classes: int | None) -> bool | None:
    """Whether an Ultralytics RT-DETR output of ``channels`` values per row is ``[K, 6]``.

    Ultralytics >= 8.4 exports ``[B, K, 6]`` rows of ``cx cy w h score class`` (top-k taken in
    the graph); older releases export ``[B, Q, 4 + nc]`` per-class scores. Returns True/False
    when the shape and class count decide it, None when only the data can (6 channels with 2 or
    unknown classes).
    """
    if channels != 6:
        return False
    if num_classes is not None and num_classes != 2:
        return True
    return None


class _SingleOutput(Decoder):
    """A head read from one output tensor, ``index`` in the session's outputs."""

    def __init__(self, index: int = 0, num_classes: int | None = None) -> None:
        """Remember which output to read and, if known, how many classes the model has.

        ``num_classes`` (from the model's ``names`` metadata) lets extra trailing channels, such
        as segmentation mask coefficients, be ignored.
        """
        self.index = index
        self.num_classes = num_classes

    def _pick(self, outputs: Sequence[NDArray[Any]], batch_index: int) -> Tensors:
        return {'pred': take_batch(self._output(outputs), batch_index, 3, self.name)}

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        return self._decode_rows(tensors['pred'], transform, cfg)

    @abstractmethod
    def _decode_rows(
        self, pred: NDArray[Any], transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        """Decode the 2-D output of one image (batch axis removed)."""

    def _output(self, outputs: Sequence[NDArray[Any]]) -> NDArray[Any]:
        if not 0 <= self.index < len(outputs):
            msg = f'{self.name} decoder reads output #{self.index!r} of {len(outputs)!r} outputs.'
            raise DecoderError(msg)
        return np.asarray(outputs[self.index])

    def _classes(self, channels: int, fixed: int) -> int:
        """Return the class count given the channel count and the non-class channels."""
        nc = channels - fixed
        if self.num_classes is not None and 0 < self.num_classes <= nc:
            nc = self.num_classes
        if nc < 1:
            msg = (
                f'{self.name} output has {channels!r} channels per candidate, fewer than the '
                f'{fixed + 1!r} needed for one class.'
            )
            raise DecoderError(msg)
        return nc


class YoloV8Decoder(_SingleOutput):
    """YOLOv8/YOLO11 (Ultralytics): ``[B, 4 + nc, N]``, cx cy w h input pixels, sigmoid scores."""

    name = 'yolov8'

    def __init__(
        self, index: int = 0, num_classes: int | None = None, *, channels_last: bool = False
    ) -> None:
        """Like the base class; ``channels_last`` reads transposed ``[B, N, 4 + nc]`` exports."""
        super().__init__(index, num_classes)
        self.channels_last = channels_last

    def _decode_rows(
        self, pred: NDArray[Any], transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        if self.channels_last:
            pred = pred.T
        nc = self._classes(pred.shape[0], 4)
        cand, conf, cls = class_score_candidates(_as_float32(pred[4:4 + nc]), cfg)
        boxes = cxcywh_to_xyxy(pred[:4, cand].T)
        return finish(boxes, conf, cls, transform, cfg, apply_nms=True)


class YoloV5Decoder(_SingleOutput):
    """YOLOv5/YOLOv7: ``[B, N, 5 + nc]``, cx cy w h, objectness, class scores (all sigmoid)."""

    name = 'yolov5'

    def _decode_rows(
        self, pred: NDArray[Any], transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        nc = self._classes(pred.shape[1], 5)
        # Class scores are at most 1, so objectness alone bounds the final score.
        cand = np.flatnonzero(pred[:, 4] >= cfg.confidence_threshold)
        rows = _as_float32(pred[cand, : 5 + nc])
        conf, cls = best_class(rows[:, 5:] * rows[:, 4:5], cfg, nc, axis=1)
        keep = np.flatnonzero(conf >= cfg.confidence_threshold)
        if 0 < cfg.pre_nms_top_k < keep.size:
            keep = keep[top_k_indices(conf[keep], cfg.pre_nms_top_k)]
        boxes = cxcywh_to_xyxy(self._centre_boxes(pred, cand[keep], rows[keep, :4], transform))
        return finish(boxes, conf[keep], cls[keep], transform, cfg, apply_nms=True)

    def _centre_boxes(
        self, pred: NDArray[Any], rows: NDArray[Any], boxes: NDArray[Any],
        transform: LetterboxTransform,
    ) -> NDArray[Any]:
        """``cx cy w h`` in input pixels of the candidate ``rows`` (YOLOv5 exports them so)."""
        return boxes


def anchor_free_strides(height: int, width: int) -> dict[int, tuple[int, ...]]:
    """Cell count -> strides of the anchor-free heads at this input size (P3-P5 and P3-P6)."""
    counts: dict[int, tuple[int, ...]] = {}
    for strides in ((8, 16, 32), (8, 16, 32, 64)):
        cells = sum(-(-height // s) * -(-width // s) for s in strides)
        counts.setdefault(cells, strides)
    return counts


class YoloxDecoder(YoloV5Decoder):
    """YOLOX and YOLOv6: ``[B, N, 5 + nc]`` over the anchor-free cells, one row per cell.

    Rows hold box, objectness and class scores like YOLOv5's, but YOLOX's own export (its
    default, ``decode_in_inference`` off) leaves the boxes as grid regressions: ``x y`` offsets
    in cells and ``log(w h / stride)``, which only the cell and stride of each row turn into
    pixels. Exports that decode in the graph (YOLOX with ``--decode_in_inference``, YOLOv6) give
    pixels. Which of the two a frame holds is read from the data: decoded centres reach across
    the input, raw offsets stay within a few cells, so a centre column whose maximum is below
    :data:`_RAW_LIMIT` is raw. Misreading raw boxes as pixels would publish every object as a
    speck in the image's top-left corner.
    """

    name = 'yolox'
    _RAW_LIMIT = 8.0

    def __init__(self, index: int = 0, num_classes: int | None = None) -> None:
        """Like the base class; the cell grid is built once per input size and cached."""
        super().__init__(index, num_classes)
        self._grids: dict[tuple[int, int, int], tuple[NDArray[Any], NDArray[Any]]] = {}

    def _centre_boxes(
        self, pred: NDArray[Any], rows: NDArray[Any], boxes: NDArray[Any],
        transform: LetterboxTransform,
    ) -> NDArray[Any]:
        if not pred.shape[0] or float(pred[:, 0].max()) >= self._RAW_LIMIT:
            return boxes
        cells, stride = self._grid(pred.shape[0], transform.input_height, transform.input_width)
        out = np.empty_like(boxes)
        out[:, :2] = (boxes[:, :2] + cells[rows]) * stride[rows]
        out[:, 2:] = np.exp(np.minimum(boxes[:, 2:], 20.0)) * stride[rows]
        return out

    def _grid(self, n: int, height: int, width: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Each row's cell ``(x, y)`` and stride, row-major per level from stride 8 up."""
        key = (n, height, width)
        if key not in self._grids:
            strides = anchor_free_strides(height, width).get(n)
            if strides is None:
                msg = (f'yolox output has {n!r} rows, not the cells of strides 8-32 (or 8-64) '
                       f'at the {width!r}x{height!r} input: cannot place its raw boxes.')
                raise DecoderError(msg)
            cells, stride = [], []
            for s in strides:
                ys, xs = np.mgrid[0:-(-height // s), 0:-(-width // s)]
                cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
                stride.append(np.full((xs.size, 1), s))
            self._grids[key] = (np.concatenate(cells).astype(np.float32),
                                np.concatenate(stride).astype(np.float32))
        return self._grids[key]


class End2EndDecoder(_SingleOutput):
    """NMS-free YOLO (YOLOv10, YOLO26, Ultralytics ``nms=True``): ``[B, K, 6]`` boxes xyxy.

    Rows may carry extra trailing values (mask coefficients of ``-seg`` exports); they are
    ignored. Zero-score rows are the padding of in-graph NMS and never become detections.
    """

    name = 'end2end'

    def _decode_rows(
        self, pred: NDArray[Any], transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        if pred.shape[1] < 6:
            msg = f'end2end rows need 6 values (x1 y1 x2 y2 score class), got {pred.shape!r}.'
            raise DecoderError(msg)
        cand = _scored_rows(pred[:, 4], cfg)
        rows = _as_float32(pred[cand, :6])
        cls = np.rint(rows[:, 5]).astype(np.int32)
        return finish(rows[:, :4], rows[:, 4], cls, transform, cfg, apply_nms=False)


class RtDetrUltralyticsDecoder(_SingleOutput):
    """RT-DETR exported by Ultralytics, boxes cx cy w h normalised to the input size.

    Two layouts exist: ``[B, K, 6]`` rows of ``cx cy w h score class`` (Ultralytics >= 8.4, top-k
    inside the graph) and ``[B, Q, 4 + nc]`` per-class scores (earlier releases). The shape and
    the metadata class count tell them apart; only a 6-channel output of a 2-class (or unnamed)
    model is decided from the data: a ``class`` column of whole non-negative numbers.
    """

    name = 'rtdetr_ultralytics'

    def _scored(self, pred: NDArray[Any]) -> bool:
        known = rtdetr_scored_layout(pred.shape[1], self.num_classes)
        if known is not None:
            return known
        labels = pred[:, 5]
        return bool(labels.size) and bool(np.all((labels >= 0) & (labels == np.rint(labels))))

    def _decode_rows(
        self, pred: NDArray[Any], transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        if self._scored(pred):
            cand = _scored_rows(pred[:, 4], cfg)
            rows = _as_float32(pred[cand, :6])
            conf, cls = rows[:, 4], np.rint(rows[:, 5]).astype(np.int32)
            boxes = cxcywh_to_xyxy(rows[:, :4])
        else:
            nc = self._classes(pred.shape[1], 4)
            conf, cls = best_class(_as_float32(pred[:, 4:4 + nc]), cfg, nc, axis=1)
            cand = np.flatnonzero(conf >= cfg.confidence_threshold)
            conf, cls = conf[cand], cls[cand]
            boxes = cxcywh_to_xyxy(pred[cand, :4])
        boxes[:, 0::2] *= transform.input_width
        boxes[:, 1::2] *= transform.input_height
        return finish(boxes, conf, cls, transform, cfg, apply_nms=False)
