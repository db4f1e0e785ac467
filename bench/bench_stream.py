"""Stream benchmark: detector_node vs a conventional tutorial node under a real camera process.

Not a test. In one run, for each case (bgr8 640x480, bgr8 1920x1080, JPEG CompressedImage
1920x1080) and each DDS setup (the middleware's defaults, as a user's own camera driver runs; the
large-image profile the launch file applies, in both processes; and that profile in the node only,
as when the launch file starts the node beside a camera driver run without it), it starts a camera
process publishing at 30 Hz (RELIABLE, depth 10, like camera drivers and ``ros2 bag play``), then,
in turn and as separate processes, ``detector_node`` (configured and activated through its
lifecycle services, default parameters, ``publish_debug_image: false``) and the tutorial node
below, with the same model on the CPU provider. It measures the bare ``session.run`` time of the
model in the same run and prints, per case and node (medians over alternating rounds): output
fps; fps x bare time (the fraction of the model's own maximum); image stamp -> detections
received age p50/p99 and p99 / bare time; CPU seconds of the node process per output frame and
per received frame; frames received and dropped per second; and the detector's own per-stage
host times and delivery stalls (frames the camera published that reached the node late, while
it waited for them) from /diagnostics.
A last section fits the node's CPU to output and dropped frames at two camera rates to show what
one dropped frame costs.

    .venv/bin/python bench/bench_stream.py                 # ~35 min on 2 cores
    .venv/bin/python bench/bench_stream.py --quick         # one round, 1080p only
    .venv/bin/python bench/bench_stream.py --baseline DIR  # + detector_node of another checkout

The model is ``tools/make_bench_model.py``'s YOLOv8n-class export (8.7 GFLOPs at 640, built into
``build/bench/`` if missing). Run it on an otherwise idle machine: the camera, the node and the
collector share the cores, as they do on a robot.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / 'build' / 'bench' / 'bench_yolov8n_640.onnx'
PROFILE = REPO / 'config' / 'fastdds_large_images.xml'
CASES = {
    'bgr8 640x480': ('bgr8', 640, 480),
    'bgr8 1920x1080': ('bgr8', 1920, 1080),
    'jpeg 1920x1080': ('jpeg', 1920, 1080),
}
SETUPS = {  # key: (label, camera uses the profile, node uses the profile)
    'default': ('default DDS', False, False),
    'profile': ('large-image profile', True, True),
    # The launch file applies the profile to the node; a user's own camera driver runs without.
    'node-only': ('profile on node only', False, True),
}
RATE_HZ = 30.0
CLK_TCK = os.sysconf('SC_CLK_TCK')


# --- camera process ---------------------------------------------------------------------------

def run_camera(args: argparse.Namespace) -> None:
    """Publish one generated scene at ``rate`` Hz with fresh stamps until killed."""
    import cv2
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image

    from edge_infer_ros.demo.scene import generate_scene

    bgr = generate_scene(np.random.default_rng(1), args.width, args.height).image
    rclpy.init()
    node = rclpy.create_node('bench_camera')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    if args.format == 'jpeg':
        msg: Any = CompressedImage(format='jpeg')
        msg.data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        pub = node.create_publisher(CompressedImage, 'image_raw/compressed', qos)
    else:
        msg = Image(height=args.height, width=args.width, encoding='bgr8', step=args.width * 3)
        msg.data = bgr.tobytes()
        pub = node.create_publisher(Image, 'image_raw', qos)
    msg.header.frame_id = 'bench_camera'
    period, start, sent = 1.0 / args.rate, time.monotonic(), 0
    try:
        while rclpy.ok():
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
            sent += 1
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# --- the conventional tutorial node -----------------------------------------------------------

def run_tutorial(args: argparse.Namespace) -> None:
    """The 30-line node of a ROS + ONNX Runtime tutorial: everything inside the callback."""
    import cv2
    import onnxruntime as ort
    import rclpy
    from sensor_msgs.msg import CompressedImage, Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    rclpy.init()
    node = rclpy.create_node('tutorial_detector')
    options = ort.SessionOptions()
    if args.no_spin:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    session = ort.InferenceSession(args.model, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    size = session.get_inputs()[0].shape[2]
    pub = node.create_publisher(Detection2DArray, 'detections', 10)

    def callback(msg: Any) -> None:
        if args.compressed:
            img = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
        else:  # cv_bridge.imgmsg_to_cv2(msg, 'bgr8')
            img = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3).copy()
        h, w = img.shape[:2]
        r = min(size / h, size / w)
        nw, nh = round(w * r), round(h * r)
        img = cv2.resize(img, (nw, nh))
        top, left = (size - nh) // 2, (size - nw) // 2
        img = cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left,
                                 cv2.BORDER_CONSTANT, value=(114, 114, 114))
        blob = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        pred = session.run(None, {name: blob})[0][0].T
        scores, classes = pred[:, 4:].max(1), pred[:, 4:].argmax(1)
        keep = scores > 0.25
        xywh = pred[keep, :4]
        boxes = np.c_[xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, 2:]]
        out = Detection2DArray(header=msg.header)
        for i in cv2.dnn.NMSBoxes(boxes.tolist(), scores[keep].tolist(), 0.25, 0.45):
            det = Detection2D(header=msg.header)
            x, y, bw, bh = (boxes[i] - [left, top, 0, 0]) / r
            det.bbox.center.position.x, det.bbox.center.position.y = x + bw / 2, y + bh / 2
            det.bbox.size_x, det.bbox.size_y = float(bw), float(bh)
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id = str(classes[keep][i])
            hyp.hypothesis.score = float(scores[keep][i])
            det.results.append(hyp)
            out.detections.append(det)
        pub.publish(out)

    topic = 'image_raw/compressed' if args.compressed else 'image_raw'
    node.create_subscription(CompressedImage if args.compressed else Image, topic, callback, 10)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# --- measurement ------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bare_ms(model: str, runs: int = 20) -> float:
    """Median ``session.run`` of the model alone, default session options, CPU provider."""
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).random((1, 3, inp.shape[2], inp.shape[3]), np.float32)
    for _ in range(3):
        session.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {inp.name: x})
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


@dataclass
class Result:
    """One node on one case for one round."""

    fps: float = 0.0
    age_p50: float = float('nan')
    age_p99: float = float('nan')
    cpu_per_out_ms: float = float('nan')
    cpu_per_in_ms: float = float('nan')
    cpu_cores: float = float('nan')
    received_hz: float = float('nan')
    dropped_hz: float = float('nan')
    stages: dict[str, float] = field(default_factory=dict)
    stalls_per_10s: float = float('nan')


class Collector:
    """The benchmark's own ROS node: drives lifecycles, listens to detections and diagnostics."""

    def __init__(self, domain: int) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from vision_msgs.msg import Detection2DArray

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node('bench_collector', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.arrivals: list[tuple[int, int]] = []  # (received ns, stamp ns)
        self.diag: dict[str, str] = {}
        self.node.create_subscription(Detection2DArray, 'detections', self._on_dets, 100)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)

    def _on_dets(self, msg: Any) -> None:
        now = time.time_ns()
        self.arrivals.append((now, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec))

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith('image_raw') or status.name.endswith('compressed'):
                self.diag = {kv.key: kv.value for kv in status.values}

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)

    def lifecycle(self, node_name: str, transition: int, timeout: float = 60.0) -> bool:
        """Request a lifecycle transition (by id) the way ``ros2 lifecycle set`` does."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        client = self.node.create_client(ChangeState, f'/{node_name}/change_state')
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return False
            future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
            end = time.monotonic() + timeout
            while not future.done() and time.monotonic() < end:
                self.executor.spin_once(timeout_sec=0.05)
            return bool(future.done() and future.result().success)
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        """Destroy the node and its context."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _env(domain: int, profile: bool) -> dict[str, str]:
    from edge_infer_ros.ros.dds import profile_variable
    env = {k: v for k, v in os.environ.items()
           if k not in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')}
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONUNBUFFERED='1')
    if profile:
        env[profile_variable(env)] = str(PROFILE)
    return env


