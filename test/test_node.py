"""The detector lifecycle node in a real rclpy graph, driven through its services like the CLI."""

from __future__ import annotations

import time
from typing import Any

from node_fixtures import (
    SCORES,
    collecting,
    expected_boxes,
    image_msg,
    publish_until,
    publisher,
    start_detector,
    write_slow_model,
)
import numpy as np
import pytest
from ros_helpers import wait_for

pytestmark = pytest.mark.ros


def test_configure_activate_detect_deactivate(ros_graph, tmp_path, model) -> None:
    from vision_msgs.msg import Detection2DArray, LabelInfo

    from edge_infer_ros.ros.qos import latched_qos

    _node, client = start_detector(ros_graph, tmp_path, model)
    assert client.state() == 'unconfigured'
    assert client.transition('configure')
    assert client.state() == 'inactive'
    with collecting(ros_graph, LabelInfo, 'label_info', latched_qos()) as labels:
        assert wait_for(lambda: bool(labels))
    assert [c.class_name for c in labels[0].class_map] == ['cone', 'ball']
    assert labels[0].threshold == pytest.approx(0.25)

    started = time.monotonic()
    assert client.transition('activate')
    assert time.monotonic() - started < 1.0, 'activate must not do heavy work'
    pub = publisher(ros_graph)
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        msg = image_msg(128, 96, stamp=42, frame_id='front_cam')
        assert publish_until(pub, msg, got)
        out = got[0]
        assert out.header.stamp.sec == 42
        assert out.header.frame_id == 'front_cam'
        assert [d.results[0].hypothesis.class_id for d in out.detections] == ['cone', 'ball']
        scores = [d.results[0].hypothesis.score for d in out.detections]
        np.testing.assert_allclose(scores, SCORES, rtol=1e-6)
        boxes = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2,
                           d.bbox.center.position.y - d.bbox.size_y / 2,
                           d.bbox.center.position.x + d.bbox.size_x / 2,
                           d.bbox.center.position.y + d.bbox.size_y / 2] for d in out.detections])
        np.testing.assert_allclose(boxes, expected_boxes(128, 96), atol=1e-3)

        assert client.transition('deactivate')
        time.sleep(0.3)
        before = len(got)
        for _ in range(5):
            pub.publish(msg)
            time.sleep(0.1)
        time.sleep(0.3)
        assert len(got) == before, 'an inactive detector must not publish'
    assert client.transition('cleanup')
    assert client.state() == 'unconfigured'


def test_bad_model_fails_configure_then_fix_succeeds(ros_graph, tmp_path, model) -> None:
    node, client = start_detector(ros_graph, tmp_path, tmp_path / 'missing.onnx')
    assert not client.transition('configure')
    assert client.state() == 'unconfigured'
    (result,) = client.set_parameters(model_path=str(model))
    assert result.successful, result.reason
    assert client.transition('configure')
    assert client.state() == 'inactive'


def test_bad_parameter_value_fails_configure_with_reason(ros_graph, tmp_path, model) -> None:
    _node, client = start_detector(ros_graph, tmp_path, model, input_shape='64xbad')
    assert not client.transition('configure')
    (result,) = client.set_parameters(input_shape='')
    assert result.successful
    assert client.transition('configure')


def test_runtime_parameters_apply_and_configure_time_ones_are_refused(
    ros_graph, tmp_path, model,
) -> None:
    from vision_msgs.msg import Detection2DArray

    _node, client = start_detector(ros_graph, tmp_path, model)
    assert client.transition('configure')
    assert client.transition('activate')
    (refused,) = client.set_parameters(precision='fp16')
    assert not refused.successful
    assert 'configure' in refused.reason
    (out_of_range,) = client.set_parameters(confidence_threshold=1.5)
    assert not out_of_range.successful
    assert client.get_parameters('confidence_threshold')['confidence_threshold'] == 0.25

    (ok,) = client.set_parameters(confidence_threshold=0.7)
    assert ok.successful, ok.reason
    pub = publisher(ros_graph)
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        assert publish_until(pub, image_msg(), got)
        assert [d.results[0].hypothesis.class_id for d in got[-1].detections] == ['cone']
    (ids,) = client.set_parameters(class_id_mode='id')
    assert not ids.successful
    (only_balls,) = client.set_parameters(class_filter=[1])
    assert only_balls.successful, only_balls.reason
    (low,) = client.set_parameters(confidence_threshold=0.1)
    assert low.successful
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        assert publish_until(pub, image_msg(stamp=3), got)
        assert wait_for(lambda: (pub.publish(image_msg(stamp=3)),
                                 [d.results[0].hypothesis.class_id
                                  for d in got[-1].detections] == ['ball'])[1], timeout=5.0)


