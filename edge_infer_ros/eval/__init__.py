"""Offline tools on recorded rosbags, ROS-free: ``evaluate_bag`` and ``calibrate_int8``.

Both read bags with ``rosbags`` and run images through the node's own ``DetectionPipeline`` and
parameters file, so an offline number is the number the robot would produce.

Modules: ``bag_io`` (reading messy bags, writing detection bags), ``messages``
(Detection2DArray <-> detections), ``ground_truth`` (topic or COCO JSON), ``metrics`` (latency,
counts, COCO mAP via faster-coco-eval), ``compare`` (agreement of two sources), ``run`` (the
per-bag loop and process pool), ``report`` (metrics.json, plots, summary.md), and the two
commands ``evaluate_bag`` and ``calibrate_int8``. Only the light, widely useful names are
re-exported here, so importing a submodule does not pull in matplotlib or the COCO evaluator.
"""

from edge_infer_ros.eval.bag_io import BagReader, BagTopic, BagWriter
from edge_infer_ros.eval.compare import Comparison, compare_sources
from edge_infer_ros.eval.ground_truth import GroundTruth, load_coco_json
from edge_infer_ros.eval.messages import (
    ClassIndex,
    NamedBoxes,
    detection_array,
    frame_key,
    named_boxes_from_msg,
)

__all__ = [
    'BagReader',
    'BagTopic',
    'BagWriter',
    'ClassIndex',
    'Comparison',
    'GroundTruth',
    'NamedBoxes',
    'compare_sources',
    'detection_array',
    'frame_key',
    'load_coco_json',
    'named_boxes_from_msg',
]
