"""Decoders for named outputs: official RT-DETR/D-FINE, EfficientNMS, TF OD API, torchvision.

These models have already suppressed duplicates (or are NMS-free), so decoding is picking the
right output for each role, thresholding, filtering and capping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.config import DecoderConfig
from edge_infer_ros.decoders.base import Decoder, TensorInfo, Tensors, finish, take_batch
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import DecoderError
from edge_infer_ros.imaging.preprocess import LetterboxTransform

__all__ = [
    'EfficientNmsDecoder',
    'RtDetrOfficialDecoder',
    'TfObjectDetectionDecoder',
    'TorchvisionDecoder',
    'assign_roles',
]

# Checked in this order, so 'num_detections' is a count before 'detection_boxes' is boxes.
_ROLE_WORDS = (
    ('count', ('num', 'count')),
    ('boxes', ('box', 'bbox')),
    ('scores', ('score', 'conf', 'prob')),
    ('labels', ('label', 'class', 'cls')),
)

_RANKS = {'count': 2, 'boxes': 3, 'scores': 2, 'labels': 2}
"""Rank of each role's batched output."""


def assign_roles(outputs: Sequence[TensorInfo], roles: Sequence[str]) -> dict[str, int] | None:
    """Map each wanted role to the index of the one output whose name says it, or return None.

    Roles are ``count``, ``boxes``, ``scores`` and ``labels``; names are matched by keywords
    (``det_boxes``, ``detection_classes``, ``num_dets`` ...). Every output must take a role the
    format has, and every role exactly one output.
    """
    found: dict[str, int] = {}
    for index, (name, _) in enumerate(outputs):
        lower = name.lower()
        role = next((r for r, words in _ROLE_WORDS if any(w in lower for w in words)), None)
        if role is None or role not in roles or role in found:
            return None
        found[role] = index
    return found if set(found) == set(roles) else None


class _Named(Decoder):
    """A decoder reading outputs by role."""

    roles: tuple[str, ...] = ()

    def __init__(self, roles: Mapping[str, int]) -> None:
        """Remember the output index of each role (see :func:`assign_roles`)."""
        missing = [r for r in self.roles if r not in roles]
        if missing:
            msg = f'{self.name} decoder needs outputs for roles {missing!r}, got {dict(roles)!r}.'
            raise DecoderError(msg)
        self.output_roles = dict(roles)

    def _get(self, outputs: Sequence[NDArray[Any]], role: str) -> NDArray[Any]:
        index = self.output_roles[role]
        if index >= len(outputs):
            msg = f'{self.name} decoder reads output #{index!r} of {len(outputs)!r} outputs.'
            raise DecoderError(msg)
        return np.asarray(outputs[index])

    def _pick(self, outputs: Sequence[NDArray[Any]], batch_index: int) -> Tensors:
        picked = {}
        for role in self.roles:
            tensor = self._get(outputs, role)
            if role == 'count' and tensor.ndim >= 1:  # [B] or [B, 1]
                tensor = tensor.reshape(tensor.shape[0], -1)
            picked[role] = take_batch(tensor, batch_index, _RANKS[role], f'{self.name} {role}')
        return picked


class RtDetrOfficialDecoder(_Named):
    """RT-DETR / D-FINE official export: extra input ``orig_target_sizes`` [B, 2] int64 (W, H).

    The model scales its boxes by that size itself, so boxes come out in original pixels and are
    not mapped through the letterbox transform. The official pipeline stretches the image to the
    input size (``letterbox: false``): then the size passed is exactly the original size. With a
    letterbox the size passed is the padded canvas in original pixels and the boxes are mapped
    back to input pixels, then through the transform.
    """

    name = 'rtdetr_official'
    roles = ('boxes', 'scores', 'labels')

    def __init__(self, roles: Mapping[str, int], size_input: str = 'orig_target_sizes') -> None:
        """Remember the output roles and the name of the size input."""
        super().__init__(roles)
        self.size_input = size_input

    @property
    def extra_input_names(self) -> tuple[str, ...]:
        """The original-size input."""
        return (self.size_input,)

    @staticmethod
    def _canvas(transform: LetterboxTransform) -> tuple[int, int]:
        """Return the model input's extent in original pixels (the original size if unpadded)."""
        return (
            round(transform.input_width / transform.scale_x),
            round(transform.input_height / transform.scale_y),
        )

    def extra_inputs(
        self, transform: LetterboxTransform, batch_size: int = 1
    ) -> dict[str, NDArray[Any]]:
        """Return ``{size_input: [[W, H]] * batch_size}`` as int64."""
        size = np.array([self._canvas(transform)], dtype=np.int64)
        return {self.size_input: np.repeat(size, batch_size, axis=0)}

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        boxes, scores, labels = tensors['boxes'], tensors['scores'], tensors['labels']
        width, height = self._canvas(transform)
        if (width, height) == (transform.orig_width, transform.orig_height) and not (
            transform.pad_x or transform.pad_y
        ):
            return finish(
                boxes, scores, labels, transform, cfg, apply_nms=False, input_pixels=False
            )
        # Letterboxed: the model scaled by the canvas size we passed; undo that exactly.
        boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        boxes[:, 0::2] *= transform.input_width / width
        boxes[:, 1::2] *= transform.input_height / height
        return finish(boxes, scores, labels, transform, cfg, apply_nms=False)


