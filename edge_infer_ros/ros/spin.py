"""Process entry point shared by the package's nodes: init, spin, clean exit on Ctrl-C.

Under ``ros2 launch`` a terminal Ctrl-C reaches a node twice: from the terminal (SIGINT goes to
the whole process group) and again from launch, which forwards SIGINT to its children. With
rclpy's own handlers each SIGINT shuts the context down at once and becomes a
``KeyboardInterrupt`` in the main thread, so the second one can land anywhere (node construction,
``destroy_node``, ``rclpy.try_shutdown``); an uncaught one makes Python end the process by SIGINT
(exit code -2, ``process has died`` in launch), and whatever the node logs while shutting down
can no longer reach ``/rosout``. So this module handles SIGINT and SIGTERM itself: a signal only
asks the spin loop to stop, however often it comes, and then, with the context still valid, a
lifecycle node goes through its ``shutdown`` transition (logged, and seen by launch), the node is
destroyed and rclpy shut down. The process exits 0 from every lifecycle state.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import faulthandler
import inspect
import os
import sys
import threading
from typing import NoReturn

import rclpy
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)

try:  # Iron and newer
    from rclpy.exceptions import InvalidHandle
except ImportError:  # Humble
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

    InvalidHandle = _rclpy.InvalidHandle
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from edge_infer_ros.ros.stop_signals import StopSignals

__all__ = ['run_node', 'spin_once', 'stop_executor']

# How long the spin loop waits before it looks at the stop request again (a Python signal
# handler runs only when the main thread runs Python, i.e. between waits).
_POLL_S = 0.2
# How long a stop waits for a callback still running (configure building or warming an
# engine); launch escalates to SIGTERM after 5 s and SIGKILL after 10 s.
_CALLBACK_GRACE_S = 3.0
_TEARDOWN_DUMP_S = 4.0
"""Seconds after teardown starts to dump the stacks of a process that has not exited."""


def run_node(
    factory: Callable[[], Node], args: list[str] | None, threads: int = 2,
    stop: StopSignals | None = None,
) -> None:
    """Create the node after ``rclpy.init(args)`` and spin it until a stop signal or shutdown.

    ``stop``: handlers an entry point installed before its imports; by default installed here.
    """
    stop = stop if stop is not None else StopSignals().install()
    node: Node | None = None
    executor: Executor | None = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        if stop.requested:  # Ctrl-C during start-up: nothing to run
            return
        node = factory()
        executor = (SingleThreadedExecutor() if threads == 1
                    else MultiThreadedExecutor(num_threads=threads))
        executor.add_node(node)
        while not stop.requested and rclpy.ok():
            spin_once(executor, _POLL_S)
        node.get_logger().info(f'{stop.name} received: shutting down' if stop.requested
                               else 'the ROS context was shut down: shutting down')
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Teardown normally takes well under a second. Once, in a fresh-clone test run, a node
        # that had logged its finalization did not exit, not even on launch's SIGTERM; should
        # that recur, every thread's stack is in the log (stderr) before launch's SIGKILL.
        faulthandler.dump_traceback_later(_TEARDOWN_DUMP_S, exit=False)
        if executor is not None and not stop_executor(executor, _CALLBACK_GRACE_S):
            _leave_now(node)
        if node is not None:
            _finalize(node)
            node.destroy_node()
        _shut_down_rclpy()
        stop.ignore_from_now_on()


def spin_once(executor: Executor, timeout_sec: float) -> None:
    """``executor.spin_once`` that survives an entity destroyed while the wait set was built.

    A callback in another executor thread may destroy a subscription (the node re-subscribes
    when publishers change reliability) while this thread adds it and its QoS event handlers to
    the wait set; rclpy then raises ``InvalidHandle`` here. The next call builds the wait set
    without it.
    """
    try:
        executor.spin_once(timeout_sec=timeout_sec)
    except InvalidHandle:
        pass


def stop_executor(executor: Executor, timeout_sec: float | None = None) -> bool:
    """Shut ``executor`` down once the callbacks already handed to its threads have finished.

    Returns False, leaving the executor as it is, when callbacks still run after
    ``timeout_sec`` (None waits for them however long they take).

    rclpy's ``shutdown`` destroys the executor's guard condition before it joins its threads
    (Jazzy does not join them at all), so a callback still running then fails on that guard
    (``InvalidHandle: cannot use Destroyable because destruction was requested``, reported as a
    never-retrieved exception or an unhandled thread exception). The thread pool is a private
    attribute of ``MultiThreadedExecutor`` (Humble to Kilted); where it is missing there is
    nothing to wait for.
    """
    pool = getattr(executor, '_executor', None)
    if isinstance(pool, ThreadPoolExecutor):
        drain = threading.Thread(target=pool.shutdown, kwargs={'wait': True}, daemon=True)
        drain.start()
        drain.join(timeout_sec)
        if drain.is_alive():
            return False
    executor.shutdown()
    return True


def _leave_now(node: Node | None) -> NoReturn:
    """Exit at once: a callback (a configure building a TensorRT engine) will not end soon.

    Waiting would let launch kill the process; leaving skips only the wait (the interpreter
    would join that thread at exit too). The engine cache trusts files only under a manifest
    written after a complete build, so an interrupted build is redone at the next start.
    """
    if node is not None:
        node.get_logger().warning(
            'finalized: shut down while a transition was still running (e.g. configure '
            'building the engine), without waiting for it')
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _shut_down_rclpy() -> None:
    """``rclpy.try_shutdown`` without uninstalling signal handlers rclpy never installed.

    Kilted's uninstall resets SIGINT to the default action, so a late Ctrl-C would kill the
    process (-2); Humble's and Jazzy's ``try_shutdown`` has no such step (nor the argument).
    """
    if 'uninstall_handlers' in inspect.signature(rclpy.try_shutdown).parameters:
        rclpy.try_shutdown(uninstall_handlers=False)
    else:
        rclpy.try_shutdown()


def _finalize(node: Node) -> None:
    """Take a lifecycle node through ``shutdown`` from a primary state; skip it otherwise."""
    if not isinstance(node, LifecycleNode):
        return
    try:
        node.trigger_shutdown()
    except Exception:  # noqa: BLE001 - mid-transition or finalized: destroy_node releases
        pass
