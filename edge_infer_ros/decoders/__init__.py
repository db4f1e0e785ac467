"""Model outputs to ``Detections``, one decoder per head layout, with NMS and class labels.

``detections`` holds the result type, ``nms`` the OpenCV-backed suppression and ``labels`` the
class names from a labels file or the model's metadata.

Use :func:`select_decoder` once per model, then ``decoder.decode(outputs, transform, cfg)`` per
image; formats that need extra model inputs (official RT-DETR) provide them through
``decoder.extra_inputs(transform)``.
"""

from edge_infer_ros.decoders.base import Decoder, TensorInfo
from edge_infer_ros.decoders.boxes_scores import BoxesScoresDecoder, RfDetrDecoder
from edge_infer_ros.decoders.dense import (
    End2EndDecoder,
    RtDetrUltralyticsDecoder,
    YoloV5Decoder,
    YoloV8Decoder,
    YoloxDecoder,
)
from edge_infer_ros.decoders.named import (
    EfficientNmsDecoder,
    RtDetrOfficialDecoder,
    TfObjectDetectionDecoder,
    TorchvisionDecoder,
)
from edge_infer_ros.decoders.select import select_decoder

__all__ = [
    'BoxesScoresDecoder',
    'Decoder',
    'EfficientNmsDecoder',
    'End2EndDecoder',
    'RfDetrDecoder',
    'RtDetrOfficialDecoder',
    'RtDetrUltralyticsDecoder',
    'TensorInfo',
    'TfObjectDetectionDecoder',
    'TorchvisionDecoder',
    'YoloV5Decoder',
    'YoloV8Decoder',
    'YoloxDecoder',
    'select_decoder',
]