def _node_cmd(kind: str, case: str, model: str, cache: str, baseline: str | None,
              extra_params: list[str], spin: bool = True) -> tuple[list[str], dict[str, str]]:
    fmt = CASES[case][0]
    if kind == 'tutorial':
        cmd = [sys.executable, __file__, 'tutorial', '--model', model]
        cmd += ['--compressed'] if fmt == 'jpeg' else []
        return cmd + ([] if spin else ['--no-spin']), {}
    topic = 'image_raw/compressed' if fmt == 'jpeg' else 'image_raw'
    module, extra = 'edge_infer_ros.ros.node', {}
    if kind == 'baseline' and baseline:
        old = Path(baseline, 'edge_infer_ros', 'node.py').exists()
        module = 'edge_infer_ros.node' if old else module
        extra = {'PYTHONPATH': baseline}
    params = {'model_path': model, 'providers': "['cpu']", 'precision': 'fp32',
              'publish_debug_image': 'false', 'engine_cache_path': cache,
              'image_topics': f"['{topic}']"}
    cmd = [sys.executable, '-m', module, '--ros-args', '-r', '__node:=bench_detector']
    for key, value in params.items():
        cmd += ['-p', f'{key}:={value}']
    for item in [*extra_params, *([] if spin else ['cpu_spin_wait:=false'])]:
        cmd += ['-p', item]
    return cmd, extra


