"""Throttled error logs per camera: one camera's flood never hides another camera's errors.

rclpy's ``throttle_duration_sec`` keeps one timer per logging call site, so with two cameras the
first one to fail silences the other for the whole period. Here each key (camera and kind of
error) has its own period, and the line that gets through says how many were held back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
import time

__all__ = ['KeyedThrottle', 'brief']

_MAX_CHARS = 500


def brief(text: str, limit: int = _MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters for a log line, saying how long it was."""
    return text if len(text) <= limit else f'{text[:limit]}... ({len(text)} characters)'


class KeyedThrottle:
    """Lets one message per key through every ``period`` seconds and counts the others."""

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def __call__(self, key: Hashable) -> int | None:
        """None to stay quiet; else how many messages of ``key`` were held back since the last."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
