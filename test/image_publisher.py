"""A separate camera process for cross-process tests: publishes large bgr8 frames.

Usage: python image_publisher.py RELIABILITY WIDTH HEIGHT SECONDS [TOPIC]
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
    rclpy.init()
    node = Node('test_camera_process')
    policy = ReliabilityPolicy.RELIABLE if reliability == 'reliable' else (
        ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(Image, topic, QoSProfile(depth=5, reliability=policy))
    msg = Image(width=width, height=height, encoding='bgr8', step=width * 3)
    msg.header.frame_id = 'big_cam'
    msg.data = np.random.default_rng(0).integers(0, 255, width * height * 3, np.uint8).tobytes()
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        sent += 1
        msg.header.stamp.sec = sent
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.2)
    print(f'sent {sent}', flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
