"""The node under abuse: stop signals in every state, lifecycle churn, per-camera error logs.

Part of the reliability suite (README "Bad input"). Stop signals go to a ``detector_node``
process started directly, as ``ros2 run`` or ``ros2 launch`` start it.
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

from node_fixtures import (
    collecting,
    image_msg,
    publisher,
    start_detector,
    write_slow_model,
)
import pytest
from ros_helpers import LifecycleClient, wait_for

from edge_infer_ros.ros.log_throttle import KeyedThrottle

pytestmark = pytest.mark.ros


# --- stop signals ------------------------------------------------------------------------------

def _start_process(tmp_path: Path, model: Path, name: str, **params: Any) -> subprocess.Popen:
    values = {'model_path': str(model), 'engine_cache_path': str(tmp_path / 'cache'),
              'providers': '[cpu]', 'precision': 'fp32', 'warmup_iterations': 1, **params}
    args = [sys.executable, '-m', 'edge_infer_ros.ros.node', '--ros-args', '-r',
            f'__node:={name}']
    for key, value in values.items():
        args += ['-p', f'{key}:={value}']
    log = (tmp_path / f'{name}.log').open('w')
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def _await_state(client: LifecycleClient, label: str = 'unconfigured') -> bool:
    """Ask until a freshly started process answers with ``label``.

    A request sent the moment a service is discovered can lose its response (the reply path is
    matched a little later), so each try has a short timeout.
    """

    def answers() -> bool:
        try:
            return client.state(timeout=3.0) == label
        except TimeoutError:
            return False

    return wait_for(answers, timeout=90.0, period=0.5)


def _stop(process: subprocess.Popen, signals: list[signal.Signals]) -> int:
    for sig in signals:
        process.send_signal(sig)
        time.sleep(0.05)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.mark.parametrize('state', ['unconfigured', 'inactive', 'active'])
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_stop_signal_exits_zero_and_logs_it(ros_graph, tmp_path, model, state, sig) -> None:
    name = f'sig_{state}_{sig.name.lower()}'
    process = _start_process(tmp_path, model, name)
    try:
        client = LifecycleClient(ros_graph, f'/{name}')
        assert _await_state(client)
        for transition in {'unconfigured': [], 'inactive': ['configure'],
                           'active': ['configure', 'activate']}[state]:
            assert client.transition(transition)
        assert client.state() == state
        rc = _stop(process, [sig])
    finally:
        process.kill()
    log = (tmp_path / f'{name}.log').read_text()
    assert rc == 0, log
    assert f'{sig.name} received: shutting down' in log, log
    assert f'finalized: shut down from {state}' in log, log
    assert 'Traceback' not in log and 'Failed to publish log message' not in log, log


def test_ctrl_c_twice_during_shutdown_and_a_signal_while_configuring(
    ros_graph, tmp_path, model,
) -> None:
    """A terminal and ``ros2 launch`` both send SIGINT; a long configure is not waited for."""
    process = _start_process(tmp_path, model, 'sig_twice')
    try:
        client = LifecycleClient(ros_graph, '/sig_twice')
        assert _await_state(client)
        assert client.transition('configure', timeout=60) and client.transition('activate')
        rc = _stop(process, [signal.SIGINT, signal.SIGINT, signal.SIGTERM])
    finally:
        process.kill()
    log = (tmp_path / 'sig_twice.log').read_text()
    assert rc == 0 and 'SIGINT received: shutting down' in log, log

    slow = write_slow_model(tmp_path / 'slow.onnx')
    # Minutes of warm-up stand for a TensorRT engine build: the stop must not wait for it.
    process = _start_process(tmp_path, slow, 'sig_configuring', warmup_iterations=1000,
                             cpu_threads=1)
    try:
        client = LifecycleClient(ros_graph, '/sig_configuring')
        assert _await_state(client)
        future = client._change.call_async(_configure_request())
        assert wait_for(lambda: 'configuring:' in (tmp_path / 'sig_configuring.log').read_text(),
                        timeout=30)
        rc = _stop(process, [signal.SIGINT])
        del future
    finally:
        process.kill()
    log = (tmp_path / 'sig_configuring.log').read_text()
    assert rc == 0 and 'SIGINT received: shutting down' in log, log
    assert 'still running (e.g. configure building the engine), without waiting' in log, log


def _configure_request() -> Any:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request()
    request.transition.id = Transition.TRANSITION_CONFIGURE
    return request


# --- lifecycle churn ---------------------------------------------------------------------------

def _resources(pid: int) -> tuple[int, int]:
    """Open file descriptors and OS threads of ``pid`` (ONNX Runtime's native pools included)."""
    return len(os.listdir(f'/proc/{pid}/fd')), len(os.listdir(f'/proc/{pid}/task'))


def test_lifecycle_churn_returns_fds_and_threads_to_baseline(ros_graph, tmp_path, model) -> None:
    """30 cycles with a frame each, in a detector_node process, which then stops cleanly."""
    from vision_msgs.msg import Detection2DArray

    process = _start_process(tmp_path, model, 'churn', image_topics='[churn/image_raw]')
    try:
        client = LifecycleClient(ros_graph, '/churn')
        assert _await_state(client)
        pub = publisher(ros_graph, 'churn/image_raw')
        with collecting(ros_graph, Detection2DArray, 'churn/detections') as got:
            def cycle(stamp: int) -> None:
                assert client.transition('configure') and client.transition('activate')
                assert wait_for(lambda: (pub.publish(image_msg(stamp=stamp)),
                                         any(m.header.stamp.sec == stamp for m in got))[1])
                assert client.transition('deactivate') and client.transition('cleanup')

            cycle(1)
            cycle(2)  # the executor starts its last pool thread lazily
            baseline = _resources(process.pid)
            seen = []
            for stamp in range(3, 33):
                cycle(stamp)
                # Let threads wind down before comparing (a loaded machine lags).
                wait_for(lambda: _resources(process.pid) == baseline, timeout=5.0)
                seen.append(_resources(process.pid))
        assert seen[-1] == baseline, f'baseline {baseline}, per cycle {seen}'
        assert client.state() == 'unconfigured'
        rc = _stop(process, [signal.SIGINT])
    finally:
        process.kill()
    assert rc == 0, (tmp_path / 'churn.log').read_text()


# --- per-camera error logs ---------------------------------------------------------------------

def test_keyed_throttle_counts_what_it_holds_back() -> None:
    now = [0.0]
    throttle = KeyedThrottle(5.0, clock=lambda: now[0])
    assert throttle('front') == 0 and throttle('rear') == 0
    assert throttle('front') is None and throttle('front') is None and throttle('rear') is None
    now[0] = 5.0
    assert throttle('front') == 2 and throttle('rear') == 1 and throttle('front') is None


def test_each_camera_reports_its_own_bad_images(ros_graph, tmp_path, model, capfd) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    _node, client = start_detector(ros_graph, tmp_path, model,
                                   image_topics=['front/image_raw', 'rear/image_raw'])
    assert client.transition('configure') and client.transition('activate')
    front, rear = publisher(ros_graph, 'front/image_raw'), publisher(ros_graph, 'rear/image_raw')
    bad = image_msg()
    bad.encoding = 'x' * 100_000  # a hostile encoding: the log line must stay short
    with collecting(ros_graph, DiagnosticArray, '/diagnostics') as diags:
        for _ in range(20):
            front.publish(bad)
            time.sleep(0.02)
        assert wait_for(lambda: _errors(diags, 'front/image_raw') >= 1)
        rear.publish(bad)
        assert wait_for(lambda: _errors(diags, 'rear/image_raw') >= 1)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if 'dropped bad image' in line]
    assert any('front/image_raw: dropped bad image' in line for line in lines), lines
    assert any('rear/image_raw: dropped bad image' in line for line in lines), lines
    assert max(len(line) for line in lines) < 800
    assert client.state() == 'active'


