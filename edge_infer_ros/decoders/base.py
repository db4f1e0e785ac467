"""What every output decoder shares: the interface, tensor descriptions and the common tail.

The tail (class filter, confidence threshold, pre-NMS top-k, NMS, max detections, mapping back to
original pixels) runs on the few candidates left after thresholding, never on every anchor, so
it costs the same whatever the head size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.config import DecoderConfig
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.decoders.nms import nms, top_k_indices
from edge_infer_ros.errors import DecoderError
from edge_infer_ros.imaging.preprocess import LetterboxTransform

__all__ = [
    'Decoder',
    'Dims',
    'TensorInfo',
    'best_class',
    'class_filter_mask',
    'class_score_candidates',
    'cxcywh_to_xyxy',
    'finish',
    'normalise_dims',
    'take_batch',
]

Dims = tuple[int | None, ...]
"""A tensor shape; ``None`` marks a dynamic (symbolic or unknown) dimension."""

TensorInfo = tuple[str, Dims]
"""A model input or output: name and shape."""


def normalise_dims(shape: Sequence[object] | None) -> Dims:
    """Turn an ONNX Runtime shape (ints, symbolic strings, None, -1) into :data:`Dims`."""
    return tuple(
        int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
        else None
        for d in (shape or ())
    )


def cxcywh_to_xyxy(boxes: NDArray[Any]) -> NDArray[Any]:
    """Convert (N, 4) centre/size boxes to a new float32 corner array."""
    b = np.asarray(boxes, dtype=np.float32)
    out = np.empty_like(b)
    half = b[:, 2:4] * 0.5
    out[:, 0:2] = b[:, 0:2] - half
    out[:, 2:4] = b[:, 0:2] + half
    return out


def class_filter_mask(class_ids: NDArray[Any], cfg: DecoderConfig) -> NDArray[Any] | None:
    """Return a boolean mask of detections whose class passes ``cfg.class_filter`` (None: all)."""
    if not cfg.class_filter:
        return None
    return np.isin(class_ids, np.asarray(cfg.class_filter, dtype=np.int64))


def finish(
    boxes: NDArray[Any],
    scores: NDArray[Any],
    class_ids: NDArray[Any],
    transform: LetterboxTransform,
    cfg: DecoderConfig,
    *,
    apply_nms: bool,
    input_pixels: bool = True,
) -> Detections:
    """Filter candidates, suppress overlaps if asked, cap, and map boxes to original pixels.

    Args:
        boxes: (N, 4) ``x1 y1 x2 y2``, in model-input pixels (or original pixels when
            ``input_pixels`` is False: then they are only clipped).
        scores: (N,) scores.
        class_ids: (N,) class indices.
        transform: the preprocessing geometry of this image.
        cfg: thresholds and limits.
        apply_nms: run NMS (False for heads that are NMS-free or already suppressed).
        input_pixels: whether ``boxes`` still need mapping through ``transform``.
    """
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    labels = np.asarray(class_ids).reshape(-1)
    if labels.dtype.kind == 'f':  # Some exports emit class ids as floats.
        labels = np.rint(labels)
    class_ids = labels.astype(np.int32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    # NaN/inf from a broken model must not reach the output; NaN scores fail >= already.
    keep = (scores >= cfg.confidence_threshold) & np.isfinite(boxes).all(axis=1)
    mask = class_filter_mask(class_ids, cfg)
    if mask is not None:
        keep &= mask
    idx = np.flatnonzero(keep)
    if apply_nms:
        groups = None if cfg.class_agnostic_nms else class_ids[idx]
        order = nms(
            boxes[idx], scores[idx], cfg.iou_threshold, class_ids=groups,
            top_k=cfg.pre_nms_top_k, max_detections=cfg.max_detections,
        )
    else:
        order = top_k_indices(scores[idx], cfg.max_detections)
    idx = idx[order]
    if input_pixels:
        out_boxes = transform.boxes_to_original(boxes[idx])
    else:
        out_boxes = transform.clip(boxes[idx].copy())
    return Detections(out_boxes, scores[idx], class_ids[idx])


def take_batch(output: NDArray[Any], batch_index: int, ndim: int, what: str) -> NDArray[Any]:
    """Return ``output[batch_index]`` after checking rank and range (``DecoderError`` if off)."""
    arr = np.asarray(output)
    if arr.ndim != ndim:
        msg = f'{what} output must have {ndim!r} dimensions, got shape {arr.shape!r}.'
        raise DecoderError(msg)
    if not 0 <= batch_index < arr.shape[0]:
        msg = f'batch_index {batch_index!r} is out of range for {what} output {arr.shape!r}.'
        raise DecoderError(msg)
    picked: NDArray[Any] = arr[batch_index]
    return picked


def best_class(
    scores: NDArray[Any], cfg: DecoderConfig, num_classes: int, axis: int
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Return the best score and class per candidate over the classes ``cfg`` allows.

    ``scores`` holds one class per index along ``axis``; the class filter is applied before the
    maximum so a filtered-out class never hides an allowed one.
    """
    if cfg.class_filter:
        ids = np.asarray(cfg.class_filter, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= num_classes:
            msg = (
                f'class_filter {cfg.class_filter!r} is out of range for a model with '
                f'{num_classes!r} classes.'
            )
            raise DecoderError(msg)
        scores = np.take(scores, ids, axis=axis)
        local = scores.argmax(axis=axis)
        return scores.max(axis=axis), ids[local].astype(np.int32)
    return scores.max(axis=axis), scores.argmax(axis=axis).astype(np.int32)


def class_score_candidates(
    scores: NDArray[Any], cfg: DecoderConfig,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Candidates of a ``[nc, N]`` class-score head: their indices, best scores and classes.

    One vectorised maximum over the classes picks the few candidates at the threshold (after
    the class filter, and only the best ``pre_nms_top_k`` of them); only those get their class
    argmax taken. ``scores`` is float32, possibly a transposed view.
    """
    nc = scores.shape[0]
    best, _ = (best_class(scores, cfg, nc, axis=0) if cfg.class_filter
               else (scores.max(axis=0), None))
    cand = np.flatnonzero(best >= cfg.confidence_threshold)
    if 0 < cfg.pre_nms_top_k < cand.size:
        cand = cand[top_k_indices(best[cand], cfg.pre_nms_top_k)]
    conf, cls = best_class(scores[:, cand], cfg, nc, axis=0)
    return cand, conf, cls


Tensors = dict[str, NDArray[Any]]
"""One image's output tensors by role (``pred`` for single-tensor heads)."""


class Decoder(ABC):
    """Turns one image's model outputs into :class:`Detections` in original pixels.

    Instances are built by :func:`edge_infer_ros.decoders.select_decoder`, which knows the
    output order; ``decode`` receives the outputs in the session's output order.
    """

    name: ClassVar[str]
    """The ``output_format`` this decoder implements."""

    @property
    def extra_input_names(self) -> tuple[str, ...]:
        """Model inputs besides the image that :meth:`extra_inputs` provides."""
        return ()

    def extra_inputs(
        self, transform: LetterboxTransform, batch_size: int = 1
    ) -> dict[str, NDArray[Any]]:
        """Return the additional model inputs this image needs (none for most formats)."""
        del transform, batch_size
        return {}

    def decode(
        self,
        outputs: Sequence[NDArray[Any]],
        transform: LetterboxTransform,
        cfg: DecoderConfig,
        batch_index: int = 0,
    ) -> Detections:
        """Decode image ``batch_index`` of ``outputs`` (the session's outputs, in order).

        Every format splits into the same two steps: pick this image's tensors out of the batch
        (checking ranks), then turn them into detections.

        Raises:
            DecoderError: the outputs do not have the layout this decoder expects.
        """
        return self._decode_image(self._pick(outputs, batch_index), transform, cfg)

    @abstractmethod
    def _pick(self, outputs: Sequence[NDArray[Any]], batch_index: int) -> Tensors:
        """Return image ``batch_index``'s tensors by role, rank and batch range checked."""

    @abstractmethod
    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        """Turn one image's tensors into detections in original-image pixels."""

    def __repr__(self) -> str:
        """Name the format (used in logs)."""
        return f'{type(self).__name__}({self.name!r})'
