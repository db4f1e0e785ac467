"""Bags and a tiny detector for the evaluation tests, written into a test's tmp_path.

The detector is an ONNX graph that *reads* its detections from the image: row ``k`` of the red
channel holds detection ``k`` as pixel values ``4*x1, 4*y1, 4*x2, 4*y2, 255*score, class``. So
every frame of a bag can carry different, exactly known detections, and a perfect ground truth is
simply what was painted. Images are 64x64 like the model input, so the letterbox is the identity
and boxes come back to the quarter pixel. Bags are written with rosbags' own writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
from engine_models import save
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from rosbags.rosbag2 import StoragePlugin, Writer

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.eval.bag_types import typestore
from edge_infer_ros.eval.messages import detection_array, ros2_header

__all__ = [
    'LABELS',
    'SIZE',
    'FrameSpec',
    'encoded_image',
    'pixel_detector',
    'random_frames',
    'write_bag',
    'write_params',
]

SIZE = 64
ROWS = 4
LABELS = ('person', 'car', 'dog')
STORAGE = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def pixel_detector(path: Path) -> Path:
    """``images`` [1,3,64,64] -> ``output0`` [1, ROWS, 6] end2end rows read from the pixels."""
    starts = numpy_helper.from_array(np.array([0, 0, 0, 0], np.int64), 'starts')
    ends = numpy_helper.from_array(np.array([1, 1, ROWS, 6], np.int64), 'ends')
    shape = numpy_helper.from_array(np.array([1, ROWS, 6], np.int64), 'shape')
    scale = numpy_helper.from_array(
        np.array([63.75, 63.75, 63.75, 63.75, 1.0, 255.0], np.float32), 'scale')
    graph = helper.make_graph(
        [
            helper.make_node('Slice', ['images', 'starts', 'ends'], ['rows']),
            helper.make_node('Reshape', ['rows', 'shape'], ['flat']),
            helper.make_node('Mul', ['flat', 'scale'], ['output0']),
        ],
        'pixel_detector',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT, [1, ROWS, 6])],
        initializer=[starts, ends, shape, scale],
    )
    names = '{' + ', '.join(f'{i}: {n!r}' for i, n in enumerate(LABELS)) + '}'
    return save(graph, path, {'names': names, 'end2end': 'True'})


def write_params(path: Path, model: Path, cache: Path, **extra: Any) -> Path:
    """A node parameters file for the pixel detector on the CPU."""
    values = {'model_path': str(model), 'providers': ['cpu'], 'output_format': 'end2end',
              'engine_cache_path': str(cache), 'warmup_iterations': 0,
              'confidence_threshold': 0.25, **extra}
    lines = ['/**:', '  ros__parameters:']
    lines += [f'    {k}: {v!r}' if isinstance(v, str) else f'    {k}: {v}'
              for k, v in values.items()]
    path.write_text('\n'.join(lines).replace("'", '"') + '\n', encoding='utf-8')
    return path


@dataclass(frozen=True)
class FrameSpec:
    """One image and what is in it; ``corrupt`` writes broken bytes instead of the image."""

    stamp_ns: int
    truth: Detections
    frame_id: str = 'front'
    corrupt: str = ''  # '', 'cdr' (undeserialisable) or 'pixels' (undecodable image)
    recorded: Detections | None = None  # what a live node recorded; default: the truth
    annotated: Detections | None = None  # the ground-truth topic's boxes; default: the truth


def encoded_image(dets: Detections) -> np.ndarray:
    """A 64x64 BGR image whose red rows encode ``dets`` (with a grey scene drawn below)."""
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    for box, cid in zip(dets.boxes.astype(int), dets.class_ids, strict=True):
        cv2.rectangle(image, tuple(box[:2]), tuple(box[2:]), (40 + 60 * int(cid), 200, 30), 1)
    image[:ROWS, :6] = 0
    rows = np.concatenate([dets.boxes * 4.0, dets.scores[:, None] * 255.0,
                           dets.class_ids[:, None]], axis=1)
    image[: len(dets), :6, 2] = np.rint(rows).astype(np.uint8)
    return image


def random_frames(count: int, seed: int = 0, start_ns: int = 1_700_000_000_000_000_000,
                  ) -> list[FrameSpec]:
    """``count`` frames 100 ms apart with 1..3 random boxes each (quarter-pixel coordinates)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        n = int(rng.integers(1, ROWS))
        xy = rng.integers(4, 36, size=(n, 2)) / 1.0
        wh = rng.integers(8, 24, size=(n, 2)) / 1.0
        boxes = np.concatenate([xy, xy + wh], axis=1)
        scores = rng.integers(128, 250, size=n) / 255.0
        dets = Detections(boxes, scores, rng.integers(0, len(LABELS), size=n))
        frames.append(FrameSpec(start_ns + i * 100_000_000, dets.select(np.argsort(-scores))))
    return frames


