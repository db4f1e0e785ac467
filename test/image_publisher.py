"""A separate camera process for cross-process tests: publishes large bgr8 frames.

Usage: python image_publisher.py RELIABILITY WIDTH HEIGHT SECONDS [TOPIC] [RATE_HZ]

Without RATE_HZ it publishes about 5 frames a second; with it, at that rate, as a camera does.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main() -> None:
    reliability, width, height, seconds = sys.argv[1], *map(int, sys.argv[2:5])
    topic = sys.argv[5] if len(sys.argv) > 5 else 'image_raw'
    period = 1.0 / float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    rclpy.init()
    node = Node('test_camera_process')
    policy = ReliabilityPolicy.RELIABLE if reliability == 'reliable' else (
        ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(Image, topic, QoSProfile(depth=5, reliability=policy))
    msg = Image(width=width, height=height, encoding='bgr8', step=width * 3)
    msg.header.frame_id = 'big_cam'
    msg.data = np.random.default_rng(0).integers(0, 255, width * height * 3, np.uint8).tobytes()
    start = time.monotonic()
    end = start + seconds
    sent = 0
    while time.monotonic() < end:
        sent += 1
        msg.header.stamp.sec = sent
        pub.publish(msg)
        if period:
            time.sleep(max(start + sent * period - time.monotonic(), 0.0))
        else:
            rclpy.spin_once(node, timeout_sec=0.2)
    print(f'sent {sent}', flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
