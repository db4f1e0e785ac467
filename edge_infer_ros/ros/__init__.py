"""The thin ROS 2 layer: everything that imports ``rclpy`` or a message package lives here.

``node`` is the lifecycle node (start reading there); ``params`` declares the parameter table
with descriptors and turns ROS parameters into the core's typed config; ``conversions`` maps
detections to ``vision_msgs``; ``diagnostics`` builds ``/diagnostics``; ``qos`` picks profiles that
connect; ``spin`` runs a node until shutdown; ``dds`` names the Fast DDS profile variable.
The ROS-free core below it (``pipeline``, ``engine``, ``imaging``, ``decoders``) never imports
this package; ``tests/test_lint.py`` checks that with import-linter.
"""

__all__: list[str] = []
