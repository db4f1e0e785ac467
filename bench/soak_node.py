"""Soak of a running detector_node: 10,000 frames, good and malformed, RSS growth (not a test).

Starts ``detector_node`` (the shipped demo detector on the CPU) in its own process, drives it to
active through its lifecycle service, and publishes on two cameras: raw 640x480 bgr8 and JPEG,
one message in ten malformed (a wrong ``step``, an unknown encoding, a truncated JPEG, a BMP
decompression bomb sent as ``jpeg``). It counts the Detection2DArray messages that come back
until ``--frames`` were processed and prints the node's resident memory after the warm-up, every
tenth of the run and at the end. The node keeps frame-sized heap blocks for reuse
(``ros/frame_memory.py``), so its memory settles over the first few thousand frames (+5.8 MB in
one run, flat from frame 4,000 on) while a leak keeps growing with the frames processed: exit
status 1 when the second half of the run added more than half of ``--max-growth-mb`` (issue 13:
5 MB), or the node did not exit cleanly.

    python bench/soak_node.py [--frames 10000] [--rate 60] [--max-growth-mb 5]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import struct
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
NODE = 'soak_detector'


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB."""
    with open(f'/proc/{pid}/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def bmp_bomb() -> bytes:
    """64 bytes of RLE8 BMP declaring 30000x30000 pixels (2.7 GB if decoded)."""
    info = struct.pack('<IiiHHIIiiII', 40, 30000, 30000, 1, 8, 1, 2, 2835, 2835, 2, 0)
    palette = bytes(8)
    offset = 14 + len(info) + len(palette)
    return b'BM' + struct.pack('<IHHI', offset + 2, 0, 0, offset) + info + palette + b'\x00\x01'


def messages() -> tuple[list, list]:
    """(raw, compressed) message lists: nine good ones and one malformed each, cycled."""
    from sensor_msgs.msg import CompressedImage, Image

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), np.uint8), (9, 9), 3)
    good = Image(width=640, height=480, encoding='bgr8', step=640 * 3, data=frame.tobytes())
    jpeg = cv2.imencode('.jpg', frame)[1].tobytes()
    good_c = CompressedImage(format='jpeg', data=jpeg)
    bad_step = Image(width=640, height=480, encoding='bgr8', step=100, data=frame.tobytes())
    bad_enc = Image(width=640, height=480, encoding='32FC7', step=640 * 3, data=frame.tobytes())
    cut = CompressedImage(format='jpeg', data=jpeg[:len(jpeg) // 3])
    bomb = CompressedImage(format='jpeg', data=bmp_bomb())
    return [good] * 8 + [bad_step, bad_enc], [good_c] * 8 + [cut, bomb]


def main() -> int:  # noqa: C901 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=10_000)
    parser.add_argument('--rate', type=float, default=60.0, help='messages/s per camera')
    parser.add_argument('--warmup', type=int, default=1000, help='frames before the baseline')
    parser.add_argument('--max-growth-mb', type=float, default=5.0)
    args = parser.parse_args()

    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image
    from vision_msgs.msg import Detection2DArray

    sys.path.insert(0, str(REPO / 'test'))
    from ros_helpers import LifecycleClient, RosGraph

    from edge_infer_ros.ros.dds import profile_variable

    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault(profile_variable(os.environ),
                          str(REPO / 'config' / 'fastdds_large_images.xml'))
    cache = tempfile.mkdtemp(prefix='soak_')
    node = subprocess.Popen(
        [sys.executable, '-m', 'edge_infer_ros.ros.node', '--ros-args', '-r',
         f'__node:={NODE}', '-p', 'providers:=[cpu]', '-p', 'precision:=fp32',
         '-p', f'engine_cache_path:={cache}', '-p', 'max_image_pixels:=1000000',
         '-p', 'image_topics:=[front/image_raw, rear/image_raw/compressed]'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    graph = RosGraph()
    try:
        client = LifecycleClient(graph, f'/{NODE}')
        if not (client.transition('configure') and client.transition('activate')):
            print('soak: the node did not become active', file=sys.stderr)
            return 1
        bench = graph.add(Node('soak_bench', context=graph.context))
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        raw_pub = bench.create_publisher(Image, 'front/image_raw', qos)
        comp_pub = bench.create_publisher(CompressedImage, 'rear/image_raw/compressed', qos)
        done = [0]
        bench.create_subscription(Detection2DArray, 'front/detections',
                                  lambda _m: done.__setitem__(0, done[0] + 1), 10)
        bench.create_subscription(Detection2DArray, 'rear/detections',
                                  lambda _m: done.__setitem__(0, done[0] + 1), 10)
        raw, comp = messages()
        period = 1.0 / args.rate
        sent, baseline, samples = 0, None, []
        start = time.monotonic()
        next_sample = args.warmup
        while done[0] < args.frames:
            raw_pub.publish(raw[sent % len(raw)])
            comp_pub.publish(comp[sent % len(comp)])
            sent += 1
            if baseline is None and done[0] >= args.warmup:
                baseline = rss_mb(node.pid)
            if done[0] >= next_sample:
                samples.append((done[0], rss_mb(node.pid)))
                next_sample += args.frames // 10
            if node.poll() is not None:
                print(f'soak: detector_node exited with {node.returncode}', file=sys.stderr)
                return 1
            time.sleep(max(0.0, start + sent * period - time.monotonic()))
        final = rss_mb(node.pid)
        elapsed = time.monotonic() - start
    finally:
        graph.shutdown()
        node.send_signal(2)
        node.wait(timeout=30)
    growth = final - (baseline or final)
    half = min(samples, key=lambda s: abs(s[0] - args.frames // 2), default=(0, final))
    late_growth = final - half[1]
    print(f'soak: {done[0]} frames processed of {2 * sent} sent on two cameras in '
          f'{elapsed:.0f} s (1 in 10 malformed, incl. a 30000x30000 BMP bomb), node exit '
          f'{node.returncode}')
    print('soak: node RSS (MB) by frames processed: '
          + ', '.join(f'{n}: {mb:.1f}' for n, mb in samples))
    print(f'soak: RSS after {args.warmup} frames {baseline:.1f} MB, at the end {final:.1f} MB, '
          f'growth {growth:+.1f} MB; from {half[0]} frames to the end {late_growth:+.1f} MB '
          f'(limit {args.max_growth_mb / 2:.1f} MB)')
    return 0 if late_growth <= args.max_growth_mb / 2 and node.returncode == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
