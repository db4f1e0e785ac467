"""Per-camera track state and the IDs the detector publishes in ``Detection2D.id``.

A tracking library associates detections with tracks; this module decides what the IDs mean.
Each camera has its own state, advanced in the order of its image stamps; the state is reset on
request (the node's deactivate) and when a camera's stamps jump backwards (a bag replayed or
looped), since motion and time-outs cannot span such a jump. IDs are small integers counted per
camera and never reused for the life of the :class:`Tracking` object (one configuration of the
node), also across resets: a consumer that remembers an ID never sees it on another object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
import time
from typing import Protocol

import numpy as np

from edge_infer_ros.config import TrackerConfig
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.tracking.bytetrack import bytetrack_factory

__all__ = ['CameraTracker', 'TrackState', 'Tracking']

_WARN_EVERY_S = 10.0


class TrackState(Protocol):
    """What a tracking library provides for one camera."""

    def update(self, dets: Detections, stamp_ns: int) -> Sequence[Hashable | None]:
        """Associate ``dets`` at ``stamp_ns``: per detection its track's key, or None."""

    def live_keys(self) -> Sequence[Hashable]:
        """Keys of the tracks still held (so IDs of tracks given up can be forgotten)."""


class CameraTracker:
    """One camera: the library's state, the key -> ID map and the last image stamp."""

    def __init__(self, new_state: Callable[[], TrackState]) -> None:
        self._new_state = new_state
        self._state = new_state()
        self._ids: dict[Hashable, int] = {}
        self._prune_at = 256
        self._last_stamp: int | None = None
        self.next_id = 1
        self.stamp_resets = 0

    def update(self, dets: Detections, stamp_ns: int) -> Detections:
        """``dets`` with track IDs (-1 for a detection no track claims yet).

        A stamp older than the previous one resets the tracks first (counted in
        ``stamp_resets``); an equal stamp is taken as the same instant.
        """
        if self._last_stamp is not None and stamp_ns < self._last_stamp:
            self.reset()
            self.stamp_resets += 1
        self._last_stamp = stamp_ns
        keys = self._state.update(dets, stamp_ns)
        ids = np.full(len(dets), -1, np.int64)
        for i, key in enumerate(keys):
            if key is None:
                continue
            track_id = self._ids.get(key)
            if track_id is None:
                track_id = self._ids[key] = self.next_id
                self.next_id += 1
            ids[i] = track_id
        if len(self._ids) > self._prune_at:
            self._forget_dropped_tracks()
        return dets.with_track_ids(ids)

    @property
    def remembered(self) -> int:
        """Tracks whose IDs are remembered: bounded by the tracks the library still holds."""
        return len(self._ids)

    def _forget_dropped_tracks(self) -> None:
        """Keep only the IDs of tracks the library still holds (amortised: rarely runs)."""
        live = set(self._state.live_keys())
        self._ids = {key: track_id for key, track_id in self._ids.items() if key in live}
        self._prune_at = max(256, 2 * len(self._ids))

    def reset(self) -> None:
        """Drop all tracks; IDs keep counting up, so none is ever given to a second object."""
        self._state = self._new_state()
        self._ids.clear()
        self._last_stamp = None


class Tracking:
    """The tracker of every camera of one configuration; a pass-through for ``tracker: none``.

    Not thread-safe: one caller at a time (the node's worker, or a bag run).
    """

    def __init__(self, config: TrackerConfig,
                 warn: Callable[[str], None] | None = None) -> None:
        """Check ``config`` and load the tracking library now, so configure fails, not frame 1.

        Raises:
            ConfigError: an unknown tracker, or its library is missing or rejects the settings.
        """
        self.config = config
        self._warn = warn
        self._cameras: dict[str, CameraTracker] = {}
        self._warned_at: dict[str, float] = {}
        self._new_state: Callable[[], TrackState] | None = None
        if config.tracker == 'bytetrack':
            self._new_state = bytetrack_factory(config)
        elif config.tracker != 'none':
            msg = f"parameter 'tracker' is {config.tracker!r}; use none or bytetrack"
            raise ConfigError(msg)

    @property
    def enabled(self) -> bool:
        """Whether detections get track IDs."""
        return self._new_state is not None

    def update(self, camera: str, dets: Detections, stamp_ns: int) -> Detections:
        """Advance ``camera``'s tracks to the image at ``stamp_ns`` and label ``dets``."""
        if self._new_state is None:
            return dets
        tracker = self._cameras.get(camera)
        if tracker is None:
            tracker = self._cameras[camera] = CameraTracker(self._new_state)
        resets = tracker.stamp_resets
        out = tracker.update(dets, stamp_ns)
        if tracker.stamp_resets != resets:
            self._stamps_went_back(camera)
        return out

    def _stamps_went_back(self, camera: str) -> None:
        now = time.monotonic()
        if self._warn is None or now - self._warned_at.get(camera, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        self._warned_at[camera] = now
        self._warn(f'{camera}: image stamps went back in time (replayed or looped recording?); '
                   'its tracks were reset, new IDs continue from the last one')

    def reset(self) -> None:
        """Drop every camera's tracks (on deactivate); IDs are not reused afterwards."""
        for tracker in self._cameras.values():
            tracker.reset()

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per camera: IDs given so far and resets caused by stamps going back."""
        return {name: (t.next_id - 1, t.stamp_resets) for name, t in self._cameras.items()}

    def describe(self) -> str:
        """One phrase for the configure log and reports."""
        c = self.config
        if not self.enabled:
            return 'none'
        return (f'{c.tracker} (buffer {c.track_buffer:g} s, match IoU >= '
                f'{c.track_match_threshold:g}, new tracks from score >= '
                f'{c.track_high_threshold:g})')
