"""Launch pieces for launch/detector.launch.py (imported only by launch files).

``ChangeStateWhenReady`` calls the node's ``change_state`` service itself once it is up.
launch_ros's ``ChangeState`` event handler would wait for the service and call it too, but a
Ctrl-C during its wait or its call (the node's first second or two) destroys its client under it,
and ``ros2 launch`` ends with ``Caught exception in launch ... cannot use Destroyable`` and exit
code 1 (seen on Jazzy even once the service was up). Here shutdown is checked while waiting and
while the call is in flight, and that error ends the wait quietly. The node still publishes its
transition events, so launch's ``OnStateTransition`` handlers see every transition.

``GivenOverrides`` turns the launch arguments that were given into a parameters file, so an
empty argument keeps the params file's value while the node stays a plain top-level action that
``ros2 launch --print`` shows.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Any

from launch import LaunchContext, Substitution
from launch.action import Action
import launch.logging
from launch.substitutions import LaunchConfiguration
from launch_ros.ros_adapters import get_ros_node
import lifecycle_msgs.srv
import yaml

__all__ = ['ChangeStateWhenReady', 'GivenOverrides']

_POLL_S = 0.2


class ChangeStateWhenReady(Action):
    """Ask ``node`` for transition ``transition_id`` once its change_state service is up."""

    def __init__(self, node: Any, transition_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._node = node
        self._transition_id = transition_id

    def describe(self) -> str:
        """Shown by ``ros2 launch --print``."""
        return (f'ChangeState(transition {self._transition_id}) once '
                "the node's change_state service is up")

    def execute(self, context: LaunchContext) -> None:
        """Start waiting in launch's thread pool; launch waits for it before it exits."""
        if context.is_shutdown:  # e.g. configure ended after a Ctrl-C: the node is leaving
            return
        service = f'{self._node.node_name}/change_state'
        try:
            client = get_ros_node(context).create_client(lifecycle_msgs.srv.ChangeState, service)
        except Exception:  # noqa: BLE001 - launch's ROS node is already gone: shutting down
            return
        future = context.asyncio_loop.run_in_executor(None, self._wait, client, context)
        context.add_completion_future(future)

    def _node_gone(self) -> bool:
        """Whether the node's process has exited (launch completes its future then)."""
        future = self._node.get_asyncio_future()
        return future is not None and future.done()

    def _ending(self, client: Any, context: LaunchContext) -> bool:
        # A shut-down ROS context (a SIGINT that rclpy's handler took before launch's) also
        # ends the wait: wait_for_service would return at once forever. So does the node's
        # process ending (a crash at start; or a Ctrl-C that reaches the nodes while launch
        # ignores it, as when it was started from a background job): launch waits for this
        # thread, and would otherwise never end.
        return context.is_shutdown or not client.context.ok() or self._node_gone()

    def _wait(self, client: Any, context: LaunchContext) -> None:
        while not self._ending(client, context):
            try:
                if client.wait_for_service(timeout_sec=_POLL_S):
                    break
            except Exception:  # noqa: BLE001 - launch's ROS node is gone: shutting down
                return
        else:
            return
        request = lifecycle_msgs.srv.ChangeState.Request()
        request.transition.id = self._transition_id
        done = threading.Event()
        try:
            future = client.call_async(request)
            future.add_done_callback(lambda _future: done.set())
        except Exception:  # noqa: BLE001 - launch's ROS node is gone: shutting down
            return
        while not done.wait(_POLL_S):
            if self._ending(client, context):
                future.cancel()
                return
        if future.exception() is None and not future.result().success:
            launch.logging.get_logger('launch').error(
                f'{self._node.node_name}: lifecycle transition {self._transition_id} failed '
                "(the node's log says why)")


class GivenOverrides(Substitution):
    """A parameters file holding only the launch arguments ``names`` that were given.

    An empty argument must keep the params_file's value, so it cannot be a plain parameter
    entry (that would set the parameter to '').
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = names

    def describe(self) -> str:
        """Shown by ``ros2 launch --print``."""
        return f'parameters from the non-empty arguments {list(self.names)}'

    def perform(self, context: LaunchContext) -> str:
        """Write the given arguments as a ROS parameters file; return its path."""
        values = {}
        for name in self.names:
            value = LaunchConfiguration(name).perform(context)
            if value:
                values[name] = value
        with tempfile.NamedTemporaryFile('w', prefix='edge_infer_overrides_', suffix='.yaml',
                                         delete=False) as out:
            yaml.safe_dump({'/**': {'ros__parameters': values}}, out)
        return out.name
