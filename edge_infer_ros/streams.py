"""Per-camera input/output naming, and the frame slot between intake and worker.

ROS-free: a slot holds whatever the subscription delivered (a serialized message and its
middleware info in the node); :class:`SkipCounter` reads the middleware's publication sequence
numbers to count frames that were replaced before anyone took them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import threading
from typing import Any

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.stats import StageStats

__all__ = ['CameraPlan', 'FrameSlot', 'PendingFrame', 'SkipCounter', 'plan_cameras']


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


@dataclass(frozen=True)
class PendingFrame:
    """One frame waiting for the worker.

    Attributes:
        data: the message as delivered (serialized bytes for the node's raw subscriptions).
        info: the middleware's message info (sequence number, timestamps), or None.
        taken: ``time.monotonic()`` when it was taken from the middleware.
    """

    data: Any
    info: Mapping[str, Any] | None
    taken: float


_SEQUENCE_UNSUPPORTED = 1 << 63  # rmw reports "unsupported" as the largest uint64


class SkipCounter:
    """Counts frames a publisher sent that never reached the worker, per publisher.

    With a KEEP_LAST history, frames that arrive while the worker is busy are replaced inside
    the middleware at no cost to the node; the gap in ``publication_sequence_number`` between two
    frames taken says how many. Middlewares that do not report sequence numbers count nothing.
    """

    def __init__(self) -> None:
        """Start with no publisher seen."""
        self._last: dict[Any, int] = {}

    def missed(self, info: Mapping[str, Any] | None) -> int | None:
        """Frames of this publisher between the previous frame taken and this one.

        None when this frame, or a newer one of the same publisher, was taken before: the
        same sample delivered to a second subscription (the node re-subscribing with another
        reliability keeps the old subscription until the new one is matched). A publisher
        that restarts has a new GID, so its sequence starting again is no repeat; without a GID
        in ``info`` nothing is taken for a repeat.
        """
        if not info:
            return 0
        seq = info.get('publication_sequence_number')
        if not isinstance(seq, int) or seq <= 0 or seq >= _SEQUENCE_UNSUPPORTED:
            return 0
        gid = info.get('publisher_gid')
        data = gid.get('data') if isinstance(gid, Mapping) else None
        key = repr(gid) if data is None else bytes(data)
        last = self._last.get(key)
        if last is not None and seq <= last:
            if data is not None:
                return None
            last = None  # no GID to tell a repeat from another publisher or a restart
        self._last[key] = seq
        return 0 if last is None else seq - last - 1


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

    @property
    def empty(self) -> bool:
        """Whether no frame is waiting (read without the lock: a hint for the intake gate)."""
        return self._frame is None

    def take(self) -> Any:
        """Return and clear the pending frame, or None."""
        with self._lock:
            frame, self._frame = self._frame, None
            return frame

    def clear(self) -> None:
        """Forget a pending frame (on deactivate)."""
        with self._lock:
            self._frame = None
