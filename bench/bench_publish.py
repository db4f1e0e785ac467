"""Benchmark: detections -> serialized Detection2DArray, rclpy's message path vs the node's.

Run from the repository root: ``.venv/bin/python bench/bench_publish.py [--runs 300]``. Not a
test. Per scene size it prints the median time of building the message with
``detections_to_msg`` and serializing it with rclpy (what ``Publisher.publish(msg)`` does before
the middleware) and of ``detections_cdr`` (the bytes the node hands to ``publish``), measured in
alternating rounds, and the ratio. Both outputs deserialize to the same message
(``test/test_detections_cdr.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from edge_infer_ros.decoders.detections import Detections, track_id_strings
from edge_infer_ros.ros.conversions import detections_to_msg
from edge_infer_ros.ros.detections_cdr import detections_cdr

LABELS = [f'class_{i}' for i in range(80)]


def _scene(n: int, tracks: bool) -> Detections:
    rng = np.random.default_rng(n)
    boxes = (rng.random((n, 4)) * 900).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    return Detections(boxes, rng.random(n).astype(np.float32), rng.integers(0, 80, n),
                      rng.integers(1, 1000, n) if tracks else None)


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=4)
    args = parser.parse_args()
    header = Header(frame_id='camera_optical_frame')
    print('median ms per frame, alternating rounds (median of round medians)\n')
    print('| detections | tracker | rclpy message + serialize | node (detections_cdr) | ratio |')
    print('| --- | --- | --- | --- | --- |')
    for n in (0, 5, 20, 50, 100):
        for tracks in (False, True):
            dets = _scene(n, tracks)

            def rclpy_path(dets: Detections = dets) -> bytes:
                return serialize_message(detections_to_msg(dets, header, LABELS))

            def node_path(dets: Detections = dets) -> bytes:
                return detections_cdr(dets, 0, 0, header.frame_id, LABELS, 'name',
                                      track_id_strings(dets))

            ours, theirs = [], []
            for r in range(args.rounds):
                pair = (node_path, rclpy_path) if r % 2 == 0 else (rclpy_path, node_path)
                for fn in pair:
                    (ours if fn is node_path else theirs).append(_median_ms(fn, args.runs))
            a, b = statistics.median(theirs), statistics.median(ours)
            print(f'| {n} | {"bytetrack IDs" if tracks else "none"} | {a:.3f} | {b:.3f} '
                  f'| {a / b:.1f} x |')


if __name__ == '__main__':
    main()
