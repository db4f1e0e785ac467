"""What the node's log says at configure and shutdown, read from a real process's output.

ONNX Runtime writes its own lines straight to file descriptor 2, past Python and rclpy, so the
node runs in a subprocess and the tests read everything that process printed.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros

# configure, then shut down through the lifecycle, as `ros2 lifecycle set` would
SCRIPT = """
import sys
import rclpy
from edge_infer_ros.ros.node import DetectorNode
rclpy.init(args=sys.argv)
node = DetectorNode()
node.trigger_configure()
node.trigger_shutdown()
node.destroy_node()
rclpy.try_shutdown()
"""


def _node_output(cache: Path, *ros_args: str) -> str:
    pytest.importorskip('rclpy')
    done = subprocess.run(
        [sys.executable, '-c', SCRIPT, '--ros-args', '-p', f'engine_cache_path:={cache}',
         *ros_args], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _line(output: str, text: str) -> str:
    return next(line for line in output.splitlines() if text in line)


@pytest.fixture(scope='module')
def default_providers_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped providers (tensorrt, cuda, cpu) on this machine."""
    output = _node_output(tmp_path_factory.mktemp('cache'))
    if 'PROVIDER FALLBACK' not in output:
        pytest.skip('TensorRT and CUDA run here: there is no fallback to report')
    return output


def test_fallback_is_said_once_with_cause_and_fix_without_onnx_runtime_noise(
        default_providers_output: str) -> None:
    output = default_providers_output
    for noise in ('[E:onnxruntime', '[W:onnxruntime', 'provider_bridge_ort.cc', '\x1b[m'):
        assert noise not in output, output
    assert output.count('PROVIDER FALLBACK') == 1, output
    fallback = _line(output, 'PROVIDER FALLBACK')
    assert 'Cause: TensorrtExecutionProvider:' in fallback
    assert 'Fix' in fallback and 'providers' in fallback and 'fallback_policy' in fallback
    configured = _line(output, 'configured in')
    assert 'Cause' not in configured and 'LD_LIBRARY_PATH' not in configured
    assert len(configured) < 400, configured


def test_tensorrt_build_hint_only_when_tensorrt_is_requested(
        default_providers_output: str, tmp_path: Path) -> None:
    assert 'first TensorRT engine build' in _line(default_providers_output, 'configuring:')
    cpu_only = _node_output(tmp_path, '-p', 'providers:=[cpu]')
    assert 'TensorRT' not in _line(cpu_only, 'configuring:')


def test_onnx_runtime_messages_stay_available_at_debug_level(
        default_providers_output: str, tmp_path: Path) -> None:
    output = _node_output(tmp_path, '--log-level', 'detector:=debug')
    assert '[E:onnxruntime' in output
    assert 'ONNX Runtime could not start TensorrtExecutionProvider' in output


def test_shutdown_transition_is_logged(default_providers_output: str) -> None:
    assert 'finalized: shut down from inactive, engine released' in default_providers_output
