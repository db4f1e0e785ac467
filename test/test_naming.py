"""naming.NodeNames resolves topics as rcl does for a node with the same names and remaps."""

from __future__ import annotations

import pytest

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.naming import NodeNames, resolve_cameras
from edge_infer_ros.streams import plan_cameras

CASES = [
    ('/detector', []),
    ('/front/detector', []),
    ('/front/detector', ['image_raw:=/cam/image_raw']),
    ('/robot/front/detector', ['image_raw:=cam/image_raw', 'detections:=/out/dets']),
    ('/front/detector', ['detector:image_raw:=/mine', 'other:image_raw:=/theirs']),
    ('/front/detector', ['/front/image_raw:=/abs', 'debug_image:=~/debug']),
]
TOPICS = ['image_raw', 'detections', 'debug_image', 'left/image_raw', '/abs/image_raw',
          '~/private', 'image_raw/compressed']


@pytest.mark.ros
@pytest.mark.parametrize(('node_name', 'remaps'), CASES)
def test_resolution_equals_rclpy(ros_graph, node_name, remaps) -> None:
    from rclpy.node import Node

    namespace, _, name = node_name.rpartition('/')
    args = ['--ros-args'] + [part for rule in remaps for part in ('-r', rule)]
    node = ros_graph.add(Node(name, namespace=namespace or '/', context=ros_graph.context,
                              cli_args=args))
    names = NodeNames.parse(node_name, remaps)
    for topic in TOPICS:
        assert names.resolve(topic) == node.resolve_topic_name(topic), topic


def test_namespace_and_name_rules_as_with_ros_args() -> None:
    names = NodeNames.parse('detector', ['__ns:=/front', '__node:=dets'])
    assert names.fully_qualified == '/front/dets'
    assert names.resolve('detections') == '/front/detections'


def test_readme_launch_pattern_names_outputs_like_the_live_node() -> None:
    """`namespace:=front image_topic:=/cam/image_raw` publishes /front/detections."""
    names = NodeNames.parse('/front/detector', ['image_raw:=/cam/image_raw'])
    (plan,) = resolve_cameras(plan_cameras(('image_raw',), 'auto'), names)
    assert plan.image_topic == '/cam/image_raw'
    assert plan.detections_topic == '/front/detections'
    assert plan.debug_topic == '/front/debug_image'


@pytest.mark.parametrize('rule', ['image_raw', 'image_raw:=', ':=/x'])
def test_malformed_remap_is_refused(rule) -> None:
    with pytest.raises(ConfigError, match='from:=to'):
        NodeNames.parse('/front/detector', [rule])
