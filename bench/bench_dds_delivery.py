"""How evenly a 1080p camera stream reaches a subscriber: the middleware's defaults vs the profile.

Not a test. It starts the stream benchmark's camera process (bgr8 1920x1080, 30 Hz, RELIABLE
depth 10) and, in alternating rounds, a bare subscriber (history depth 10, serialized messages,
taken the moment they arrive, no processing) while two threads keep both cores busy as inference
does, with the camera and the subscriber on the middleware's defaults ("default") and both on
``config/fastdds_large_images.xml`` ("profile"). Per setup (medians over rounds) it prints the
frames received per second, the gaps between the camera's own stamps (how evenly it publishes)
and the gaps between arrivals (how evenly they are delivered), with the number of arrival gaps
over 100 ms.

Why: ``detector_node`` processes the newest frame when its worker is free. If frames arrive in
bursts after stalls, the worker idles through each stall however fast it is, while a node working
through a ten-frame queue stays busy on frames that are by then hundreds of milliseconds old.
This shows whether the stalls are the camera's or the transport's.

    .venv/bin/python bench/bench_dds_delivery.py            # ~3 min
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import struct
import subprocess
import sys
import threading
import time

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_stream import SETUPS, _env  # noqa: E402  (the benchmark's camera and environments)

_SETUPS = ('default', 'profile')


def _subscriber(seconds: float, load_threads: int) -> dict[str, float]:
    """Receive for ``seconds`` (after 3 s of settling) in this process; return the figures."""
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = Node('delivery_probe')
    arrivals: list[float] = []
    stamps: list[float] = []

    def received(data: bytes) -> None:
        arrivals.append(time.monotonic())
        sec, nanosec = struct.unpack_from('<iI', data, 4)  # after the CDR header: Header.stamp
        stamps.append(sec + nanosec * 1e-9)

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, 'image_raw', received, qos, raw=True)
    stop = threading.Event()

    def busy() -> None:  # one core's worth of matrix products, like an inference thread
        a = np.random.default_rng(0).random((600, 600), dtype=np.float32)
        while not stop.is_set():
            a = (a @ a) / 600.0

    for _ in range(load_threads):
        threading.Thread(target=busy, daemon=True).start()
    start = time.monotonic()
    while time.monotonic() - start < seconds + 3.0:
        rclpy.spin_once(node, timeout_sec=0.1)
    stop.set()
    node.destroy_node()
    rclpy.try_shutdown()
    t = np.array(arrivals)
    keep = t > start + 3.0
    t, s = t[keep], np.array(stamps)[keep]
    if t.size < 3:
        return {'hz': float(t.size) / seconds}
    gaps, stamp_gaps = np.diff(t) * 1e3, np.diff(s) * 1e3
    return {
        'hz': (t.size - 1) / (t[-1] - t[0]),
        'stamp_p50': float(np.median(stamp_gaps)), 'stamp_max': float(stamp_gaps.max()),
        'gap_p50': float(np.median(gaps)), 'gap_p99': float(np.percentile(gaps, 99)),
        'gap_max': float(gaps.max()), 'stalls': float(np.sum(gaps > 100.0)),
    }


def _one(setup: str, args: argparse.Namespace, domain: int) -> dict[str, float]:
    _, camera_profile, node_profile = SETUPS[setup]
    cam = subprocess.Popen(
        [sys.executable, str(HERE / 'bench_stream.py'), 'camera', '--format', 'bgr8',
         '--width', '1920', '--height', '1080'],
        env=_env(domain, camera_profile), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = subprocess.run(
            [sys.executable, __file__, 'probe', '--seconds', str(args.seconds),
             '--load', str(args.load)],
            env=_env(domain, node_profile), capture_output=True, text=True, check=True,
            timeout=args.seconds + 60)
    finally:
        cam.terminate()
        cam.wait(timeout=10)
    return _parse_line(probe.stdout)


def _parse_line(text: str) -> dict[str, float]:
    """The probe's last line, ``key=value`` pairs."""
    line = text.strip().splitlines()[-1]
    return {k: float(v) for k, v in (item.split('=') for item in line.split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('mode', nargs='?', default='run', choices=('run', 'probe'))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=20.0)
    parser.add_argument('--load', type=int, default=2, help='busy threads beside the subscriber')
    args = parser.parse_args()
    if args.mode == 'probe':
        os.environ.setdefault('OMP_NUM_THREADS', '1')
        figures = _subscriber(args.seconds, args.load)
        print(' '.join(f'{k}={v}' for k, v in figures.items()), flush=True)
        return
    results: dict[str, list[dict[str, float]]] = {s: [] for s in _SETUPS}
    domain = 60 + os.getpid() % 40
    for r in range(args.rounds):
        order = _SETUPS if r % 2 == 0 else _SETUPS[::-1]
        for setup in order:
            figures = _one(setup, args, domain)
            results[setup].append(figures)
            print(f'round {r + 1} {setup:8s} ' + ' '.join(
                f'{k} {v:.1f}' for k, v in figures.items()), flush=True)
    print(f'\n1920x1080 bgr8 at 30 Hz, {args.load} busy threads, '
          f'medians of {args.rounds} rounds\n')
    print('| DDS | received Hz | camera stamp gap p50 / max ms | arrival gap p50 / p99 / max ms '
          '| arrival gaps > 100 ms per 20 s |')
    print('| --- | --- | --- | --- | --- |')
    for setup in _SETUPS:
        m = {k: statistics.median(f.get(k, float('nan')) for f in results[setup])
             for k in results[setup][0]}
        per20 = m.get('stalls', 0.0) * 20.0 / args.seconds
        stamp = f"{m.get('stamp_p50', 0):.0f} / {m.get('stamp_max', 0):.0f}"
        gaps = ' / '.join(f'{m.get(k, 0):.0f}' for k in ('gap_p50', 'gap_p99', 'gap_max'))
        print(f"| {SETUPS[setup][0]} | {m['hz']:.1f} | {stamp} | {gaps} | {per20:.0f} |")


if __name__ == '__main__':
    main()
