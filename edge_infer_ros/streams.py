"""Per-camera input/output naming, and the frame slot between intake and worker.

ROS-free: a slot holds whatever the subscription delivered (a serialized message and its
middleware info in the node); :class:`SkipCounter` reads the middleware's publication sequence
numbers to count frames that were replaced before anyone took them.
"""

from __future__ import annotations

from collections import deque
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
    """The frames of one camera waiting for the worker, oldest first; usually just the newest.

    Keeps latency bounded when frames arrive faster than inference: a new frame replaces the
    ones not yet taken, so the worker takes the freshest image instead of working through a
    growing queue. Only a catch-up after the worker sat idle (:meth:`put` of several frames:
    a burst the transport delivered at once) is worked through in order.
    """

    stats: StageStats = field(default_factory=StageStats)
    _frames: deque[Any] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, *frames: Any) -> None:
        """Queue ``frames`` (oldest first), dropping (and counting) those not yet taken."""
        with self._lock:
            self.stats.dropped += len(self._frames)
            self._frames.clear()
            self._frames.extend(frames)
        self.stats.received.tick(count=len(frames))

    @property
    def empty(self) -> bool:
        """Whether no frame is waiting (read without the lock: a hint for the intake gate)."""
        return not self._frames

    def take(self) -> Any:
        """Return and remove the oldest waiting frame, or None."""
        with self._lock:
            return self._frames.popleft() if self._frames else None

    def clear(self) -> None:
        """Forget the waiting frames (on deactivate)."""
        with self._lock:
            self._frames.clear()
