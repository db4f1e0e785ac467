"""1920x1080 frames from another process: detected RELIABLE or best effort, stalls reported.

A camera whose frames arrive late (delivery stalls) is reported with the fix.
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

from node_fixtures import collecting, start_detector, write_constant_model
import pytest
from ros_helpers import wait_for

from edge_infer_ros.ros.dds import profile_variable
from edge_infer_ros.ros.diagnostics import STALLS_TO_WARN
from edge_infer_ros.ros.intake import MESSAGE_INFO_CALLBACKS

pytestmark = [pytest.mark.ros, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
PROFILE = HERE.parent / 'config' / 'fastdds_large_images.xml'
_RMW = os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')


@pytest.mark.parametrize('reliability', ['reliable', 'best_effort'])
def test_full_hd_from_another_process_is_detected_under_auto(
    ros_graph, tmp_path, reliability,
) -> None:
    from vision_msgs.msg import Detection2DArray

    model = write_constant_model(tmp_path / 'const.onnx')
    node, client = start_detector(ros_graph, tmp_path, model)
    assert client.transition('configure') and client.transition('activate')
    env = dict(os.environ)
    env[profile_variable(env)] = str(PROFILE)
    camera = subprocess.Popen(
        [sys.executable, str(HERE / 'image_publisher.py'), reliability, '1920', '1080', '12'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with collecting(ros_graph, Detection2DArray, 'detections') as got:
            assert wait_for(lambda: len(got) >= 5, timeout=25.0), (
                f'{len(got)} detection messages from a {reliability} 1080p camera')
        assert got[-1].header.frame_id == 'big_cam'
        assert len(got[-1].detections) == 2
        expected = 'reliable' if reliability == 'reliable' else 'best_effort'
        from edge_infer_ros.ros.qos import describe_reliability

        assert wait_for(lambda: describe_reliability(node._cameras[0].reliability) == expected,
                        timeout=5.0)
    finally:
        camera.kill()
        camera.wait(timeout=10)


def _stall_run(ros_graph: Any, tmp_path: Path, camera_env: dict[str, str],
               until: Callable[[list[str], list[Any]], bool], timeout: float,
               ) -> tuple[Any, list[str], list[Any]]:
    """A 30 Hz reliable 1080p camera process in ``camera_env`` and a detector in this process.

    Returns the node, its /rosout lines and its camera's diagnostics key/values once ``until``
    holds or ``timeout`` passes.
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import Log
    from rclpy.qos import QoSProfile

    model = write_constant_model(tmp_path / 'const.onnx')
    node, client = start_detector(ros_graph, tmp_path, model)
    name = node.get_name()
    lines: list[str] = []
    values: list[Any] = []

    def on_diag(msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith(': image_raw') and name in status.name:
                values.append((status.level, status.message,
                               {kv.key: kv.value for kv in status.values}))

    with collecting(ros_graph, Log, '/rosout', QoSProfile(depth=1000)) as logs, \
            collecting(ros_graph, DiagnosticArray, '/diagnostics') as diags:
        assert client.transition('configure') and client.transition('activate')
        camera = subprocess.Popen(
            [sys.executable, str(HERE / 'image_publisher.py'), 'reliable', '1920', '1080',
             str(int(timeout) + 10), 'image_raw', '30'],
            env=camera_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            def done() -> bool:
                lines[:] = [m.msg for m in logs if m.name == name]
                values.clear()
                for msg in list(diags):
                    on_diag(msg)
                return until(lines, values)

            wait_for(done, timeout=timeout, period=0.2)
            done()
        finally:
            camera.kill()
            camera.wait(timeout=10)
    return node, lines, values


@pytest.mark.skipif(not MESSAGE_INFO_CALLBACKS, reason='no sequence numbers before Iron')
@pytest.mark.skipif('fastrtps' not in _RMW, reason='the stalls are those of Fast DDS defaults')
def test_a_camera_on_the_middlewares_defaults_is_reported_for_delivery_stalls(
    ros_graph, tmp_path,
) -> None:
    """Frames the camera published reach the node late: warned once, with the fix; WARN status.

    The camera process runs on Fast DDS's defaults (as a user's own driver would), so its 6 MB
    frames pass through a 0.5 MB shared-memory segment and arrive after repairs; the node in
    this process has the profile, as the launch file gives it.
    """
    env = {k: v for k, v in os.environ.items() if not k.endswith('_DEFAULT_PROFILES_FILE')}

    from diagnostic_msgs.msg import DiagnosticStatus

    def warned(lines: list[str], values: list[Any]) -> bool:
        return (any('delivery_stalls' in line for line in lines)
                and any(level == DiagnosticStatus.WARN and 'delivery stalls' in message
                        for level, message, _ in values))

    _, lines, values = _stall_run(ros_graph, tmp_path, env, warned, timeout=45.0)
    hint = [line for line in lines if 'delivery_stalls' in line]
    assert hint, f'no delivery-stall warning; diagnostics {values[-1:]!r}'
    assert len(hint) == 1, 'the hint repeats at most once a minute'
    assert hint[0].startswith('image_raw: ') and 'fastdds_large_images.xml' in hint[0]
    assert profile_variable(os.environ) in hint[0]
    stalled = [(m, kv) for level, m, kv in values
               if level == DiagnosticStatus.WARN and 'delivery stalls' in m]
    assert stalled, f'no WARN status for the stalls; diagnostics {values[-1:]!r}'
    message, kv = stalled[0]
    assert 'large-image' in message
    assert int(kv['delivery_stalls_last_10s']) >= STALLS_TO_WARN
    assert int(kv['delivery_stall_longest_ms_last_10s']) >= 100


def test_a_camera_with_the_profile_has_no_delivery_stalls(ros_graph, tmp_path) -> None:
    """The control: the same stream over the profile's transport is steady; nothing reported.

    The worker waits for every frame (the camera is slower than the model), so every wait is
    one the watch judges.
    """
    env = dict(os.environ)
    env[profile_variable(env)] = str(PROFILE)

    def steady(lines: list[str], values: list[Any]) -> bool:
        return bool(values) and int(values[-1][2].get('frames_out', 0)) >= 150

    node, lines, values = _stall_run(ros_graph, tmp_path, env, steady, timeout=30.0)
    assert values and int(values[-1][2]['frames_out']) >= 150, values[-1:]
    assert values[-1][2]['delivery_stalls'] == '0', values[-1]
    assert not [line for line in lines if 'delivery_stalls' in line]
    delivery = node._cameras[0].delivery
    assert delivery.count == 0
    if MESSAGE_INFO_CALLBACKS:  # every frame ended a wait the watch judged
        assert delivery.judged >= 100, delivery.judged
