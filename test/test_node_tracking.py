"""Track IDs from the node in a real rclpy graph, and the same IDs from ``evaluate_bag``.

A camera stand-in publishes rendered moving scenes one frame at a time (each after the previous
one's detections arrived, so no frame is dropped) to the detector running the shipped demo model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node_fixtures import collecting, image_msg, start_detector, write_constant_model
import numpy as np
import pytest
from ros_helpers import LifecycleClient, wait_for

from edge_infer_ros.demo.motion import ObjectPath, SceneSequence

pytestmark = pytest.mark.ros
MODEL = Path(__file__).resolve().parent.parent / 'models' / 'demo_detector.onnx'
START_NS = 1_700_000_000 * 10**9


def _images(first: int, count: int) -> list[Any]:
    """Frames ``first``.. of a scene with a standing box and a barrel crossing it, at 10 Hz."""
    from std_msgs.msg import Header

    from edge_infer_ros.ros.conversions import image_to_msg

    paths = [ObjectPath(1, 100, (470, 330)), ObjectPath(4, 110, (40, 260), (8, 0))]
    sequence = SceneSequence(np.random.default_rng(5), 640, 480, paths)
    msgs = []
    for t in range(first, first + count):
        stamp = START_NS + t * 100_000_000
        header = Header(frame_id='cam')
        header.stamp.sec, header.stamp.nanosec = divmod(stamp, 10**9)
        msgs.append(image_to_msg(sequence.frame(t).image, header))
    return msgs


def _start(ros_graph: Any, tmp_path: Path, model: Path, **params: Any) -> LifecycleClient:
    return start_detector(ros_graph, tmp_path, model, **params)[1]


def _send_each(ros_graph: Any, msgs: list[Any], got: list[Any]) -> None:
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    node = ros_graph.add(Node(f'camera_{len(got)}', context=ros_graph.context))
    pub = node.create_publisher(Image, 'image_raw',
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert wait_for(lambda: pub.get_subscription_count() > 0, timeout=20.0)
    for msg in msgs:
        count = len(got)
        pub.publish(msg)
        assert wait_for(lambda count=count: len(got) > count, timeout=30.0)


def _ids(msgs: list[Any]) -> list[list[str]]:
    return [[d.id for d in m.detections] for m in msgs]


def test_without_a_tracker_ids_stay_empty(ros_graph, tmp_path) -> None:
    from vision_msgs.msg import Detection2DArray

    client = _start(ros_graph, tmp_path, write_constant_model(tmp_path / 'const.onnx'))
    assert client.transition('configure') and client.transition('activate')
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        _send_each(ros_graph, [image_msg(128, 96, stamp=3)], got)
    assert _ids(got) == [['', '']]


def test_ids_hold_across_frames_and_are_new_after_deactivate(ros_graph, tmp_path) -> None:
    from vision_msgs.msg import Detection2DArray

    client = _start(ros_graph, tmp_path, MODEL, tracker='bytetrack')
    assert client.transition('configure') and client.transition('activate')
    with collecting(ros_graph, Detection2DArray, 'detections', 20) as got:
        _send_each(ros_graph, _images(0, 12), got)
        first = _ids(got)
        assert client.transition('deactivate') and client.transition('activate')
        _send_each(ros_graph, _images(12, 6), got)
        second = _ids(got[12:])
    seen = {i for ids in first for i in ids if i}
    assert seen == {'1', '2'}, first  # two objects, one ID each, for all twelve frames
    assert all(sorted(ids) == ['1', '2'] for ids in first[2:]), first
    later = {i for ids in second for i in ids if i}
    assert later and all(int(i) > 2 for i in later), second  # new tracks, IDs not reused


def test_evaluate_bag_gives_the_ids_the_node_published(ros_graph, tmp_path) -> None:
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from vision_msgs.msg import Detection2DArray

    from edge_infer_ros.eval.bag_io import BagReader
    from edge_infer_ros.eval.bag_types import typestore
    from edge_infer_ros.eval.evaluate_bag import main
    from edge_infer_ros.eval.messages import frame_key

    client = _start(ros_graph, tmp_path, MODEL, tracker='bytetrack')
    assert client.transition('configure') and client.transition('activate')
    images = _images(0, 15)
    with collecting(ros_graph, Detection2DArray, 'detections', 20) as got:
        _send_each(ros_graph, images, got)
    live = {frame_key(m.header): [d.id for d in m.detections] for m in got}

    bag = tmp_path / 'recording'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/image_raw', 'sensor_msgs/msg/Image', typestore=typestore())
        for msg in images:
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            writer.write(conn, stamp, serialize_message(msg))
    report = tmp_path / 'report'
    assert main([str(bag), '--report', str(report), '--no-progress', '-p', 'tracker:=bytetrack',
                 '-p', f'model_path:={MODEL}', '-p', 'providers:=[cpu]', '-p', 'precision:=fp32',
                 '-p', f'engine_cache_path:={tmp_path / "cache"}']) == 0
    with BagReader(report / 'bags' / 'recording') as reader:
        offline = {}
        for topic, _, raw in reader.messages(['/detections']):
            msg = reader.deserialize(topic, raw)
            offline[frame_key(msg.header)] = [d.id for d in msg.detections]
    assert offline == live
    assert any(any(ids) for ids in live.values())
    assert json.loads((report / 'metrics.json').read_text())['pipeline']['tracker'].startswith(
        'bytetrack')


def test_a_missing_tracking_library_fails_configure(ros_graph, tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, 'edgefirst.tracker', None)  # as if not installed
    client = _start(ros_graph, tmp_path, write_constant_model(tmp_path / 'const.onnx'),
                    tracker='bytetrack')
    assert not client.transition('configure')
    assert client.state() == 'unconfigured'
    (result,) = client.set_parameters(tracker='none')
    assert result.successful
    assert client.transition('configure')