def measure(kind: str, case: str, setup: str, args: argparse.Namespace, domain: int,
            rate: float = RATE_HZ, spin: bool = True) -> Result:
    """Start camera and node, wait until detections flow, measure one window, stop both."""
    fmt, width, height = CASES[case]
    _, camera_profile, node_profile = SETUPS[setup]
    env = _env(domain, node_profile)
    cam = subprocess.Popen(
        [sys.executable, __file__, 'camera', '--format', fmt, '--width', str(width),
         '--height', str(height), '--rate', str(rate)],
        env=_env(domain, camera_profile), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd, extra = _node_cmd(kind, case, args.model, args.cache, args.baseline, args.param, spin)
    log = open(Path(args.cache) / f'{kind}.log', 'a')  # noqa: SIM115 - closed below
    # ``python -m`` puts the working directory first on sys.path: run a baseline from its own
    # checkout, or it would import this one.
    proc = subprocess.Popen(cmd, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT,
                            cwd=extra.get('PYTHONPATH'))
    collector = Collector(domain)
    result = Result()
    try:
        if kind != 'tutorial' and not (collector.lifecycle('bench_detector', 1)
                                       and collector.lifecycle('bench_detector', 3)):
            print(f'  {kind}: lifecycle transitions failed, see {log.name}', flush=True)
            return result
        end = time.monotonic() + 60
        while not collector.arrivals and time.monotonic() < end:
            collector.spin_for(0.2)
        collector.spin_for(args.warmup)
        first = len(collector.arrivals)
        diag0 = dict(collector.diag)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        collector.spin_for(args.seconds)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        collector.spin_for(1.2)  # one more diagnostics period
        window = list(collector.arrivals[first:])
        span = t1 - t0
        result.fps = len(window) / span
        ages = np.array([(rx - stamp) / 1e6 for rx, stamp in window if stamp])
        if ages.size:
            result.age_p50, result.age_p99 = (float(v) for v in np.percentile(ages, [50, 99]))
        result.cpu_cores = (cpu1 - cpu0) / span
        if window:
            result.cpu_per_out_ms = (cpu1 - cpu0) / len(window) * 1e3
        diag1 = collector.diag
        if diag0 and diag1 and kind != 'tutorial':
            got = int(diag1['frames_in']) - int(diag0['frames_in'])
            result.received_hz = got / span
            result.dropped_hz = (int(diag1['frames_dropped']) -
                                 int(diag0['frames_dropped'])) / span
            result.cpu_per_in_ms = (cpu1 - cpu0) / max(got, 1) * 1e3
            if 'delivery_stalls' in diag1 and 'delivery_stalls' in diag0:
                stalls = int(diag1['delivery_stalls']) - int(diag0['delivery_stalls'])
                result.stalls_per_10s = stalls / span * 10
            result.stages = {k.removeprefix('latency_').removesuffix('_p50_ms'): float(v)
                             for k, v in diag1.items()
                             if k.startswith('latency_') and k.endswith('_p50_ms')}
        else:  # the tutorial takes every frame it processes; the rest overflow its queue
            result.received_hz = result.fps
            result.dropped_hz = max(rate - result.fps, 0.0)
            result.cpu_per_in_ms = result.cpu_per_out_ms
        return result
    finally:
        for p in (proc, cam):
            p.send_signal(signal.SIGINT)
        for p in (proc, cam):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        collector.close()
        log.close()


def _med(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float('nan')


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + ' |'
             for r in rows]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> None:
    """Alternate rounds over cases, DDS setups and nodes; print medians and ratios."""
    if not Path(args.model).exists():
        Path(args.model).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(REPO / 'tools' / 'make_bench_model.py'), '--out',
                        args.model], check=True)
    args.model = str(Path(args.model).resolve())  # the baseline runs from its own checkout
    args.cache = tempfile.mkdtemp(prefix='bench_stream_')
    kinds = [k for k in args.nodes.split(',') if k != 'baseline' or args.baseline]
    if args.baseline and 'baseline' not in kinds:
        kinds.append('baseline')
    cases = args.case or (['bgr8 1920x1080'] if args.quick else list(CASES))
    setups = [(SETUPS[key][0], key) for key in SETUPS if not args.setup or key in args.setup]
    results: dict[tuple[str, str, str], list[Result]] = {}
    bares: list[float] = []
    domain = 150 + os.getpid() % 50
    for rnd in range(args.rounds):
        bares.append(bare_ms(args.model))
        print(f'round {rnd + 1}/{args.rounds}: bare session.run {bares[-1]:.1f} ms', flush=True)
        for case in cases:
            for setup, key in setups:
                order = kinds if rnd % 2 == 0 else kinds[::-1]
                for kind in order:
                    r = measure(kind, case, key, args, domain)
                    results.setdefault((case, setup, kind), []).append(r)
                    print(f'  {case:15s} {setup:20s} {kind:9s} {r.fps:5.1f} fps, age p50 '
                          f'{r.age_p50:6.1f} p99 {r.age_p99:6.1f} ms, CPU {r.cpu_cores:.2f} '
                          'cores', flush=True)
    bare = statistics.median(bares)
    print(f'\nbare session.run median {bare:.1f} ms (max {1000 / bare:.1f} fps); '
          f'camera {RATE_HZ:.0f} Hz RELIABLE depth 10; medians of {args.rounds} round(s)\n')
    rows = [['case', 'DDS', 'node', 'fps', 'x tutorial', 'fps x bare', 'age p50 ms',
             'age p99 ms', 'p99 / bare', 'CPU ms / out', 'CPU ms / in', 'in Hz', 'dropped Hz']]
    summary: dict[str, Any] = {'bare_ms': bare, 'rounds': args.rounds, 'rows': []}
    for case in cases:
        for setup, _ in setups:
            tut = _med([r.fps for r in results.get((case, setup, 'tutorial'), [])])
            for kind in kinds:
                rs = results[(case, setup, kind)]
                fps, p99 = _med([r.fps for r in rs]), _med([r.age_p99 for r in rs])
                row = {
                    'case': case, 'dds': setup, 'node': kind, 'fps': fps,
                    'vs_tutorial': fps / tut if tut else float('nan'),
                    'fraction_of_bare': fps * bare / 1000,
                    'age_p50_ms': _med([r.age_p50 for r in rs]), 'age_p99_ms': p99,
                    'p99_over_bare': p99 / bare,
                    'cpu_ms_per_output': _med([r.cpu_per_out_ms for r in rs]),
                    'cpu_ms_per_received': _med([r.cpu_per_in_ms for r in rs]),
                    'received_hz': _med([r.received_hz for r in rs]),
                    'dropped_hz': _med([r.dropped_hz for r in rs]),
                    'stages_p50_ms': {k: _med([r.stages.get(k, float('nan')) for r in rs])
                                      for k in (rs[0].stages or {})},
                    'delivery_stalls_per_10s': _med([r.stalls_per_10s for r in rs]),
                }
                summary['rows'].append(row)
                rows.append([case, setup, kind, f'{fps:.1f}', f'{row["vs_tutorial"]:.2f}',
                             f'{row["fraction_of_bare"]:.2f}', f'{row["age_p50_ms"]:.0f}',
                             f'{p99:.0f}', f'{row["p99_over_bare"]:.1f}',
                             f'{row["cpu_ms_per_output"]:.1f}',
                             f'{row["cpu_ms_per_received"]:.1f}',
                             f'{row["received_hz"]:.1f}', f'{row["dropped_hz"]:.1f}'])
    print(_table(rows))
    stage_rows = [['case', 'DDS', 'node', 'decode', 'preprocess', 'inference', 'postprocess',
                   'publish', 'host (all but inference)', 'delivery stalls / 10 s']]
    for row in summary['rows']:
        st = row['stages_p50_ms']
        if st:
            stage_rows.append([row['case'], row['dds'], row['node'],
                               *(f'{st.get(k, float("nan")):.2f}' for k in
                                 ('decode', 'preprocess', 'inference', 'postprocess',
                                  'publish', 'host')),
                               f'{row["delivery_stalls_per_10s"]:.1f}'])
    if len(stage_rows) > 1:
        print("\nper-stage p50 ms from the node's /diagnostics\n")
        print(_table(stage_rows))
    if not args.quick and not args.case and not args.setup:
        summary['drop_cost'] = drop_cost(args, kinds, domain)
    out = Path(args.json) if args.json else None
    if out:
        out.write_text(json.dumps(summary, indent=2))
        print(f'\nwrote {out}')


