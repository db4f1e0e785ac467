"""Camera naming, latest-frame slots, statistics, matching, DDS profile selection, bag types."""

from __future__ import annotations

import numpy as np
import pytest

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.eval.matching import box_iou, match_detections, match_pairs
from edge_infer_ros.ros.dds import profile_variable
from edge_infer_ros.stats import LatencyWindow, RateMeter
from edge_infer_ros.streams import FrameSlot, plan_cameras


def test_camera_outputs_follow_the_image_namespace() -> None:
    single, = plan_cameras(('image_raw',), 'auto')
    assert (single.detections_topic, single.debug_topic) == ('detections', 'debug_image')
    front, rear = plan_cameras(('front/image_raw', 'rear/image_raw/compressed'), 'auto')
    assert front.detections_topic == 'front/detections' and not front.compressed
    assert rear.detections_topic == 'rear/detections' and rear.compressed
    raw, rect = plan_cameras(('image_raw', 'image_rect'), 'raw')
    assert (raw.detections_topic, rect.detections_topic) == ('image_raw/detections',
                                                            'image_rect/detections')
    forced, = plan_cameras(('cam/image_raw',), 'compressed')
    assert forced.image_topic == 'cam/image_raw/compressed' and forced.compressed
    assert forced.detections_topic == 'cam/detections'
    with pytest.raises(ConfigError, match='clashing'):
        plan_cameras(('cam/image_raw', 'cam/image_raw/compressed'), 'auto')


def test_frame_slot_keeps_only_the_newest_frame_and_counts_drops() -> None:
    slot = FrameSlot()
    for frame in range(5):
        slot.put(frame)
    assert slot.take() == 4
    assert slot.take() is None
    assert slot.stats.dropped == 4
    assert slot.stats.received.count == 5


def test_latency_window_and_rate() -> None:
    window = LatencyWindow(size=100)
    for value in range(1, 201):
        window.add(float(value))
    stats = window.percentiles()
    assert stats['p50'] == pytest.approx(150.5)
    assert window.count == 200
    assert LatencyWindow().percentiles() == {}
    meter = RateMeter(window=5.0)
    for i in range(11):
        meter.tick(now=100.0 + i * 0.1)
    assert meter.rate(now=101.0) == pytest.approx(11.0, rel=0.01)
    assert meter.rate(now=200.0) == 0.0


def test_iou_and_greedy_matching() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    assert box_iou(a, a) == pytest.approx(np.eye(2))
    assert box_iou(a[:1], np.array([[5, 0, 15, 10]]))[0, 0] == pytest.approx(1 / 3)
    truth = Detections(a, [1, 1], [0, 1])
    dets = Detections(np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]),
                      [0.9, 0.8, 0.7], [0, 0, 0])
    assert match_pairs(dets, truth) == [(0, 0, 1.0)]
    assert match_detections(dets, truth) == (1, 2, 1)
    assert match_detections(Detections.empty(), truth) == (0, 0, 2)


def test_profile_variable_per_distro() -> None:
    assert profile_variable({'ROS_DISTRO': 'humble'}) == 'FASTRTPS_DEFAULT_PROFILES_FILE'
    assert profile_variable({'ROS_DISTRO': 'jazzy'}) == 'FASTRTPS_DEFAULT_PROFILES_FILE'
    assert profile_variable({'ROS_DISTRO': 'kilted'}) == 'FASTDDS_DEFAULT_PROFILES_FILE'
    assert profile_variable({}) == 'FASTDDS_DEFAULT_PROFILES_FILE'


def test_rosbags_type_store_has_upstream_vision_msgs_hashes() -> None:
    pytest.importorskip('rosbags')
    from test_interfaces import UPSTREAM_HASHES

    from edge_infer_ros.eval.bag_types import typestore

    store = typestore()
    for name, expected in UPSTREAM_HASHES.items():
        assert store.hash_rihs01(f'vision_msgs/msg/{name}') == expected
