"""The thin ROS 2 layer: everything that imports ``rclpy`` or a message package lives here.

``node`` is the lifecycle node (start reading there); ``params`` declares the parameter table
with descriptors and checks every value set on it; ``topic_names`` checks the cameras' topics
as resolved; ``conversions`` maps detections to ``vision_msgs``; ``diagnostics`` builds
``/diagnostics``; ``log_throttle`` throttles per-camera errors; ``qos`` picks profiles that
connect; ``spin`` runs a node until a stop signal; ``dds`` names the Fast DDS profile variable;
``frame_memory`` keeps frame-sized heap blocks for reuse.
The ROS-free core below it (``pipeline``, ``engine``, ``imaging``, ``decoders``) never imports
this package; ``tests/test_lint.py`` checks that with import-linter.
"""

__all__: list[str] = []
