"""Camera intake that takes a frame from the middleware only when the worker can use it.

Why: a 1920x1080 camera at 30 Hz delivers a frame every 33 ms while inference takes longer, so
most frames are dropped. Taking and deserializing every one of them (1.4-2.9 ms each, plus an
executor wake-up in Python) cost enough CPU on a 2-core robot computer to slow inference from
35 ms to 62-65 ms. Here a frame that arrives while the worker is busy stays in the middleware's
history, where the next frame replaces it (KEEP_LAST): it costs the node no Python work at all.

How: each camera's raw subscription sits in an :class:`IntakeGate`, a callback group that lets
the executor wait on the subscription only while the camera's slot is empty and the worker is not
processing this camera. When the worker finishes a frame it triggers a guard condition, the
executor re-waits with the gate open, and the callback takes the newest pending message
(draining older ones when the history is deeper than one; while a camera's frames stall, after
the worker sat idle the node keeps them all, in order, to work through a burst: see
``DetectorNode._keep``). When a frame is already waiting, the worker (or the
:class:`Prefetcher`'s timer) takes it itself under the gate's claim, and the executor is not
woken at all. Messages stay serialized (``raw``):
:mod:`edge_infer_ros.imaging.cdr` reads the fields and views the pixels in place.

With two or more cameras a camera may take while the worker processes another one, so each
camera's frame waits at most one inference, and the worker serves the cameras round-robin.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
import threading
import time
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.subscription import Subscription

from edge_infer_ros.streams import PendingFrame

__all__ = ['IntakeGate', 'MESSAGE_INFO_CALLBACKS', 'Prefetcher', 'drain']

MESSAGE_INFO_CALLBACKS = hasattr(Subscription, 'CallbackType')
"""Whether subscription callbacks can receive message info (Iron and newer; not Humble)."""


def _is_event_handler(entity: Any) -> bool:
    """Whether ``entity`` is one of the subscription's QoS event handlers, which claim nothing.

    rclpy puts a subscription's event handlers in the subscription's callback group. They are
    waited on only while the gate is open, like the subscription: kept in the wait set while
    frames wait in the history, they woke the executor continually (measured with a 30 Hz
    camera: the node's CPU per output frame 196 vs 121 ms, inference 92 vs 64 ms). But they run
    without the subscription's claim: rclpy releases a claim only after a take that did not
    raise, and a handler destroyed with its subscription in between would have kept the camera
    claimed for good. ``None`` stands for the subscription itself (the worker's own takes).
    """
    return entity is not None and not isinstance(entity, Subscription)


class IntakeGate(CallbackGroup):
    """A callback group that is executable only while ``wanted()`` says the worker wants a frame.

    The executor leaves entities whose group cannot execute out of its wait set, so nothing is
    taken (or even woken for) while the gate is closed. ``beginning_execution`` checks again and
    keeps the one entity from running twice at once. The subscription's QoS event handlers are
    gated but take no claim (:func:`_is_event_handler`).
    """

    def __init__(self, wanted: Callable[[], bool]) -> None:
        """Open the gate whenever ``wanted()`` is true (called from executor threads)."""
        super().__init__()
        self._wanted = wanted
        self._running = False
        self._lock = threading.Lock()

    def can_execute(self, entity: Any) -> bool:
        """Whether the executor may wait on and take from the subscription now."""
        return not self._running and self._wanted()

    def beginning_execution(self, entity: Any) -> bool:
        """Claim the subscription for one callback if the worker still wants a frame."""
        if _is_event_handler(entity):
            return True
        with self._lock:
            if self._running or not self._wanted():
                return False
            self._running = True
            return True

    def ending_execution(self, entity: Any) -> None:
        """Release the claim taken by :meth:`beginning_execution`."""
        if _is_event_handler(entity):
            return
        with self._lock:
            self._running = False

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Claim the subscriptions whether or not a frame is wanted, once a take in progress ends.

        For the node's re-subscription, which takes what the old subscription holds before
        destroying it, while no callback or worker takes from it. Takes last milliseconds.
        """
        while True:
            with self._lock:
                if not self._running:
                    self._running = True
                    break
            time.sleep(0.001)
        try:
            yield
        finally:
            self.ending_execution(None)


def drain(subscription: Any, data: Any = None, info: Any = None,
          keep: int = 1) -> tuple[list[PendingFrame], int]:
    """Take every pending message; return the newest ``keep`` (oldest first) and how many older.

    ``data``/``info``: a message the executor already took for the subscription's callback
    (older than any still pending), or None when the worker takes for itself; then the list is
    empty if nothing was pending. The gate's claim guarantees no other thread takes from the
    subscription meanwhile. With a history depth of one there is never anything to drain and
    this costs one empty take (microseconds).
    """
    taken: deque[PendingFrame] = deque(maxlen=max(keep, 1))
    count = 0
    if data is not None:
        taken.append(PendingFrame(data, info, time.monotonic()))
        count = 1
    with subscription.handle:
        while True:
            message = subscription.handle.take_message(subscription.msg_type, subscription.raw)
            if message is None:
                break
            taken.append(PendingFrame(*message, time.monotonic()))
            count += 1
    return list(taken), count - len(taken)


class Prefetcher:
    """Opens the gate of the camera being processed shortly before the worker will be free.

    Taking a frame only once the worker is idle leaves it waiting for the take: measured on
    2 cores with a 1080p camera, 7 ms a frame over the shared-memory transport and 25-50 ms
    over the middleware's default UDP, where a 6 MB sample arrives in fragments. So the gate of
    the camera in flight opens ``lead`` before a frame's typical processing time (the median of
    the last frames: inference time on shared cores varies, and the mean follows the slow
    outliers, which would open the gate too early) ends, where
    ``lead`` is what recent takes took from gate opening to the frame being in its slot (90th
    percentile, plus 2 ms, at most half a frame's processing: a late take costs a gap, an early
    one only staleness of a few milliseconds). The next frame is then waiting,
    at most ``lead`` older than it could be, and the frames in between still stay in the
    middleware.
    """

    _WINDOW = 32
    _MIN_FRAMES = 3

    def __init__(self, open_gate: Callable[[], None]) -> None:
        """``open_gate`` wakes the executor so it re-reads the gates (a guard condition)."""
        self._open_gate = open_gate
        self._cv = threading.Condition()
        self._deadline: float | None = None
        self._closed = False
        self._open = False
        self._start = 0.0
        self._opened_at: float | None = None
        self._durations: list[float] = []
        self._latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, name='intake_prefetch', daemon=True)
        self._thread.start()

    @property
    def open(self) -> bool:
        """Whether the camera in flight may take its next frame now."""
        return self._open

    def lead_s(self) -> float | None:
        """How long before the expected end of processing the gate opens (None: not yet)."""
        typical = self._typical_s()
        if typical is None or not self._latencies:
            return None
        ordered = sorted(self._latencies)
        p90 = ordered[(len(ordered) * 9) // 10]
        return min(p90 + 0.002, 0.5 * typical)

    def _typical_s(self) -> float | None:
        if len(self._durations) < self._MIN_FRAMES:
            return None
        return sorted(self._durations)[len(self._durations) // 2]

    def started(self) -> None:
        """The worker started a frame: arm the gate opening for the next one."""
        self._start = time.monotonic()
        self._opened_at = None  # only a gate opened from now on brings this camera's next frame
        lead, typical = self.lead_s(), self._typical_s()
        if lead is not None and typical is not None:
            with self._cv:
                self._deadline = self._start + max(typical - lead, 0.0)
                self._cv.notify()

    def finished(self) -> None:
        """The worker is done with its frame (then :meth:`gate_opened` if its slot is empty)."""
        self._durations.append(time.monotonic() - self._start)
        del self._durations[:-self._WINDOW]
        with self._cv:
            self._deadline = None
            self._open = False

    def gate_opened(self) -> None:
        """The gate just opened (idle worker or prefetch): time the take that follows."""
        if self._opened_at is None:
            self._opened_at = time.monotonic()

    def frame_arrived(self) -> None:
        """A frame reached its slot: keep how long it took since the gate opened."""
        opened, self._opened_at = self._opened_at, None
        if opened is not None:
            self._latencies.append(time.monotonic() - opened)
            del self._latencies[:-self._WINDOW]

    def close(self) -> None:
        """Stop the timer thread (deactivate)."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed:
                    if self._deadline is None:
                        self._cv.wait()
                        continue
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cv.wait(remaining)
                if self._closed:
                    return
                self._deadline = None
                self._open = True
                self.gate_opened()
            # Outside the lock: ``open_gate`` may take a waiting frame (2.7 ms for 1080p), and
            # the worker's ``finished`` must not wait for that take to end.
            self._open_gate()
