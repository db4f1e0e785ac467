"""The one-command demo: synthetic camera -> detector node -> detections checked against truth.

Starts the camera and the detector as separate processes (as a launch file would), drives the
detector through configure and activate over its lifecycle services, listens for a while, then
prints what ran, how fast and how accurately, and records everything to an MCAP rosbag2.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from edge_infer_ros.eval.matching import match_detections
from edge_infer_ros.ros.dds import profile_variable

__all__ = ['main']

REPO_CONFIG = Path(__file__).resolve().parent.parent / 'config'


def _share_file(name: str) -> Path:
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory('edge_infer_ros')) / 'config' / name
        if path.exists():
            return path
    except Exception:  # noqa: BLE001 - not installed through ament: use the source tree
        pass
    return REPO_CONFIG / name


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='demo', description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=15.0, help='how long to detect')
    parser.add_argument('--rate', type=float, default=10.0, help='camera frames per second')
    parser.add_argument('--width', type=int, default=640, help='camera image width')
    parser.add_argument('--height', type=int, default=480, help='camera image height')
    parser.add_argument('--seed', type=int, default=7, help='scene generator seed')
    parser.add_argument('--scene-frames', type=int, default=50,
                        help='frames each scene lasts, its objects moving (1: a new scene '
                             'every frame)')
    parser.add_argument('--tracker', default='bytetrack', choices=['none', 'bytetrack'],
                        help='tracker of the detector (default bytetrack)')
    parser.add_argument('--params-file', default=str(_share_file('detector.yaml')),
                        help='detector parameters YAML (default: config/detector.yaml)')
    parser.add_argument('--model-path', default='', help='ONNX model (default: the demo model)')
    parser.add_argument('--precision', default='', choices=['', 'fp32', 'fp16', 'int8'],
                        help='override the precision of the params file')
    parser.add_argument('--engine-cache-path', default='',
                        help='override the engine cache folder of the params file')
    parser.add_argument('--output', default='demo_output', help='folder for the rosbag')
    parser.add_argument('--min-f1', type=float, default=0.8,
                        help='exit non-zero when detections match the truth worse than this')
    return parser.parse_args(argv)


@dataclass
class _Recording:
    """Everything the demo listens to, as raw CDR for the bag plus decoded for checking."""

    raw: list[tuple[str, int, bytes]] = field(default_factory=list)
    detections: dict[tuple[int, int], Any] = field(default_factory=dict)
    truth: dict[tuple[int, int], Any] = field(default_factory=dict)
    arrival_ms: list[float] = field(default_factory=list)
    diagnostics: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stamp(msg: Any) -> tuple[int, int]:
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open('wb')
    return subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _write_bag(path: Path, rec: _Recording) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    from edge_infer_ros.eval.bag_types import typestore

    if path.exists():
        shutil.rmtree(path)
    store = typestore()
    array = 'vision_msgs/msg/Detection2DArray'
    types = {'/image_raw': 'sensor_msgs/msg/Image', '/detections': array, '/ground_truth': array}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {t: writer.add_connection(t, m, typestore=store) for t, m in types.items()}
        for topic, stamp_ns, data in sorted(rec.raw, key=lambda r: r[1]):
            writer.write(conns[topic], stamp_ns, data)


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script
    """Run the demo; returns the process exit code."""
    args = _parse(argv)
    profile = _share_file('fastdds_large_images.xml')
    os.environ.setdefault(profile_variable(os.environ), str(profile))
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env = dict(os.environ)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    import rclpy
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from edge_infer_ros.imaging.cdr import parse_image
    from edge_infer_ros.ros.intake import MESSAGE_INFO_CALLBACKS

    detector_args = ['--ros-args', '--params-file', args.params_file, '-r', '__node:=detector']
    for name, value in (('model_path', args.model_path), ('precision', args.precision),
                        ('engine_cache_path', args.engine_cache_path),
                        ('tracker', args.tracker)):
        if value:
            detector_args += ['-p', f'{name}:={value}']
    camera_args = ['--ros-args', '-p', f'rate:={args.rate}', '-p', f'width:={args.width}',
                   '-p', f'height:={args.height}', '-p', f'seed:={args.seed}',
                   '-p', f'scene_frames:={max(args.scene_frames, 1)}']
    print(f'[demo] starting synthetic_camera ({args.width}x{args.height} @ {args.rate:g} Hz) and '
          f'detector_node; logs in {out_dir}/')
    camera = _start([sys.executable, '-m', 'edge_infer_ros.demo.synthetic_camera', *camera_args],
                    env, out_dir / 'synthetic_camera.log')
    detector = _start([sys.executable, '-m', 'edge_infer_ros.ros.node', *detector_args], env,
                      out_dir / 'detector.log')

    rclpy.init()
    node = Node('edge_infer_demo')
    rec = _Recording()
    t_start = time.monotonic()

    def keep_image(data: bytes) -> None:
        # Only the stamp is needed (bag order): read in place, never deserialized. The demo
        # shares the cores with the detector, so its own work must not show as detector latency.
        stamp = parse_image(data).header.stamp
        with rec.lock:
            rec.raw.append(('/image_raw', stamp.sec * 1_000_000_000 + stamp.nanosec, data))

    def keep(topic: str) -> Any:
        def callback(data: bytes, info: Any = None) -> None:
            # The middleware's receive time, not the time this thread got to run.
            received_ns = (info or {}).get('received_timestamp') or time.time_ns()
            msg = deserialize_message(data, Detection2DArray)
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            with rec.lock:
                rec.raw.append((topic, stamp_ns, bytes(data)))
                if topic == '/detections':
                    rec.detections[_stamp(msg)] = msg
                    rec.arrival_ms.append((received_ns - stamp_ns) / 1e6)
                else:
                    rec.truth[_stamp(msg)] = msg
        if MESSAGE_INFO_CALLBACKS:
            return lambda data, info: callback(data, info)
        return callback

    reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, 'image_raw', keep_image, reliable, raw=True,
                             callback_group=MutuallyExclusiveCallbackGroup())
    for topic in ('detections', 'ground_truth'):
        node.create_subscription(Detection2DArray, topic, keep(f'/{topic}'), reliable, raw=True,
                                 callback_group=MutuallyExclusiveCallbackGroup())
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: setattr(rec, 'diagnostics', m), 10)
    change = node.create_client(ChangeState, 'detector/change_state')
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    code = 1
    try:
        code = _drive(args, node, change, Transition, ChangeState, rec, detector, out_dir, t_start)
    except KeyboardInterrupt:
        print('[demo] interrupted')
    finally:
        for proc in (camera, detector):
            proc.terminate()
        for proc in (camera, detector):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def _transition(change: Any, request_type: Any, transition_id: int, timeout: float) -> bool:
    request = request_type.Request()
    request.transition.id = transition_id
    future = change.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(future.done() and future.result().success)


def _drive(args: argparse.Namespace, node: Any, change: Any, transition: Any, request: Any,
           rec: _Recording, detector: Any, out_dir: Path, t_start: float) -> int:
    if not change.wait_for_service(timeout_sec=60.0):
        print(f'[demo] detector did not come up; see {out_dir}/detector.log')
        return 1
    print('[demo] configure (builds/loads and warms the engine) ...')
    t0 = time.monotonic()
    if not _transition(change, request, transition.TRANSITION_CONFIGURE, 900.0):
        print(f'[demo] configure FAILED; the reason is in {out_dir}/detector.log:')
        print((out_dir / 'detector.log').read_text()[-2000:])
        return 1
    configure_s = time.monotonic() - t0
    _wait_for_publisher(node, 'detections', 10.0)
    t0 = time.monotonic()
    if not _transition(change, request, transition.TRANSITION_ACTIVATE, 30.0):
        print('[demo] activate FAILED')
        return 1
    activate_ms = (time.monotonic() - t0) * 1e3
    print(f'[demo] configured in {configure_s:.2f} s, activated in {activate_ms:.0f} ms; '
          f'detecting for {args.seconds:g} s ...')
    time.sleep(args.seconds)
    _transition(change, request, transition.TRANSITION_DEACTIVATE, 30.0)
    time.sleep(0.5)
    with rec.lock:
        return _report(args, rec, configure_s, activate_ms, out_dir)


def _wait_for_publisher(node: Any, topic: str, timeout_s: float) -> None:
    """Wait until this recorder has discovered the detector's ``topic`` publisher.

    The publisher exists from configure on; activating before the recorder has discovered it
    loses the first detections (a 0.15 s configure on a fast machine left 8 of 32 recorded).
    """
    deadline = time.monotonic() + timeout_s
    while node.count_publishers(topic) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)


def _values(diag: Any, suffix: str) -> dict[str, str]:
    if diag is None:
        return {}
    for status in diag.status:
        if status.name.endswith(suffix):
            return {kv.key: kv.value for kv in status.values}
    return {}


def _report(args: argparse.Namespace, rec: _Recording, configure_s: float, activate_ms: float,
            out_dir: Path) -> int:
    from edge_infer_ros.eval.identity import TrackedFrame, identity_metrics
    from edge_infer_ros.eval.messages import ClassIndex, named_boxes_from_msg

    engine = _values(rec.diagnostics, ': engine')
    camera = _values(rec.diagnostics, ': image_raw')
    index = ClassIndex()  # one name -> id map for truth and detections alike
    tp = fp = fn = 0
    frames = 0
    tracked = []
    for stamp, truth_msg in sorted(rec.truth.items()):
        det_msg = rec.detections.get(stamp)
        if det_msg is None:
            continue
        frames += 1
        named_truth = named_boxes_from_msg(truth_msg)
        truth = index.detections(named_truth)
        dets = index.detections(named_boxes_from_msg(det_msg))
        t, f, n = match_detections(dets, truth, iou_threshold=0.5)
        tp, fp, fn = tp + t, fp + f, fn + n
        if args.tracker != 'none':  # frames without any tracked detection count too
            tracked.append(TrackedFrame(dets, named_truth))
    identity = identity_metrics([('image_raw', tracked)], index) if tracked else None
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    age = np.array(rec.arrival_ms) if rec.arrival_ms else np.zeros(1)
    bag = out_dir / 'demo_bag'
    _write_bag(bag, rec)
    lines = [
        '',
        '=== edge_infer_ros demo ===',
        f'provider        {engine.get("active_provider", "?")} '
        f'(requested {engine.get("requested_providers", "?")})',
        f'precision       {engine.get("precision_effective", "?")} '
        f'(requested {engine.get("precision_requested", "?")})',
        f'configure       {configure_s:.2f} s (session '
        f'{engine.get("session_create_seconds", "?")} s, warm-up first run '
        f'{engine.get("warmup_first_run_ms", "?")} ms); '
        f'activate {activate_ms:.0f} ms',
        f'frames          in {camera.get("frames_in", "?")}, out {camera.get("frames_out", "?")}, '
        f'dropped {camera.get("frames_dropped", "?")}, decode errors '
        f'{camera.get("decode_errors", "?")}',
        'latency (ms)    inference p50 {} p90 {} | total p50 {} p90 {} p99 {}'.format(
            *(camera.get(f'latency_{k}_ms', '?') for k in (
                'inference_p50', 'inference_p90', 'total_p50', 'total_p90', 'total_p99'))),
        'image age (ms)  at publish p50 {} p90 {} (node) | at this process p50 {:.1f} p90 {:.1f} '
        '(camera stamp to detections received, middleware receive time)'.format(
            camera.get('latency_age_p50_ms', '?'), camera.get('latency_age_p90_ms', '?'),
            np.percentile(age, 50), np.percentile(age, 90)),
        f'accuracy        {frames} frames with truth: {tp} matched, {fp} false, {fn} missed '
        f'(IoU>=0.5, same class): precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}',
        f'tracking        {identity.line() if identity else "none (tracker: none, or no IDs)"}',
        f'rosbag          {bag} (image_raw, detections, ground_truth; MCAP)',
    ]
    if engine.get('provider_fallback') == 'True':
        lines.append(f'NOTE            fell back from the requested providers: '
                     f'{engine.get("fallback_reason", "")[:300]}')
    print('\n'.join(lines))
    if frames == 0:
        print('[demo] FAILED: no detections matched any ground-truth frame')
        return 1
    if f1 < args.min_f1:
        print(f'[demo] FAILED: F1 {f1:.3f} below {args.min_f1}')
        return 1
    print('[demo] OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
