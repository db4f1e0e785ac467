"""The node's serialized Detection2DArray is rclpy's serialization of the same detections.

Byte for byte but for the alignment padding, which rclpy leaves uninitialised: the same length,
and deserialized by rclpy into the message ``detections_to_msg`` builds.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_infer_ros.decoders.detections import Detections, track_id_strings

pytestmark = pytest.mark.ros


def _dets(n: int, seed: int, tracks: bool) -> Detections:
    rng = np.random.default_rng(seed)
    boxes = (rng.random((n, 4)) * 900).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    track_ids = rng.integers(1, 10_000, n) if tracks else None
    return Detections(boxes, rng.random(n).astype(np.float32), rng.integers(0, 6, n),
                      track_ids)


@pytest.mark.parametrize('n', [0, 1, 2, 7, 50])
@pytest.mark.parametrize('tracks', [False, True])
@pytest.mark.parametrize('mode', ['name', 'index'])
@pytest.mark.parametrize('frame_id', ['', 'cam', 'camera_optical_frame', 'kamera_ü'])
def test_bytes_equal_rclpy_serialization(n, tracks, mode, frame_id) -> None:
    # Every alignment case: string lengths of each remainder mod 4 and 8 (labels of 0-5
    # characters, a non-ASCII one, class ids past the labels written as numbers, track IDs of
    # 1-4 digits or none), empty and non-empty arrays.
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from edge_infer_ros.ros.conversions import detections_to_msg
    from edge_infer_ros.ros.detections_cdr import detections_cdr

    labels = ['', 'a', 'ab', 'abc', 'vélo']  # class id 5 has no label
    dets = _dets(n, seed=n, tracks=tracks)
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_789
    msg = detections_to_msg(dets, header, labels, mode)
    got = detections_cdr(dets, 1_700_000_123, 456_789, frame_id, labels, mode,
                         track_id_strings(dets))
    assert len(got) == len(serialize_message(msg))
    assert deserialize_message(got, Detection2DArray) == msg
