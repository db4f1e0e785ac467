"""Debug lines that say why a camera's frames were dropped or slow (``log_level:=debug``).

Per camera at most one line every few seconds: the stage times of the frame just processed, how
old its image was, and how many frames were dropped since the last line because a newer one
arrived before the worker was free (inference slower than the camera, or another camera sharing
the worker), and how many of those the middleware replaced before the node ever took them.
Nothing is formatted unless the logger is at debug level, so the per-frame cost at the usual
levels is one level check.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.logging import LoggingSeverity

from edge_infer_ros.stats import StageStats, StageTimes

__all__ = ['FrameDebugLog']


class FrameDebugLog:
    """Throttled, per-camera explanation of drops and latency for one node's logger."""

    def __init__(self, logger: Any, period_s: float = 5.0) -> None:
        self._logger = logger
        self._period_s = period_s
        # topic -> (time, dropped, never taken, frames)
        self._last: dict[str, tuple[float, int, int, int]] = {}

    def frame_done(self, topic: str, stats: StageStats, times: StageTimes,
                   age_ms: float | None) -> None:
        """Note one processed frame of ``topic``; log the camera's line when its time comes."""
        if not self._logger.is_enabled_for(LoggingSeverity.DEBUG):
            return
        now = time.monotonic()
        dropped, skipped, frames = stats.dropped, stats.skipped, stats.published.count
        last_time, last_dropped, last_skipped, last_frames = self._last.get(topic, (0.0, 0, 0, 0))
        if now - last_time < self._period_s:
            return
        self._last[topic] = (now, dropped, skipped, frames)
        new_drops = dropped - last_dropped
        age = f'image {age_ms:.1f} ms old at publish' if age_ms is not None else 'no stamp'
        line = (f'{topic}: decode {times.decode:.1f} ms, preprocess {times.preprocess:.1f} ms, '
                f'inference {times.inference:.1f} ms, postprocess {times.postprocess:.1f} ms '
                f'(total {times.total:.1f} ms), {age}; {frames - last_frames} frames processed '
                f'and {new_drops} dropped since the last line')
        if new_drops:
            line += (f' ({skipped - last_skipped} of them never left the middleware; a newer '
                     'image replaced a waiting one: the worker was busy, so inference or another '
                     "camera is slower than this camera's rate)")
        self._logger.debug(line)
