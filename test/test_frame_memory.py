"""Taking a large frame reuses heap memory instead of page-faulting a fresh 6 MB block each time.

Counted, not timed: the minor page faults of a separate process that takes 1080p frames the way
the node does (raw takes from a real subscription), with and without ``keep_frame_buffers``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from edge_infer_ros.ros.frame_memory import keep_frame_buffers

pytestmark = pytest.mark.ros

_TAKES = """
import json, resource, sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
if sys.argv[1] == 'keep':
    from edge_infer_ros.ros.frame_memory import keep_frame_buffers
    assert keep_frame_buffers()
rclpy.init()
node = rclpy.create_node('frame_memory_probe')
qos = QoSProfile(depth=3, reliability=ReliabilityPolicy.RELIABLE)
pub = node.create_publisher(Image, 'probe_image', qos)
sub = node.create_subscription(Image, 'probe_image', lambda m: None, qos, raw=True)
msg = Image(height=1080, width=1920, encoding='bgr8', step=1920 * 3)
msg.data = bytes(1920 * 1080 * 3)
faults, takes = 0, 0
for i in range(12):
    pub.publish(msg)
    deadline = time.monotonic() + 5.0
    with sub.handle:
        while True:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            taken = sub.handle.take_message(sub.msg_type, True)
            if taken is not None:
                del taken
                after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                if i >= 2:  # the first takes grow the heap once
                    faults, takes = faults + after - before, takes + 1
                break
            if time.monotonic() > deadline:
                sys.exit('no frame arrived')
            time.sleep(0.005)
print(json.dumps({'faults_per_take': faults / takes}))
rclpy.shutdown()
"""


def _faults_per_take(mode: str) -> float:
    env = {**os.environ, 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
           'PYTHONPATH': str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, '-c', _TAKES, mode], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])['faults_per_take'])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')
def test_a_1080p_take_reuses_the_heap_instead_of_faulting_in_fresh_pages() -> None:
    page = os.sysconf('SC_PAGE_SIZE')
    frame_pages = 1920 * 1080 * 3 // page  # about 1,500 pages of 4 KB
    fresh = _faults_per_take('default')
    kept = _faults_per_take('keep')
    assert fresh > frame_pages, fresh  # glibc's default: each take maps (and faults) anew
    assert kept < frame_pages / 10, (kept, fresh)


def test_keep_frame_buffers_is_safe_to_call_again() -> None:
    assert keep_frame_buffers() == keep_frame_buffers()
