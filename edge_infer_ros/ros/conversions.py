"""Numpy detections and images to and from ROS messages (the only message-aware module)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from edge_infer_ros.decoders.detections import (
    Detections,
    box_centres_sizes,
    class_id_strings,
    track_id_strings,
)

__all__ = [
    'detections_to_msg',
    'draw_detections',
    'image_to_msg',
    'label_info_msg',
]


def detections_to_msg(
    dets: Detections,
    header: Header,
    labels: Sequence[str],
    class_id_mode: str = 'name',
) -> Detection2DArray:
    """Build a Detection2DArray whose header (stamp, frame_id) is the source image's.

    ``Detection2D.id`` carries the track ID as a decimal string where a tracker gave one, and
    stays empty otherwise.
    """
    out = Detection2DArray(header=header)
    centres, sizes = box_centres_sizes(dets)
    scores = dets.scores.astype(np.float64).tolist()
    names = class_id_strings(dets, labels, class_id_mode)
    track_ids = track_id_strings(dets)
    for i, name in enumerate(names):
        det = Detection2D(header=header, id=track_ids[i])
        det.bbox.center.position.x = float(centres[i, 0])
        det.bbox.center.position.y = float(centres[i, 1])
        det.bbox.size_x = float(sizes[i, 0])
        det.bbox.size_y = float(sizes[i, 1])
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = name
        hyp.hypothesis.score = scores[i]
        det.results.append(hyp)
        out.detections.append(det)
    return out


def label_info_msg(labels: Sequence[str], threshold: float, header: Header) -> LabelInfo:
    """Class map and score threshold, published once per configuration."""
    msg = LabelInfo(header=header, threshold=float(threshold))
    msg.class_map = [VisionClass(class_id=i, class_name=name) for i, name in enumerate(labels)]
    return msg


def image_to_msg(image: np.ndarray, header: Header, encoding: str = 'bgr8') -> Image:
    """Wrap a contiguous HxWx3 uint8 array as a sensor_msgs/Image."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    msg = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0)
    msg.step = width * channels * image.itemsize
    msg.data = image.tobytes()
    return msg


_PALETTE = np.array(
    [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
     (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0)],
    dtype=np.uint8,
)


def draw_detections(bgr: np.ndarray, dets: Detections, labels: Sequence[str]) -> np.ndarray:
    """Return a copy of ``bgr`` with boxes and ``[#track] label score`` captions drawn."""
    canvas = np.array(bgr, copy=True)
    for box, score, cid, track in zip(dets.boxes.astype(int), dets.scores, dets.class_ids,
                                      track_id_strings(dets), strict=True):
        colour = tuple(int(c) for c in _PALETTE[int(cid) % len(_PALETTE)])
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        name = labels[cid] if 0 <= cid < len(labels) else str(int(cid))
        caption = f'#{track} {name} {score:.2f}' if track else f'{name} {score:.2f}'
        cv2.putText(canvas, caption, (x1, max(y1 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return canvas
