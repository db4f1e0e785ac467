"""Process entry point shared by the package's nodes: init, spin, clean exit on Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node

__all__ = ['run_node']


def run_node(factory: Callable[[], Node], args: list[str] | None, threads: int = 2) -> None:
    """Create the node after ``rclpy.init(args)`` and spin it until shutdown or Ctrl-C."""
    rclpy.init(args=args)
    node = factory()
    executor: Executor = (SingleThreadedExecutor() if threads == 1
                          else MultiThreadedExecutor(num_threads=threads))
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