def test_debug_image_only_while_subscribed(ros_graph, tmp_path, model) -> None:
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    node, client = start_detector(ros_graph, tmp_path, model)
    assert client.transition('configure') and client.transition('activate')
    pub = publisher(ros_graph)
    debug_pub = node._cameras[0].debug_pub
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        assert publish_until(pub, image_msg(), got, count=3)
    assert debug_pub.get_subscription_count() == 0
    with collecting(ros_graph, Image, 'debug_image') as debug:
        msg = image_msg(128, 96, stamp=7)
        assert wait_for(lambda: (pub.publish(msg), any(d.header.stamp.sec == 7 for d in debug))[1],
                        timeout=15.0, period=0.1)
        assert debug[-1].width == 128 and debug[-1].encoding == 'bgr8'


def test_two_cameras_in_one_node(ros_graph, tmp_path, model) -> None:
    import cv2
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection2DArray

    _node, client = start_detector(ros_graph, tmp_path, model,
                                   image_topics=['front/image_raw', 'rear/image_raw/compressed'])
    assert client.transition('configure') and client.transition('activate')
    front = publisher(ros_graph, 'front/image_raw')
    rear = publisher(ros_graph, 'rear/image_raw/compressed', CompressedImage)
    ok, jpeg = cv2.imencode('.png', np.full((120, 160, 3), 90, np.uint8))
    compressed = CompressedImage(format='bgr8; png compressed bgr8', data=jpeg.tobytes())
    compressed.header.stamp.sec = 9
    with collecting(ros_graph, Detection2DArray, 'front/detections') as f_got, \
            collecting(ros_graph, Detection2DArray, 'rear/detections') as r_got:
        assert publish_until(front, image_msg(stamp=5), f_got)
        assert publish_until(rear, compressed, r_got)
    assert f_got[0].header.stamp.sec == 5
    assert r_got[0].header.stamp.sec == 9
    boxes = r_got[0].detections[0].bbox
    assert boxes.center.position.x == pytest.approx(expected_boxes(160, 120)[0, [0, 2]].mean(),
                                                    abs=1e-3)


def _camera_values(diag: Any, topic: str) -> dict[str, str]:
    for status in diag.status:
        if status.name.endswith(f': {topic}'):
            return {kv.key: kv.value for kv in status.values}
    return {}


def test_malformed_images_are_counted_and_node_stays_active(ros_graph, tmp_path, model) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from vision_msgs.msg import Detection2DArray

    _node, client = start_detector(ros_graph, tmp_path, model)
    assert client.transition('configure') and client.transition('activate')
    pub = publisher(ros_graph)
    short = image_msg()
    short.data = bytes(10)
    unknown = image_msg()
    unknown.encoding = '32FC7'
    with collecting(ros_graph, DiagnosticArray, '/diagnostics') as diags:
        for bad in (short, unknown):
            pub.publish(bad)
            time.sleep(0.3)
        assert wait_for(lambda: bool(diags) and int(
            _camera_values(diags[-1], 'image_raw').get('decode_errors', 0)) >= 2)
    assert client.state() == 'active'
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        assert publish_until(pub, image_msg(), got)
    engine = {kv.key: kv.value for kv in diags[-1].status[0].values}
    assert engine['lifecycle_state'] == 'active'
    assert engine['active_provider'] == 'CPUExecutionProvider'


def test_services_answer_during_slow_inference(ros_graph, tmp_path) -> None:
    from vision_msgs.msg import Detection2DArray

    slow = write_slow_model(tmp_path / 'slow.onnx')
    node, client = start_detector(ros_graph, tmp_path, slow, cpu_threads=1, warmup_iterations=0)
    assert client.transition('configure') and client.transition('activate')
    pub = publisher(ros_graph)
    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        pub.publish(image_msg())
        assert wait_for(lambda: node._busy.locked(), timeout=10.0), 'inference never started'
        started = time.monotonic()
        assert client.state() == 'active'
        assert client.get_parameters('iou_threshold')['iou_threshold'] == pytest.approx(0.45)
        answered = time.monotonic() - started
        still_busy = node._busy.locked()
        assert wait_for(lambda: bool(got), timeout=30.0)
    assert still_busy, f'inference finished before the services answered ({answered:.3f} s)'


def test_shutdown_from_active_and_transitions_listed(ros_graph, tmp_path, model) -> None:
    _node, client = start_detector(ros_graph, tmp_path, model)
    assert 'configure' in client.available_transitions()
    assert client.transition('configure') and client.transition('activate')
    assert 'deactivate' in client.available_transitions()
    assert client.transition('active_shutdown')
    assert client.state() == 'finalized'
