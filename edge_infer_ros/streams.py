"""Per-camera input/output naming and the latest-frame slot between subscription and worker.

ROS-free: holds whatever message object the subscription delivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import threading
from typing import Any

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.stats import StageStats

__all__ = ['CameraPlan', 'FrameSlot', 'plan_cameras']


@dataclass(frozen=True)
class CameraPlan:
    """Where one camera's images come from and where its outputs go (relative names)."""

    image_topic: str
    compressed: bool
    detections_topic: str
    debug_topic: str


def _camera_namespace(topic: str) -> str:
    base = topic.removesuffix('/compressed')
    return base.rpartition('/')[0]


def plan_cameras(topics: tuple[str, ...], transport: str) -> tuple[CameraPlan, ...]:
    """Name each camera's outputs after the namespace of its image topic.

    ``transport`` compressed subscribes to ``<topic>/compressed`` as image_transport publishes it.

    ``image_raw`` gives ``detections``; ``front/image_raw`` gives ``front/detections``. When two
    cameras share a namespace, the image topic itself becomes the prefix
    (``image_rect/detections``) so outputs never collide.
    """
    namespaces = [_camera_namespace(t) for t in topics]
    plans = []
    for topic, namespace in zip(topics, namespaces, strict=True):
        if namespaces.count(namespace) > 1:
            namespace = topic.removesuffix('/compressed')
        prefix = f'{namespace}/' if namespace else ''
        compressed = topic.endswith('/compressed') if transport == 'auto' else (
            transport == 'compressed')
        if compressed and not topic.endswith('/compressed'):
            topic = f'{topic}/compressed'  # image_transport's name for the JPEG/PNG stream
        plans.append(CameraPlan(topic, compressed, f'{prefix}detections', f'{prefix}debug_image'))
    outputs = [p.detections_topic for p in plans]
    if len(set(outputs)) != len(outputs):
        msg = f'image_topics {list(topics)!r} map to clashing output topics {outputs!r}'
        raise ConfigError(msg)
    return tuple(plans)


@dataclass
class FrameSlot:
    """Holds only the newest unprocessed frame of one camera; replacing one counts a drop.

    Keeps latency bounded when frames arrive faster than inference: the worker always takes the
    freshest image instead of working through a growing queue.
    """

    stats: StageStats = field(default_factory=StageStats)
    _frame: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, frame: Any) -> None:
        """Store ``frame``, dropping (and counting) an older one not yet taken."""
        with self._lock:
            if self._frame is not None:
                self.stats.dropped += 1
            self._frame = frame
        self.stats.received.tick()

    def take(self) -> Any:
        """Return and clear the pending frame, or None."""
        with self._lock:
            frame, self._frame = self._frame, None
            return frame

    def clear(self) -> None:
        """Forget a pending frame (on deactivate)."""
        with self._lock:
            self._frame = None