def drop_cost(args: argparse.Namespace, kinds: list[str], domain: int) -> dict[str, float]:
    """CPU per dropped 1080p frame: fit CPU = a * output + b * dropped over two camera rates.

    ONNX Runtime's threads spin between operators by default and fill both cores whatever the
    node does, which hides a dropped frame's cost; these runs turn spinning off (the node's
    ``cpu_spin_wait``, the tutorial's session option) so the process's CPU is its work. The
    before-checkout has no such parameter and spins.
    """
    print('\nCPU per dropped 1080p frame (large-image profile, ONNX Runtime spinning off): node '
          'CPU at camera 30 Hz and 20 Hz, fitted as cpu/s = a * out/s + b * dropped/s',
          flush=True)
    out: dict[str, float] = {}
    for kind in kinds:
        runs = [measure(kind, 'bgr8 1920x1080', 'profile', args, domain, rate, spin=False)
                for rate in (30.0, 20.0, 30.0, 20.0)]
        pts = [(r.fps, r.dropped_hz if r.dropped_hz == r.dropped_hz else 0.0, r.cpu_cores)
               for r in runs]
        a_mat = np.array([[p[0], p[1]] for p in pts])
        (a, b), *_ = np.linalg.lstsq(a_mat, np.array([p[2] for p in pts]), rcond=None)
        out[kind] = float(b * 1e3)
        print(f'  {kind:9s} per output frame {a * 1e3:6.1f} ms CPU, per dropped frame '
              f'{b * 1e3:6.2f} ms CPU   (runs: ' + ', '.join(
                  f'{p[0]:.1f} out/{p[1]:.1f} dropped/{p[2]:.2f} cores' for p in pts) + ')',
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='cmd')
    cam = sub.add_parser('camera')
    cam.add_argument('--format', default='bgr8')
    cam.add_argument('--width', type=int, default=1920)
    cam.add_argument('--height', type=int, default=1080)
    cam.add_argument('--rate', type=float, default=RATE_HZ)
    tut = sub.add_parser('tutorial')
    tut.add_argument('--model', required=True)
    tut.add_argument('--compressed', action='store_true')
    tut.add_argument('--no-spin', action='store_true')
    parser.add_argument('--model', default=str(DEFAULT_MODEL))
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=15.0, help='measurement window')
    parser.add_argument('--warmup', type=float, default=4.0)
    parser.add_argument('--quick', action='store_true', help='one round, 1080p bgr8 only')
    parser.add_argument('--baseline', help='checkout whose detector_node runs as "baseline"')
    parser.add_argument('--json', help='also write the medians to this file')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='extra detector_node parameter (both detector variants)')
    parser.add_argument('--case', action='append', choices=list(CASES),
                        help='run only these cases (default: all)')
    parser.add_argument('--setup', action='append', choices=list(SETUPS),
                        help='run only these DDS setups (default: all)')
    parser.add_argument('--nodes', default='tutorial,detector',
                        help='comma-separated subset of tutorial,detector,baseline')
    args = parser.parse_args()
    if args.cmd == 'camera':
        run_camera(args)
    elif args.cmd == 'tutorial':
        run_tutorial(args)
    else:
        if args.quick:
            args.rounds = 1
        run(args)


if __name__ == '__main__':
    main()
