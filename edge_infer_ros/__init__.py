"""edge_infer_ros: ONNX Runtime + TensorRT object detection for ROS 2.

Start reading at three files: ``ros/node.py`` (the lifecycle node: what ROS sees),
``pipeline.py`` (what happens to one frame) and ``engine/engine.py`` (how the ONNX Runtime session
is created, verified and cached).

Layout: ``ros/`` is the thin ROS layer, the only place besides ``demo/`` that imports rclpy or
message packages. Under it the ROS-free core: ``pipeline`` (the one path a frame takes, shared by
the node, the offline tools and the benchmarks), ``engine/``, ``imaging/`` (message payloads to
numpy, letterbox), ``decoders/`` (output layouts, NMS, detections, labels), and ``config`` /
``parameters`` (the parameter table and the typed configuration built from it). ``eval/`` and
``tools/`` are the offline commands; ``demo/`` is the demo. ``.importlinter`` states the layering.
Import submodules directly; this module stays light so launch files and tools start fast.
"""

__all__ = ['__version__']

__version__ = '0.1.0'
