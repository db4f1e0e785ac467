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
(draining older ones when the history is deeper than one). Messages stay serialized (``raw``):
:mod:`edge_infer_ros.imaging.cdr` reads the fields and views the pixels in place.

With two or more cameras a camera may take while the worker processes another one, so each
camera's frame waits at most one inference, and the worker serves the cameras round-robin.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
import time
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.subscription import Subscription

from edge_infer_ros.streams import PendingFrame

__all__ = ['IntakeGate', 'MESSAGE_INFO_CALLBACKS', 'drain_newest']

MESSAGE_INFO_CALLBACKS = hasattr(Subscription, 'CallbackType')
"""Whether subscription callbacks can receive message info (Iron and newer; not Humble)."""


class IntakeGate(CallbackGroup):
    """A callback group that is executable only while ``wanted()`` says the worker wants a frame.

    The executor leaves entities whose group cannot execute out of its wait set, so nothing is
    taken (or even woken for) while the gate is closed. ``beginning_execution`` checks again and
    keeps the one entity from running twice at once.
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
        with self._lock:
            if self._running or not self._wanted():
                return False
            self._running = True
            return True

    def ending_execution(self, entity: Any) -> None:
        """Release the claim taken by :meth:`beginning_execution`."""
        with self._lock:
            self._running = False


def drain_newest(subscription: Any, data: Any, info: Any) -> tuple[PendingFrame, int]:
    """Return the newest pending message, taking (and discarding) any newer than ``data``.

    Called inside the subscription's own callback, where the gate guarantees no executor thread
    takes from it concurrently. With a history depth of one there is never anything to drain and
    this costs one empty take (microseconds). Returns the frame and how many were discarded.
    """
    drained = 0
    with subscription.handle:
        while True:
            taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
            if taken is None:
                break
            data, info = taken
            drained += 1
    return PendingFrame(data, info, time.monotonic()), drained
