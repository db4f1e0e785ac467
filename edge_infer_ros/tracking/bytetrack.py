"""ByteTrack association from the ``edgefirst-tracker`` package (Rust, NumPy its only dependency).

Why this library: it returns, for every input detection, the track it was associated with (or
none), so the published detections keep their own box, class and score and only gain an ID; its
lost-track buffer runs on the timestamps it is given, so it is measured in image time; and one
update with 50 detections costs about 0.15 ms on a 2-core x86 machine. Alternatives weighed are
listed in ``docs/benchmarks.md`` ("Tracking (issue 16)").

The package is imported only when ``tracker: bytetrack`` is configured; ``tracker: none`` runs
without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge_infer_ros.config import TrackerConfig
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import ConfigError

__all__ = ['KALMAN_GAIN', 'LIBRARY', 'bytetrack_factory']

LIBRARY = 'edgefirst-tracker'

KALMAN_GAIN = 0.5
"""How far each matched detection pulls its track's Kalman state (the library's ``update``).

The library's default (0.25) lags behind objects that move more than a few pixels per frame:
on the demo's moving scenes at 10 Hz it gave 41 ID switches where 0.5 gave 13 (IDF1 0.90 vs
0.92); at 30 Hz both gave the same result.
"""


class _ByteTrack:
    """One camera's ``edgefirst.tracker.ByteTrack`` behind the tracker-state interface."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker

    def update(self, dets: Detections, stamp_ns: int) -> list[str | None]:
        """Associate ``dets`` at ``stamp_ns``; per detection its track's key or None."""
        # The library takes class labels as unsigned machine integers only.
        infos = self._tracker.update(dets.boxes, dets.scores, dets.class_ids.astype(np.uintp),
                                     stamp_ns)
        return [None if info is None else str(info.uuid) for info in infos]

    def live_keys(self) -> list[str]:
        """Keys of the tracks the library still holds (matched or within the buffer)."""
        return [str(active.info.uuid) for active in self._tracker.get_active_tracks()]


def bytetrack_factory(config: TrackerConfig) -> Callable[[], _ByteTrack]:
    """A maker of fresh per-camera ByteTrack states for ``config``; builds one to check it.

    Raises:
        ConfigError: the library is not installed or rejects the parameters.
    """
    try:
        from edgefirst.tracker import ByteTrack
    except ImportError as err:
        msg = (f"parameter 'tracker' is {config.tracker!r} but the {LIBRARY} package is not "
               f'installed ({err}); pip install -r requirements/runtime.txt, or set tracker '
               'to none')
        raise ConfigError(msg) from err
    lifespan_ns = int(round(config.track_buffer * 1e9))

    def new_state() -> _ByteTrack:
        return _ByteTrack(ByteTrack(high_conf=config.track_high_threshold,
                                    iou=config.track_match_threshold, update=KALMAN_GAIN,
                                    lifespan_ns=lifespan_ns))

    try:
        new_state()
    except (TypeError, ValueError, OverflowError) as err:
        msg = f'{LIBRARY} rejected the tracker parameters {config!r}: {err}'
        raise ConfigError(msg) from err
    return new_state
