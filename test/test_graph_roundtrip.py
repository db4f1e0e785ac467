"""Messages the detector publishes survive a real DDS round trip between two nodes."""

from __future__ import annotations

import pytest
from ros_helpers import wait_for

pytestmark = pytest.mark.ros


def test_nested_detection2darray_round_trips_over_dds(ros_graph) -> None:
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    talker = ros_graph.add(Node('talker', context=ros_graph.context))
    listener = ros_graph.add(Node('listener', context=ros_graph.context))
    received: list[Detection2DArray] = []
    listener.create_subscription(Detection2DArray, 'detections', received.append, qos)
    pub = talker.create_publisher(Detection2DArray, 'detections', qos)

    msg = Detection2DArray()
    msg.header.frame_id = 'camera_optical'
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1234, 5678
    for i in range(3):
        det = Detection2D()
        det.header = msg.header
        det.id = f'obj{i}'
        det.bbox.center.position.x = 10.5 + i
        det.bbox.center.position.y = 20.25
        det.bbox.size_x, det.bbox.size_y = 4.0, 8.0 + i
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = 'traffic_cone'
        hyp.hypothesis.score = 0.5 + i / 10
        det.results.append(hyp)
        msg.detections.append(det)

    assert wait_for(lambda: pub.get_subscription_count() > 0)
    assert wait_for(lambda: (pub.publish(msg), bool(received))[1], timeout=10.0, period=0.2)
    got = received[0]
    assert got.header == msg.header
    assert len(got.detections) == 3
    assert got.detections[2].bbox.size_y == 10.0
    assert got.detections[1].results[0].hypothesis.class_id == 'traffic_cone'
    assert got.detections[1].results[0].hypothesis.score == pytest.approx(0.6)
    assert got == msg
