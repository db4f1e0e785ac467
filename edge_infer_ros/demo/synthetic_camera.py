"""A camera driver stand-in: publishes generated scenes and their exact ground truth.

Lets the detector be run, checked and recorded without a camera: every image on ``image_raw``
(and ``image_raw/compressed`` if enabled) has a ``ground_truth`` Detection2DArray with the same
header, so accuracy can be measured live or from a bag. With ``scene_frames`` above 1 each scene
lasts that many frames with its objects moving, and every ground-truth box names its object in
``Detection2D.id``, so tracking can be scored too.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.demo.motion import SceneSequence, random_paths
from edge_infer_ros.demo.scene import CLASS_NAMES, generate_scene
from edge_infer_ros.ros.conversions import detections_to_msg, image_to_msg
from edge_infer_ros.ros.qos import image_qos
from edge_infer_ros.ros.spin import run_node

__all__ = ['SyntheticCamera', 'main']


def _describe(text: str, *, lo: float | None = None, hi: float | None = None,
              integer: bool = False, choices: str = '') -> ParameterDescriptor:
    desc = ParameterDescriptor(description=text, read_only=True, additional_constraints=choices)
    if lo is not None and hi is not None:
        if integer:
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi))]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi)]
    return desc


class SyntheticCamera(Node):
    """Publishes ``image_raw``, optionally ``image_raw/compressed``, and ``ground_truth``."""

    def __init__(self, node_name: str = 'synthetic_camera', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        p = self.declare_parameter
        self._rate = p('rate', 10.0, _describe('Frames per second.', lo=0.1, hi=200.0)).value
        self._width = p('width', 640, _describe('Image width (px).', lo=16, hi=8192,
                                                   integer=True)).value
        self._height = p('height', 480, _describe('Image height (px).', lo=16, hi=8192,
                                                     integer=True)).value
        self._frame_id = p('frame_id', 'camera_optical_frame',
                           _describe('frame_id of every header.')).value
        self._encoding = p('encoding', 'bgr8',
                           _describe('Raw image encoding.', choices='bgr8, rgb8')).value
        seed = p('seed', 0, _describe('Random seed; the same seed gives the same frames.',
                                      lo=0, hi=2**31 - 1, integer=True)).value
        self._compressed = p('publish_compressed', False,
                             _describe('Also publish JPEG on image_raw/compressed.')).value
        self._raw = p('publish_raw', True, _describe('Publish raw images on image_raw.')).value
        reliability = p('reliability', 'reliable',
                        _describe('Image QoS reliability.', choices='reliable, best_effort')).value
        self._max_frames = p('max_frames', 0, _describe('Stop after this many frames (0: never).',
                                                        lo=0, hi=2**31 - 1, integer=True)).value
        self._scene_frames = p('scene_frames', 1, _describe(
            'Frames each scene lasts: 1 draws a new scene every frame; more keeps the scene and '
            'moves its objects, with object IDs in the ground truth (Detection2D.id).',
            lo=1, hi=2**31 - 1, integer=True)).value
        self._sequence: SceneSequence | None = None
        self._next_object_id = 1
        policy = (ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort'
                  else ReliabilityPolicy.RELIABLE)
        qos = image_qos(policy, 5)
        self._rng = np.random.default_rng(seed)
        self._image_pub = self.create_publisher(Image, 'image_raw', qos) if self._raw else None
        self._jpeg_pub = (self.create_publisher(CompressedImage, 'image_raw/compressed', qos)
                          if self._compressed else None)
        self._truth_pub = self.create_publisher(Detection2DArray, 'ground_truth', image_qos(
            ReliabilityPolicy.RELIABLE, 10))
        self.frames = 0
        self._timer = self.create_timer(1.0 / self._rate, self._tick)
        self.get_logger().info(
            f'publishing {self._width}x{self._height} {self._encoding} at {self._rate:g} Hz '
            f'(seed {seed}); ground truth on ground_truth')

    def _tick(self) -> None:
        if self._max_frames and self.frames >= self._max_frames:
            self._timer.cancel()
            return
        scene, object_ids = self._next_scene()
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self._frame_id)
        image = scene.image if self._encoding == 'bgr8' else cv2.cvtColor(scene.image,
                                                                          cv2.COLOR_BGR2RGB)
        if self._image_pub is not None:
            self._image_pub.publish(image_to_msg(image, header, self._encoding))
        if self._jpeg_pub is not None:
            ok, jpeg = cv2.imencode('.jpg', scene.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                self._jpeg_pub.publish(CompressedImage(
                    header=header, format='bgr8; jpeg compressed bgr8', data=jpeg.tobytes()))
        truth = Detections(scene.boxes, np.ones(len(scene.class_ids), np.float32), scene.class_ids,
                           object_ids)
        self._truth_pub.publish(detections_to_msg(truth, header, CLASS_NAMES))
        self.frames += 1

    def _next_scene(self) -> tuple[Any, Any]:
        """The next image and labels, and the object IDs (None for independent scenes)."""
        if self._scene_frames <= 1:
            return generate_scene(self._rng, self._width, self._height), None
        t = self.frames % self._scene_frames
        if t == 0 or self._sequence is None:
            paths = random_paths(self._rng, self._width, self._height, self._scene_frames)
            self._sequence = SceneSequence(self._rng, self._width, self._height, paths,
                                           first_id=self._next_object_id)
            self._next_object_id += len(paths)
        frame = self._sequence.frame(t)
        return frame, frame.object_ids


def main(args: list[str] | None = None) -> None:
    """Run the synthetic camera until interrupted (or ``max_frames`` is reached)."""
    run_node(SyntheticCamera, args, threads=1)


if __name__ == '__main__':
    main()
