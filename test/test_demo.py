"""The README's demo: camera and detector processes, lifecycle driven, checked, recorded."""

from __future__ import annotations

import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
MODEL = Path(__file__).resolve().parent.parent / 'models' / 'demo_detector.onnx'


def test_demo_detects_the_synthetic_scenes_and_records_a_bag(tmp_path) -> None:
    from rosbags.highlevel import AnyReader

    from edge_infer_ros.eval.bag_types import typestore

    env = dict(os.environ, ROS_DOMAIN_ID=str(101 + os.getpid() % 50))
    result = subprocess.run(
        [sys.executable, '-m', 'edge_infer_ros.demo.run', '--seconds', '4', '--rate', '8',
         '--scene-frames', '8', '--output', str(tmp_path),
         '--engine-cache-path', str(tmp_path / 'engines')],
        env=env, capture_output=True, text=True, timeout=240, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert 'provider        CPUExecutionProvider' in out
    assert '[demo] OK' in out
    identity = r'tracking        IDF1 \d\.\d{3}, ID switches \d+, MOTA -?\d\.\d{3}'
    assert re.search(identity, out), out
    with AnyReader([tmp_path / 'demo_bag'], default_typestore=typestore()) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts['/image_raw'] > 10
    assert counts['/ground_truth'] >= counts['/image_raw'] - 1
    assert counts['/detections'] > 10
    with AnyReader([tmp_path / 'demo_bag'], default_typestore=typestore()) as reader:
        truth = [c for c in reader.connections if c.topic == '/ground_truth']
        ids = {d.id for _, _, raw in reader.messages(connections=truth)
               for d in reader.deserialize(raw, truth[0].msgtype).detections}
    assert ids and all(i.isdigit() for i in ids)  # the camera names its objects
