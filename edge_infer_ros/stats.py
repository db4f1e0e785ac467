"""Running counters, rates and latency percentiles for diagnostics and reports.

Fixed-size ring buffers: recording a sample costs O(1) and allocates nothing, so it is safe on
the per-frame path; percentiles are computed only when a report is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import threading
import time

import numpy as np

__all__ = ['LatencyWindow', 'RateMeter', 'StageTimes', 'STAGES', 'StageStats']

STAGES = ('decode', 'preprocess', 'inference', 'postprocess', 'publish', 'total', 'host', 'wait',
          'age')
"""Per-frame figures in milliseconds. ``total`` is decode through publish; ``host`` is ``total``
without ``inference`` (the work around ``session.run``); ``wait`` is taken-to-started (a frame
waiting for another camera's inference); ``age`` is image stamp to published."""


@dataclass
class StageTimes:
    """Milliseconds spent in each stage of one frame (``publish`` stays 0 offline)."""

    decode: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0
    publish: float = 0.0
    wait: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the processing stages (excludes waiting in the queue)."""
        return self.decode + self.preprocess + self.inference + self.postprocess + self.publish

    @property
    def host(self) -> float:
        """The processing time outside ``session.run``: what the host adds to the model."""
        return self.total - self.inference


class LatencyWindow:
    """The last ``size`` samples of one quantity (milliseconds)."""

    def __init__(self, size: int = 512) -> None:
        self._buf = np.zeros(size, dtype=np.float64)
        self._count = 0

    def add(self, value: float) -> None:
        """Record one sample, overwriting the oldest once full."""
        self._buf[self._count % self._buf.size] = value
        self._count += 1

    @property
    def count(self) -> int:
        """Samples recorded since creation (not only those still in the window)."""
        return self._count

    def percentiles(self, qs: tuple[float, ...] = (50.0, 90.0, 99.0)) -> dict[str, float]:
        """Return ``{'p50': ..., 'p90': ..., 'p99': ..., 'mean': ...}``; empty when no samples."""
        n = min(self._count, self._buf.size)
        if n == 0:
            return {}
        values = self._buf[:n]
        out = {f'p{q:g}': float(v) for q, v in zip(qs, np.percentile(values, qs), strict=True)}
        out['mean'] = float(values.mean())
        return out


class RateMeter:
    """Events per second over a sliding window of ``window`` seconds."""

    def __init__(self, window: float = 5.0, size: int = 4096) -> None:
        self._stamps = np.zeros(size, dtype=np.float64)
        self._count = 0
        self._window = window

    def tick(self, now: float | None = None, count: int = 1) -> None:
        """Record ``count`` events at ``now``."""
        stamp = time.monotonic() if now is None else now
        for _ in range(count):
            self._stamps[self._count % self._stamps.size] = stamp
            self._count += 1

    @property
    def count(self) -> int:
        """Events recorded since creation."""
        return self._count

    def rate(self, now: float | None = None) -> float:
        """Events per second within the window."""
        now = time.monotonic() if now is None else now
        n = min(self._count, self._stamps.size)
        if n == 0:
            return 0.0
        recent = self._stamps[:n]
        recent = recent[recent >= now - self._window]
        if recent.size < 2:
            return float(recent.size) / self._window
        span = max(now - float(recent.min()), 1e-6)
        return float(recent.size) / min(span, self._window)


@dataclass
class StageStats:
    """Per-stream counters and latency windows, guarded by one lock."""

    received: RateMeter = field(default_factory=RateMeter)
    published: RateMeter = field(default_factory=RateMeter)
    dropped: int = 0
    skipped: int = 0
    decode_errors: int = 0
    inference_errors: int = 0
    latency: dict[str, LatencyWindow] = field(
        default_factory=lambda: {s: LatencyWindow() for s in STAGES},
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, times: StageTimes, age_ms: float | None) -> None:
        """Add one processed frame's stage times."""
        with self.lock:
            self.published.tick()
            for stage in STAGES[:-1]:
                self.latency[stage].add(getattr(times, stage))
            if age_ms is not None:
                self.latency['age'].add(age_ms)
