"""Shared fixtures: an isolated ROS domain per test session and a spinning rclpy graph."""

from __future__ import annotations

from collections.abc import Iterator
import logging
import os
from pathlib import Path
import signal
import sys

import pytest
from ros_helpers import RosGraph

from edge_infer_ros.ros.dds import profile_variable

# One DDS domain per pytest process so parallel runs on a machine never see each other's nodes;
# child processes inherit it. Discovery stays on loopback.
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
# Every test process uses the shipped large-image DDS profile, as the launch file and demo do.
os.environ.setdefault(
    profile_variable(os.environ),
    str(Path(__file__).resolve().parent.parent / 'config' / 'fastdds_large_images.xml'),
)

# A suite started as a background job (`cmd &`, nohup, some CI runners) inherits SIGINT ignored,
# and so would every process it starts (an ignored signal stays ignored across exec): the tests
# that press Ctrl-C on evaluate_bag and ros2 launch would fail for the runner's reason, not the
# product's. A handler of this process's own is reset to the default action in its children.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# `import launch` (test_launch.py) makes every logger created afterwards a LaunchLogger, which
# does not propagate: the package's log records would no longer reach caplog, depending on the
# order in which tests import things. Import it first and put the standard class back.
try:
    import launch  # noqa: F401
except ImportError:
    pass
logging.setLoggerClass(logging.Logger)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """The constant-output detector most node tests run (node_fixtures.write_constant_model)."""
    from node_fixtures import write_constant_model

    return write_constant_model(tmp_path / 'const.onnx')


@pytest.fixture
def ros_graph() -> Iterator[RosGraph]:
    pytest.importorskip('rclpy')
    graph = RosGraph()
    try:
        yield graph
    finally:
        graph.shutdown()
