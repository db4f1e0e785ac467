"""Multi-object tracking: stable per-camera IDs for detections (``Detection2D.id``).

``tracks`` holds the per-camera state and the meaning of the IDs (counted per camera, never
reused within a configuration, reset when stamps go back); ``bytetrack`` adapts the tracking
library. The pipeline owns one :class:`Tracking` and applies it right after decoding, so the
node and ``evaluate_bag`` give the same IDs for the same images.
"""

from edge_infer_ros.tracking.tracks import CameraTracker, Tracking, TrackState

__all__ = ['CameraTracker', 'TrackState', 'Tracking']
