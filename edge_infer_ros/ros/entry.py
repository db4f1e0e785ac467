"""Console entry point of the detector that takes Ctrl-C from its first instant.

The console script imports its target module before calling it; importing the node pulls in
rclpy, ONNX Runtime and OpenCV (about a second). A Ctrl-C in that second would be an uncaught
``KeyboardInterrupt`` and a process that dies by SIGINT. This module imports nothing heavy: it
installs the stop handlers first, then imports and runs the node.
"""

from __future__ import annotations

from edge_infer_ros.ros.stop_signals import StopSignals

__all__ = ['detector_node']


def detector_node(args: list[str] | None = None) -> None:
    """Run the detector node (``ros2 run edge_infer_ros detector_node``)."""
    stop = StopSignals().install()
    from edge_infer_ros.ros.node import main

    main(args, stop=stop)