def _errors(diags: list[Any], topic: str) -> int:
    for status in (diags[-1].status if diags else []):
        if status.name.endswith(f': {topic}'):
            return int({kv.key: kv.value for kv in status.values}['decode_errors'])
    return 0


# --- configure refuses what would misbehave ----------------------------------------------------

@pytest.mark.parametrize(('params', 'expected'), [
    ({'image_topics': ['cam/image_raw', '/cam/image_raw']},
     "image_topics lists 'cam/image_raw' and '/cam/image_raw', which are the same topic "
     "'/cam/image_raw'"),
    ({'image_topics': ['cam/image_raw', '/cam/image_rect']},
     "whose outputs would share '/cam/detections'"),
    ({'image_topics': ['front cam/image_raw']},
     "image_topics has 'front cam/image_raw', which is not a valid ROS topic name (topic name "
     'must not contain characters other than'),
    ({'image_topics': ['cam//image_raw']}, "image_topics has 'cam//image_raw', which is not a "
                                           'valid ROS topic name'),
    ({'engine_cache_path': '/dev/null/engines', 'providers': ['tensorrt', 'cpu'],
      'fallback_policy': 'allow'},
     "engine_cache_path is '/dev/null/engines', where the engine folder"),
    ({'output_format': 'yolov5'}, "output_format 'yolov5' does not fit this model"),
])
def test_configure_fails_naming_the_parameter(ros_graph, tmp_path, model, capfd, params,
                                              expected) -> None:
    _node, client = start_detector(ros_graph, tmp_path, model, **params)
    assert not client.transition('configure')
    assert client.state() == 'unconfigured'
    failures = [line for line in capfd.readouterr().err.splitlines() if 'configure failed' in line]
    assert len(failures) == 1 and expected in failures[0], failures
    assert 'unexpectedly' not in failures[0]