class EfficientNmsDecoder(_Named):
    """TensorRT EfficientNMS plugin: count [B, 1], boxes [B, K, 4] xyxy, scores, classes."""

    name = 'efficient_nms'
    roles = ('count', 'boxes', 'scores', 'labels')

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        boxes, scores, labels = tensors['boxes'], tensors['scores'], tensors['labels']
        n = int(np.clip(tensors['count'][0], 0, scores.shape[0]))
        return finish(self._input_boxes(boxes[:n], transform), scores[:n], labels[:n],
                      transform, cfg, apply_nms=False)

    def _input_boxes(self, boxes: NDArray[Any], transform: LetterboxTransform) -> NDArray[Any]:
        """``x1 y1 x2 y2`` in input pixels (EfficientNMS passes the model's own boxes on)."""
        return boxes


class TfObjectDetectionDecoder(EfficientNmsDecoder):
    """TensorFlow Object Detection API models (SSD, EfficientDet... converted with tf2onnx).

    Their four outputs are named like EfficientNMS's (``num_detections``, ``detection_boxes``,
    ``detection_scores``, ``detection_classes``), but the boxes are fractions of the input in
    ``ymin xmin ymax xmax`` order and the classes are the label map's ids (COCO: 1..90) stored
    as floats. Read as EfficientNMS boxes they would all land within one pixel of the image's
    corner. The model's input (uint8 NHWC, TensorFlow's layout) tells the two apart.
    """

    name = 'tf_object_detection'

    def _input_boxes(self, boxes: NDArray[Any], transform: LetterboxTransform) -> NDArray[Any]:
        yx = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(yx)
        out[:, 0::2] = yx[:, 1::2] * transform.input_width
        out[:, 1::2] = yx[:, 0::2] * transform.input_height
        return out


class TorchvisionDecoder(_Named):
    """torchvision detection models: boxes [N, 4] xyxy in input pixels, labels [N], scores [N].

    torchvision reports its own label ids (COCO models: 1..90 with 0 as background); pair them
    with a matching labels file.
    """

    name = 'torchvision'
    roles = ('boxes', 'scores', 'labels')

    def _pick(self, outputs: Sequence[NDArray[Any]], batch_index: int) -> Tensors:
        """Pick like other formats when batched; unbatched outputs are image 0."""
        if self._get(outputs, 'boxes').ndim == 3:
            return super()._pick(outputs, batch_index)
        if batch_index != 0:
            msg = f'torchvision outputs are unbatched; batch_index must be 0, got {batch_index!r}.'
            raise DecoderError(msg)
        return {role: self._get(outputs, role) for role in self.roles}

    def _decode_image(
        self, tensors: Tensors, transform: LetterboxTransform, cfg: DecoderConfig,
    ) -> Detections:
        boxes, scores, labels = tensors['boxes'], tensors['scores'], tensors['labels']
        if boxes.ndim != 2 or boxes.shape[-1] != 4 or not (
            scores.shape[0] == labels.shape[0] == boxes.shape[0]
        ):
            msg = (
                f'torchvision outputs need boxes [N, 4], scores [N], labels [N]; got '
                f'{boxes.shape!r}, {scores.shape!r}, {labels.shape!r}.'
            )
            raise DecoderError(msg)
        return finish(boxes, scores, labels, transform, cfg, apply_nms=False)
