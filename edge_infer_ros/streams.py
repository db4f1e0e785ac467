"""Per-camera input/output naming, and the frame slot between intake and worker.

ROS-free: a slot holds whatever the subscription delivered (a serialized message and its
middleware info in the node); :class:`SkipCounter` reads the middleware's publication sequence
numbers to count frames that were replaced before anyone took them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import threading
import time
from typing import Any

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.stats import StageStats

__all__ = ['STALL_WINDOW_S', 'CameraPlan', 'DeliveryWatch', 'FrameSlot', 'PendingFrame',
           'SkipCounter', 'plan_cameras']


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


STALL_WINDOW_S = 10.0
"""The span :meth:`DeliveryWatch.recent` reports on (and the diagnostics keys name)."""


class DeliveryWatch:
    """Counts delivery stalls: long waits for a camera's frames that never reached the node.

    Why: over Fast DDS's default transport a large image (a raw 640x480 frame already) is split
    into fragments that pass through the sender's 0.5 MB shared-memory segment; under load some
    are lost, the reliable protocol repairs them hundreds of milliseconds later or the writer
    gives the frame up, so frames come late or never (docs/benchmarks.md, camera streams). A
    node that keeps only the newest frame idles through each stall: at 1080p about half the
    frames a camera on those defaults sends are lost to it. The node cannot repair that from
    its side (the sender's segment is the one that matters); the camera's process needs the
    large-image profile, and this watch is what lets the node say so (and work through the
    bursts meanwhile: ``DetectorNode._keep``).

    A stall: the worker was ready for this camera's next frame (its slot empty, nothing waiting
    in the middleware) for at least ``min_wait_s`` and three of the camera's frame periods, and
    the frame that ended the wait is not the next one the camera published (its publication
    sequence number advanced by two or more) while nothing older was waiting with it in the
    node's history: a frame existed during the wait but never reached the node (given up after
    lost fragments, or lost on a best-effort subscription). Frames that did reach the history
    and waited there were late in the node's own process (a busy executor), not in the
    middleware: no stall. A camera that pauses publishes nothing meanwhile: ending a pause is no
    stall; a slow camera's single lost frame is shorter than three periods. The period is the
    median of recent gaps between frames taken, per frame published. Telling these apart needs
    sequence numbers (none on Humble: nothing is counted) and a history of two frames or more
    (``history_depth``; with one, a frame replaced in the node's own history looks the same).
    Frames of several publishers on one topic can be counted as stalls (drains mix them).
    """

    _PERIODS = 3.0
    _PERIOD_SAMPLES = 16

    def __init__(self, min_wait_s: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        """``clock``: monotonic seconds (a test's own clock)."""
        self._min_wait = min_wait_s
        self.history_depth = 0
        """The image subscription's KEEP_LAST depth, set when it is created."""
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting_since: float | None = None
        self._last_arrival: float | None = None
        self._periods: deque[float] = deque(maxlen=self._PERIOD_SAMPLES)
        self._recent: deque[tuple[float, float]] = deque()  # (when, wait in s), oldest first
        self.count = 0
        """Stalls since the node was configured."""
        self.judged = 0
        """Waits that ended with a frame and were judged (stalls or not)."""

    def waiting(self) -> None:
        """The worker is ready for this camera's next frame and none is waiting for it."""
        if self.history_depth < 2:
            return
        with self._lock:
            if self._waiting_since is None:
                self._waiting_since = self._clock()

    def arrived(self, published: int, drained: int = 0) -> float | None:
        """A frame of this camera was taken; return the wait (s) if it ended a stall.

        Args:
            published: frames the camera published since the one taken before, this one
                included (1: the next frame; 0 or 1 when sequence numbers are unknown).
            drained: older frames taken from the history with it (and dropped).
        """
        with self._lock:
            now = self._clock()
            since, self._waiting_since = self._waiting_since, None
            last, self._last_arrival = self._last_arrival, now
            if last is not None and published >= 1:
                self._periods.append((now - last) / published)
            if since is None:
                return None
            self.judged += 1
            wait = now - since
            period = sorted(self._periods)[len(self._periods) // 2] if self._periods else 0.0
            if (published < 2 or drained
                    or wait < max(self._min_wait, self._PERIODS * period)):
                return None
            self.count += 1
            self._recent.append((now, wait))
            self._prune(now)
            return wait

    @property
    def is_waiting(self) -> bool:
        """Whether the worker is waiting for this camera's next frame (see :meth:`waiting`)."""
        return self._waiting_since is not None

    def stop_waiting(self) -> None:
        """Forget a wait in progress (the worker took a frame; activate starts a new one)."""
        with self._lock:
            self._waiting_since = None

    def recent(self) -> tuple[int, float]:
        """Stalls within the last ``STALL_WINDOW_S`` and the longest of them (s, 0 if none)."""
        with self._lock:
            self._prune(self._clock())
            return len(self._recent), max((w for _, w in self._recent), default=0.0)

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - STALL_WINDOW_S:
            self._recent.popleft()


@dataclass
class FrameSlot:
    """The frames of one camera waiting for the worker, oldest first; usually just the newest.

    Keeps latency bounded when frames arrive faster than inference: a new frame replaces the
    ones not yet taken, so the worker takes the freshest image instead of working through a
    growing queue. Only a catch-up while a camera's frames stall (:meth:`put` of several
    frames, by the take that ends an idle wait or the one after it) is worked through in order.
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