def test_namespaced_topics_that_differ_after_resolution_are_two_cameras(
    ros_graph, tmp_path, model,
) -> None:
    from node_fixtures import detector_params

    from edge_infer_ros.ros.node import DetectorNode

    node = DetectorNode('ns_detector', namespace='/robot', context=ros_graph.context,
                        parameter_overrides=detector_params(
                            model, tmp_path / 'cache',
                            image_topics=['cam/image_raw', '/cam/image_raw']))
    ros_graph.add(node)
    client = LifecycleClient(ros_graph, '/robot/ns_detector')
    assert client.transition('configure')
    assert client.transition('cleanup')


def test_a_process_with_bad_start_up_values_lives_and_configures_once_fixed(
    ros_graph, tmp_path, model,
) -> None:
    process = _start_process(tmp_path, model, 'bad_start', confidence_threshold=1.5,
                             max_detections='many')
    try:
        client = LifecycleClient(ros_graph, '/bad_start')
        assert _await_state(client)
        assert not client.transition('configure')
        results = client.set_parameters(confidence_threshold=0.5, max_detections=10)
        assert all(r.successful for r in results), [r.reason for r in results]
        assert client.transition('configure')
        rc = _stop(process, [signal.SIGTERM])
    finally:
        process.kill()
    log = (tmp_path / 'bad_start.log').read_text()
    assert rc == 0, log
    refused = [line for line in log.splitlines() if 'start-up parameter values refused' in line]
    assert len(refused) == 2, log  # at start-up, then from the failed configure
    assert ("confidence_threshold=1.5 (a number within [0.0, 1.0]); max_detections='many' "
            '(an integer within [1, 10000])') in refused[0]


def test_impossible_detections_show_in_diagnostics(ros_graph, tmp_path) -> None:
    from decoder_models import constant_model
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    import numpy as np

    rows = np.zeros((1, 3, 6), np.float32)
    rows[0, :, :4] = [10, 10, 40, 40]
    rows[0, :, 4:] = [[0.9, 0], [2735.0, 1], [0.8, 7]]  # two names: one good row of three
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(constant_model({'output0': rows}, input_shape=(1, 3, 64, 64),
                                   metadata={'names': "{0: 'cone', 1: 'ball'}"}))
    _node, client = start_detector(ros_graph, tmp_path, bad, output_format='end2end')
    assert client.transition('configure') and client.transition('activate')
    pub = publisher(ros_graph)
    with collecting(ros_graph, DiagnosticArray, '/diagnostics') as diags:
        def engine() -> Any:
            return diags[-1].status[0] if diags else None

        assert wait_for(lambda: (pub.publish(image_msg()), engine() is not None and {
            kv.key: kv.value for kv in engine().values}.get('invalid_detections_dropped',
                                                            '0') != '0')[1], timeout=20)
    assert engine().level == DiagnosticStatus.WARN
    assert 'impossible detections dropped' in engine().message
