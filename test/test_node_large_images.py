"""1920x1080 frames from another process reach the detector, RELIABLE or best effort."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

from node_fixtures import collecting, start_detector, write_constant_model
import pytest
from ros_helpers import wait_for

from edge_infer_ros.ros.dds import profile_variable

pytestmark = [pytest.mark.ros, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
PROFILE = HERE.parent / 'config' / 'fastdds_large_images.xml'


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
