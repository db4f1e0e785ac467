"""Detections to and from rosbags-typed ``vision_msgs/Detection2DArray`` messages (ROS-free).

The node's ``conversions.py`` does the same with rclpy message classes; here the classes come
from a rosbags type store, so bags are written and read on machines without ROS. Class ids are
written exactly as the node writes them (``class_id_mode``), and read back through a
:class:`ClassIndex` shared by every source of one evaluation, so a class name means one id no
matter whether it came from the model, a ground-truth topic, a COCO file or another run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rosbags.typesys.store import Typestore

from edge_infer_ros.decoders.detections import (
    Detections,
    box_centres_sizes,
    class_id_strings,
    track_id_strings,
)

__all__ = [
    'ClassIndex',
    'FrameKey',
    'NamedBoxes',
    'detection_array',
    'frame_key',
    'named_boxes_from_msg',
    'ros2_header',
]

FrameKey = tuple[int, str]
"""``(header stamp ns, frame_id)``: what images, detections and ground truth are matched by."""

_EXTRA_CLASS_BASE = 1 << 20  # ids for names the model does not know, clear of any real class id


@dataclass(frozen=True, eq=False)
class NamedBoxes:
    """Boxes whose classes are still names (strings), as read from a message or file.

    Attributes:
        boxes: (N, 4) float32 ``x1 y1 x2 y2`` pixels.
        scores: (N,) float32.
        names: N class names (or ids written as decimal strings).
        ids: N object or track IDs (``Detection2D.id``, '' where unset), or () when the source
            has none at all.
    """

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    names: tuple[str, ...]
    ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        """Return the number of boxes."""
        return len(self.names)


class ClassIndex:
    """Class name <-> integer id for one evaluation, seeded with the model's labels.

    A name the model knows gets its label index; a decimal string is taken as an id (the node's
    ``class_id_mode: id``); any other name gets a new id above every model class.
    """

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self.labels = list(labels)
        self._ids = {name: i for i, name in enumerate(self.labels)}
        self._extra: dict[int, str] = {}

    def id_of(self, name: str) -> int:
        """Return the id of ``name``, assigning a new one to a name never seen."""
        known = self._ids.get(name)
        if known is not None:
            return known
        if name.lstrip('-').isdigit():
            return int(name)
        new = _EXTRA_CLASS_BASE + len(self._extra)
        self._extra[new] = name
        self._ids[name] = new
        return new

    def name(self, class_id: int) -> str:
        """Return the readable name of ``class_id``."""
        class_id = int(class_id)
        if 0 <= class_id < len(self.labels):
            return self.labels[class_id]
        return self._extra.get(class_id, str(class_id))

    def detections(self, named: NamedBoxes) -> Detections:
        """Turn names into ids; boxes and scores are kept as they are.

        Decimal ``Detection2D.id`` values (the node's track IDs) become ``track_ids``, other or
        empty ones -1; a message without any ID gives none.
        """
        ids = np.array([self.id_of(n) for n in named.names], dtype=np.int32)
        tracks = None
        if any(named.ids):
            tracks = np.array([int(i) if i.isdigit() else -1 for i in named.ids], np.int64)
        return Detections(named.boxes, named.scores, ids, tracks)


def frame_key(header: Any) -> FrameKey:
    """The matching key of a message header (ROS 1 and ROS 2 headers alike)."""
    stamp = header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec), str(header.frame_id)


def _center(bbox: Any) -> tuple[float, float]:
    center = bbox.center
    point = getattr(center, 'position', center)  # vision_msgs >= 4 nests a Point2D
    return float(point.x), float(point.y)


def _best_hypothesis(results: Sequence[Any]) -> tuple[str, float]:
    best_name, best_score = '', -np.inf
    for result in results:
        hyp = getattr(result, 'hypothesis', result)  # vision_msgs < 4 has id/score inline
        name = getattr(hyp, 'class_id', None)
        name = str(getattr(hyp, 'id', '')) if name is None else str(name)
        if float(hyp.score) > best_score:
            best_name, best_score = name, float(hyp.score)
    return best_name, (0.0 if best_score == -np.inf else best_score)


def named_boxes_from_msg(msg: Any) -> NamedBoxes:
    """Read a Detection2DArray (any vision_msgs version): best hypothesis and ID per detection."""
    n = len(msg.detections)
    boxes = np.zeros((n, 4), np.float64)
    scores = np.zeros(n, np.float32)
    names, ids = [], []
    for i, det in enumerate(msg.detections):
        cx, cy = _center(det.bbox)
        half_w, half_h = det.bbox.size_x / 2.0, det.bbox.size_y / 2.0
        boxes[i] = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        name, scores[i] = _best_hypothesis(det.results)
        names.append(name)
        ids.append(str(getattr(det, 'id', '')))  # ROS 1 vision_msgs has no Detection2D.id
    return NamedBoxes(boxes.astype(np.float32), scores, tuple(names), tuple(ids))


def ros2_header(store: Typestore, key: FrameKey) -> Any:
    """A ``std_msgs/Header`` of ``store`` with the stamp and frame id of ``key``."""
    stamp_ns, frame_id = key
    time = store.types['builtin_interfaces/msg/Time'](
        sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return store.types['std_msgs/msg/Header'](stamp=time, frame_id=frame_id)


def detection_array(
    store: Typestore,
    header: Any,
    dets: Detections,
    labels: Sequence[str],
    class_id_mode: str = 'name',
) -> Any:
    """Build the Detection2DArray the node would publish for ``dets`` under ``header``."""
    t = store.types
    centres, sizes = box_centres_sizes(dets)
    scores = dets.scores.astype(np.float64).tolist()
    class_ids = class_id_strings(dets, labels, class_id_mode)
    detections = []
    for (cx, cy), (w, h), score, class_id, track_id in zip(
            centres.tolist(), sizes.tolist(), scores, class_ids, track_id_strings(dets),
            strict=True):
        pose = t['geometry_msgs/msg/PoseWithCovariance'](
            pose=t['geometry_msgs/msg/Pose'](
                position=t['geometry_msgs/msg/Point'](x=0.0, y=0.0, z=0.0),
                orientation=t['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0)),
            covariance=np.zeros(36, np.float64))
        hypothesis = t['vision_msgs/msg/ObjectHypothesisWithPose'](
            hypothesis=t['vision_msgs/msg/ObjectHypothesis'](
                class_id=class_id, score=score),
            pose=pose)
        bbox = t['vision_msgs/msg/BoundingBox2D'](
            center=t['vision_msgs/msg/Pose2D'](
                position=t['vision_msgs/msg/Point2D'](x=cx, y=cy), theta=0.0),
            size_x=w, size_y=h)
        detections.append(t['vision_msgs/msg/Detection2D'](
            header=header, results=[hypothesis], bbox=bbox, id=track_id))
    return t['vision_msgs/msg/Detection2DArray'](header=header, detections=detections)
