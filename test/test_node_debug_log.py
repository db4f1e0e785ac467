"""At debug level the node explains dropped and slow frames (read back from /rosout)."""

from __future__ import annotations

from node_fixtures import detector_params, image_msg, write_slow_model
import pytest
from ros_helpers import LifecycleClient, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_debug_lines_explain_drops_and_stage_times(ros_graph, tmp_path) -> None:
    from rcl_interfaces.msg import Log
    from rclpy.logging import LoggingSeverity
    from rclpy.node import Node
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import Image

    from edge_infer_ros.ros.node import DetectorNode

    slow = write_slow_model(tmp_path / 'slow.onnx')
    node = DetectorNode('debug_detector', context=ros_graph.context, parameter_overrides=(
        detector_params(slow, tmp_path / 'cache', cpu_threads=1, warmup_iterations=0)))
    node.get_logger().set_level(LoggingSeverity.DEBUG)
    ros_graph.add(node)
    client = LifecycleClient(ros_graph, '/debug_detector')
    helper = ros_graph.add(Node('camera_and_log_reader', context=ros_graph.context))
    lines: list[str] = []
    helper.create_subscription(
        Log, '/rosout', lambda m: lines.append(m.msg) if m.name == 'debug_detector' else None,
        QoSProfile(depth=1000))
    pub = helper.create_publisher(Image, 'image_raw', 10)
    assert client.transition('configure') and client.transition('activate')

    def explained() -> bool:
        pub.publish(image_msg())  # far faster than the slow model: the slot replaces frames
        return any('dropped since the last line' in line and 'inference' in line
                   and 'the worker was busy' in line for line in lines)

    assert wait_for(explained, timeout=60.0, period=0.02), lines
    line = next(line for line in lines if 'the worker was busy' in line)
    assert line.startswith('image_raw: decode ') and ' ms old at publish' in line