@dataclass
class _Bag:
    writer: Writer
    conns: dict[str, Any] = field(default_factory=dict)

    def write(self, topic: str, msgtype: str, stamp: int, data: bytes | memoryview) -> None:
        if topic not in self.conns:
            self.conns[topic] = self.writer.add_connection(topic, msgtype, typestore=typestore())
        self.writer.write(self.conns[topic], stamp, data)


def _image_msg(store: Any, header: Any, image: np.ndarray, compressed: bool) -> Any:
    if compressed:
        ok, png = cv2.imencode('.png', image)
        return store.types['sensor_msgs/msg/CompressedImage'](
            header=header, format='png', data=np.frombuffer(png.tobytes(), np.uint8))
    return store.types['sensor_msgs/msg/Image'](
        header=header, height=SIZE, width=SIZE, encoding='bgr8', is_bigendian=0,
        step=SIZE * 3, data=np.ascontiguousarray(image).reshape(-1))


def write_bag(
    path: Path,
    frames: Sequence[FrameSpec],
    *,
    storage: str = 'mcap',
    image_topic: str = '/front/image_raw',
    compressed: bool = False,
    gt_topic: str = '/ground_truth',
    recorded_topic: str = '',
    unknown_topic: bool = False,
    compressed_twin: bool = False,
) -> Path:
    """Write a rosbag2 with images, ground truth and optionally recorded detections."""
    store = typestore()
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    writer = Writer(path, version=9, storage_plugin=STORAGE[storage])
    writer.open()
    bag = _Bag(writer)
    if unknown_topic:  # a type whose definition needs a package nobody has
        conn = writer.add_connection('/weird', 'my_msgs/msg/Weird',
                                     msgdef='other_msgs/Missing thing\n',
                                     rihs01='RIHS01_' + '0' * 64)
        writer.write(conn, frames[0].stamp_ns, b'\x00\x01\x00\x00\x05')
    for spec in frames:
        header = ros2_header(store, (spec.stamp_ns, spec.frame_id))
        image = encoded_image(spec.truth)
        if spec.corrupt == 'cdr':
            bag.write(image_topic, image_type, spec.stamp_ns, b'\x00\x01\x00\x00\x07')
        else:
            msg = _image_msg(store, header, image, compressed)
            if spec.corrupt == 'pixels':  # a JPEG/PNG that is no image, or a short Image
                junk = np.frombuffer(b'not an image at all', np.uint8)
                msg = replace(msg, data=junk if compressed else msg.data[: SIZE * 3])
            bag.write(image_topic, image_type, spec.stamp_ns,
                      store.serialize_cdr(msg, image_type))
        if compressed_twin:  # what image_transport publishes next to the raw topic
            twin = _image_msg(store, header, image, compressed=True)
            bag.write(f'{image_topic}/compressed', 'sensor_msgs/msg/CompressedImage',
                      spec.stamp_ns, store.serialize_cdr(twin, 'sensor_msgs/msg/CompressedImage'))
        if gt_topic:
            gt = spec.truth if spec.annotated is None else spec.annotated
            truth = detection_array(store, header, gt, LABELS)
            bag.write(gt_topic, 'vision_msgs/msg/Detection2DArray', spec.stamp_ns + 1,
                      store.serialize_cdr(truth, 'vision_msgs/msg/Detection2DArray'))
        if recorded_topic:
            live = spec.truth if spec.recorded is None else spec.recorded
            out = detection_array(store, header, live, LABELS)
            bag.write(recorded_topic, 'vision_msgs/msg/Detection2DArray', spec.stamp_ns + 2,
                      store.serialize_cdr(out, 'vision_msgs/msg/Detection2DArray'))
    writer.close()
    return path
