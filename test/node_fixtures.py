"""Models, images and a detector-under-test for the node tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import functools
import itertools
import math
from pathlib import Path
import time
from typing import Any

from decoder_models import constant_model, session
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from ros_helpers import LifecycleClient, wait_for

_NODE_NUMBERS = itertools.count(1)

INPUT = 64
CLASSES = "{0: 'cone', 1: 'ball'}"

# Two objects in model-input pixels (cx, cy, w, h): a cone and a ball.
OBJECTS = np.array([[32, 32, 16, 16], [10, 10, 8, 8]], np.float32)
SCORES = np.array([0.9, 0.6], np.float32)


def yolov8_output() -> np.ndarray:
    """A [1, 4 + 2, 100] YOLOv8 head holding OBJECTS, all other anchors empty."""
    out = np.zeros((1, 6, 100), np.float32)
    out[0, :4, :2] = OBJECTS.T
    out[0, 4, 0] = SCORES[0]
    out[0, 5, 1] = SCORES[1]
    return out


def expected_boxes(width: int, height: int) -> np.ndarray:
    """OBJECTS as x1y1x2y2 in the pixels of a ``width`` x ``height`` letterboxed image."""
    scale = min(INPUT / width, INPUT / height)
    pad_x = (INPUT - round(width * scale)) / 2
    pad_y = (INPUT - round(height * scale)) / 2
    half = OBJECTS[:, 2:] / 2
    xyxy = np.concatenate([OBJECTS[:, :2] - half, OBJECTS[:, :2] + half], axis=1)
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - pad_x) / scale
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - pad_y) / scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return xyxy


def write_constant_model(path: Path) -> Path:
    """The detector model with known output used by most node tests."""
    path.write_bytes(constant_model({'output0': yolov8_output()},
                                    input_shape=(1, 3, INPUT, INPUT),
                                    metadata={'names': CLASSES}))
    return path


SLOW_SECONDS = 0.4
"""Seconds one inference of the slow model takes on one thread of the machine running the tests."""


def _slow_graph(matmuls: int, size: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    nodes = [
        helper.make_node('ReduceMean', ['images'], ['mean'], keepdims=0),
        helper.make_node('Mul', ['weight', 'mean'], ['x0']),
    ]
    for i in range(matmuls):
        nodes.append(helper.make_node('MatMul', [f'x{i}', 'weight'], [f'x{i + 1}']))
    nodes += [
        helper.make_node('ReduceSum', [f'x{matmuls}'], ['total'], keepdims=0),
        helper.make_node('Mul', ['total', 'zero'], ['nothing']),
        helper.make_node('Add', ['head', 'nothing'], ['output0']),
    ]
    graph = helper.make_graph(
        nodes, 'slow',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT, [1, 6, 100])],
        initializer=[numpy_helper.from_array(weight, 'weight'),
                     numpy_helper.from_array(np.zeros((), np.float32), 'zero'),
                     numpy_helper.from_array(yolov8_output(), 'head')],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 10
    entry = model.metadata_props.add()
    entry.key, entry.value = 'names', CLASSES
    return model


@functools.cache
def _matmuls_for(seconds: float, size: int) -> int:
    """How many chained products take ``seconds`` on one thread here, timed on a short chain.

    A fixed count was slow on one machine and ten times faster on another (AVX-512), where the
    tests that need inference to outlast a service call or a camera period stopped testing.
    The fastest of a few runs is taken, so load during the timing only lengthens the model.
    """
    probe = 4
    sess = session(_slow_graph(probe, size).SerializeToString())  # one thread, CPU
    feed = {'images': np.ones((1, 3, INPUT, INPUT), np.float32)}
    sess.run(None, feed)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return max(probe, math.ceil(probe * seconds / best))


def write_slow_model(path: Path, seconds: float = SLOW_SECONDS, size: int = 768) -> Path:
    """Same output as the constant model, after a chain of input-dependent matrix products.

    The products depend on the image (so ONNX Runtime cannot fold them away) and take about
    ``seconds`` on one CPU thread of this machine: long enough to check that services stay
    responsive and that a 30 Hz camera outpaces inference.
    """
    onnx.save(_slow_graph(_matmuls_for(seconds, size), size), path)
    return path


def image_msg(width: int = 128, height: int = 96, encoding: str = 'bgr8', stamp: int = 1,
              frame_id: str = 'cam') -> Any:
    """A sensor_msgs/Image of a grey gradient, stamped ``stamp`` seconds."""
    from sensor_msgs.msg import Image

    channels = 1 if encoding == 'mono8' else 3
    pixels = np.linspace(0, 255, width * height * channels).astype(np.uint8)
    msg = Image(width=width, height=height, encoding=encoding, step=width * channels)
    msg.header.stamp.sec = stamp
    msg.header.frame_id = frame_id
    msg.data = pixels.tobytes()
    return msg


def detector_params(model: Path, cache: Path, **extra: Any) -> list[Any]:
    """Parameter overrides for a DetectorNode under test (CPU only, fp32, quick warm-up)."""
    from rclpy.parameter import Parameter

    values: dict[str, Any] = {
        'model_path': str(model),
        'engine_cache_path': str(cache),
        'providers': ['cpu'],
        'precision': 'fp32',
        'warmup_iterations': 1,
        'diagnostics_period': 0.2,
    }
    values.update(extra)
    return [Parameter(k, value=v) for k, v in values.items()]


@contextmanager
def collecting(graph: Any, msg_type: Any, topic: str, qos: Any = 10) -> Iterator[list[Any]]:
    """Subscribe a fresh node to ``topic`` and collect what arrives."""
    from rclpy.node import Node

    node = graph.add(Node(f'collect_{abs(hash((topic, id(msg_type))))}', context=graph.context))
    got: list[Any] = []
    node.create_subscription(msg_type, topic, got.append, qos)
    try:
        yield got
    finally:
        graph.executor.remove_node(node)
        node.destroy_node()


def start_detector(ros_graph: Any, tmp_path: Path, model: Path, name: str = '',
                   **params: Any) -> tuple[Any, LifecycleClient]:
    """A DetectorNode spun by ``ros_graph`` and a client for its lifecycle/parameter services.

    Each test's node gets its own name unless one is given: Fast DDS in one process, with one
    context after another, now and then never matches a service of a node that has the same
    name as one destroyed just before (seen 2 times in 150 for ``change_state``).
    """
    from edge_infer_ros.ros.node import DetectorNode

    name = name or f'detector_{next(_NODE_NUMBERS)}'

    node = DetectorNode(name, context=ros_graph.context,
                        parameter_overrides=detector_params(model, tmp_path / 'cache', **params))
    ros_graph.add(node)
    return node, LifecycleClient(ros_graph, f'/{name}')


def publisher(ros_graph: Any, topic: str = 'image_raw', msg_type: Any = None,
              reliable: bool = True) -> Any:
    """A publisher of images (or ``msg_type``) on ``topic`` from its own node."""
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    node = ros_graph.add(Node(f'pub_{topic.replace("/", "_")}', context=ros_graph.context))
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if reliable
                     else ReliabilityPolicy.BEST_EFFORT)
    return node.create_publisher(msg_type or Image, topic, qos)


def publish_until(pub: Any, msg: Any, received: list[Any], count: int = 1,
                  timeout: float = 15.0) -> bool:
    """Publish ``msg`` repeatedly until ``count`` messages were received (or time runs out)."""
    return wait_for(lambda: (pub.publish(msg), len(received) >= count)[1], timeout, period=0.1)
