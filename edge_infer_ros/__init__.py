"""edge_infer_ros: ONNX Runtime + TensorRT object detection for ROS 2.

The ROS-free core lives in ``engine`` (sessions, providers, engine cache), ``image_decode``,
``preprocess``, ``decoders``, ``nms`` and ``pipeline``; ``node`` is the thin lifecycle node on top.
Import submodules directly; this module stays light so launch files and tools start fast.
"""

__all__ = ['__version__']

__version__ = '0.1.0'
