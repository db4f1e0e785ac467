"""Process entry point shared by the package's nodes: init, spin, a clean exit on any stop signal.

A terminal's Ctrl-C under ``ros2 launch`` reaches a node twice: once from the terminal (the whole
process group gets SIGINT) and once from launch, which forwards it. With rclpy's own handlers the
first one shuts the context down and the second raises ``KeyboardInterrupt`` in the middle of the
node's cleanup, and the process dies of the signal (launch: ``process has died [exit code -2]``).
So the process takes SIGINT and SIGTERM itself: the executor spins in a thread, the main thread
waits for a signal, logs it, destroys the node while the context is still valid (its log lines
still reach ``/rosout``), then shuts down; later signals are absorbed. Exit status 0, also when a
callback (a long engine build in configure) is still running: that one is not waited for.
"""

from __future__ import annotations

from collections.abc import Callable
import os
import signal
import sys
import threading
import time
from types import FrameType

import rclpy
from rclpy.exceptions import InvalidHandle
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

__all__ = ['run_node']

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_GRACE_S = 5.0


class _StopRequest:
    """Which stop signal arrived first; set from a signal handler, waited on by the main thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name = ''

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if not self.name:
            self.name = signal.Signals(signum).name
        self.event.set()


def _spin(executor: Executor, stop: _StopRequest, failure: list[BaseException]) -> None:
    try:
        while True:
            try:
                executor.spin()
                return
            except InvalidHandle:
                # rclpy lets the QoS event handler of a subscription destroyed by another
                # callback (deactivate) escape its wait-set build: the wait is simply redone.
                continue
    except ExternalShutdownException:
        pass
    except BaseException as err:  # noqa: BLE001 - handed to the main thread, re-raised there
        if not stop.event.is_set():  # an error of the executor's own teardown is no failure
            failure.append(err)
    finally:
        stop.event.set()


def _stop_executor(executor: Executor) -> None:
    """Stop spinning without waiting on a callback that is still running (an engine build)."""
    try:
        executor.shutdown(timeout_sec=0.0, wait_for_threads=False)  # type: ignore[call-arg]
    except TypeError:  # Humble's executors have no wait_for_threads
        executor.shutdown(timeout_sec=0.0)


def _callback_running(grace: float) -> bool:
    """Whether a callback still runs after ``grace`` seconds (the spinner or a pool thread)."""
    deadline = time.monotonic() + grace
    while True:
        busy = [t for t in threading.enumerate()
                if t.is_alive() and not t.daemon and t is not threading.main_thread()]
        if not busy or time.monotonic() >= deadline:
            return bool(busy)
        time.sleep(0.05)


def run_node(factory: Callable[[], Node], args: list[str] | None, threads: int = 2) -> None:
    """Create the node after ``rclpy.init(args)`` and spin it until SIGINT, SIGTERM or shutdown.

    A stop while a callback runs (a configure building a TensorRT engine for minutes) does not
    wait for it: after a short grace the process exits at once, with status 0. The engine cache
    throws away what an interrupted build left.
    """
    stop = _StopRequest()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: Node | None = None
    executor: Executor = (SingleThreadedExecutor() if threads == 1
                          else MultiThreadedExecutor(num_threads=threads))
    failure: list[BaseException] = []
    # Not a daemon, so neither are the executor's pool threads it starts: a callback still
    # running at the end is then visible (and interpreter exit would wait for it).
    spinner = threading.Thread(target=_spin, args=(executor, stop, failure),
                               name='executor', daemon=False)
    busy = False
    try:
        node = factory()
        if not stop.event.is_set():
            executor.add_node(node)
            spinner.start()
            stop.event.wait()
        why = f'{stop.name} received' if stop.name else 'the ROS context was shut down'
        node.get_logger().info(f'{why}: shutting down')
    finally:
        _stop_executor(executor)
        busy = _callback_running(_GRACE_S)
        if node is not None and busy:
            node.get_logger().warning('a callback is still running (an engine build?): exiting '
                                      'without waiting for it')
        elif node is not None:
            node.destroy_node()
        if not busy:
            rclpy.try_shutdown(uninstall_handlers=False)  # it would restore the SIGINT default
        # The process is ending: a late second Ctrl-C must not kill it while Python finalises
        # (which resets handlers it installed to the default action, but leaves ignored ones).
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    if busy:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # finalising would join the pool thread that is still building
    if failure:
        raise failure[0]
