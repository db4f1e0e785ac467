"""Launch pieces for launch/detector.launch.py (imported only by launch files).

``ChangeStateWhenReady`` calls the node's ``change_state`` service itself once it is up.
launch_ros's ``ChangeState`` event handler would wait for the service and call it too, but a
Ctrl-C during its wait or its call (the node's first second or two) destroys its client under it,
and ``ros2 launch`` ends with ``Caught exception in launch ... cannot use Destroyable`` and exit
code 1 (seen on Jazzy even once the service was up). Here shutdown is checked while waiting and
while the call is in flight, and that error ends the wait quietly. The node still publishes its
transition events, so launch's ``OnStateTransition`` handlers see every transition.

The node may answer the call before it has discovered launch's reader for the answer (Fast DDS
then logs ``failed to send response (timeout)``) and publish its transition event before it has
discovered launch's subscription: both were seen in one fresh-clone test run on 2 busy cores,
where launch then waited forever for a configure that had succeeded and never activated. So
while an answer is overdue the action asks ``get_state``, and the autostart's configure requests
the activate itself once configure is done (``then``); a ``TransitionOnce`` shared with the
activate event handler makes the two ask at most once between them.

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
from lifecycle_msgs.msg import Transition
import lifecycle_msgs.srv
import yaml

__all__ = ['ChangeStateWhenReady', 'GivenOverrides', 'TransitionOnce']

_POLL_S = 0.2
_ANSWER_OVERDUE_S = 3.0
"""Seconds without an answer after which ``get_state`` is asked whether the transition is done."""
_GOAL_STATES = {  # transition id -> the states that show it is done
    Transition.TRANSITION_CONFIGURE: ('inactive', 'active'),
    Transition.TRANSITION_ACTIVATE: ('active',),
}


class TransitionOnce:
    """A transition that one of several actions may request, the first that tries."""

    def __init__(self) -> None:
        """Nobody has requested it yet."""
        self._lock = threading.Lock()
        self._taken = False

    def take(self) -> bool:
        """True for the first caller only."""
        with self._lock:
            taken, self._taken = self._taken, True
            return not taken


class ChangeStateWhenReady(Action):
    """Ask ``node`` for transition ``transition_id`` once its change_state service is up."""

    def __init__(self, node: Any, transition_id: int, *, once: TransitionOnce | None = None,
                 then: ChangeStateWhenReady | None = None, **kwargs: Any) -> None:
        """``once``: ask only if no other action sharing it asked; ``then``: run after success."""
        super().__init__(**kwargs)
        self._node = node
        self._transition_id = transition_id
        self._once = once
        self._then = then

    def describe(self) -> str:
        """Shown by ``ros2 launch --print``."""
        then = f', then transition {self._then._transition_id}' if self._then else ''
        return (f'ChangeState(transition {self._transition_id}) once '
                f"the node's change_state service is up{then}")

    def execute(self, context: LaunchContext) -> None:
        """Start waiting in launch's thread pool; launch waits for it before it exits."""
        if context.is_shutdown:  # e.g. configure ended after a Ctrl-C: the node is leaving
            return
        name = self._node.node_name
        try:
            ros = get_ros_node(context)
            client = ros.create_client(lifecycle_msgs.srv.ChangeState, f'{name}/change_state')
            state = ros.create_client(lifecycle_msgs.srv.GetState, f'{name}/get_state')
        except Exception:  # noqa: BLE001 - launch's ROS node is already gone: shutting down
            return
        future = context.asyncio_loop.run_in_executor(None, self._wait, client, state, context)
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

    def _wait(self, client: Any, state: Any, context: LaunchContext) -> None:
        while not self._ending(client, context):
            try:
                if client.wait_for_service(timeout_sec=_POLL_S):
                    break
            except Exception:  # noqa: BLE001 - launch's ROS node is gone: shutting down
                return
        else:
            return
        if self._once is not None and not self._once.take():
            return
        request = lifecycle_msgs.srv.ChangeState.Request()
        request.transition.id = self._transition_id
        answer = self._call(client, request, context, state)
        if answer is None:
            return
        if not answer.success:
            launch.logging.get_logger('launch').error(
                f'{self._node.node_name}: lifecycle transition {self._transition_id} failed '
                "(the node's log says why)")
            return
        if self._then is not None:
            self._then._wait(client, state, context)

    def _call(self, client: Any, request: Any, context: LaunchContext,
              state: Any = None) -> Any:
        """Call and wait for the answer; None when launch or the node is ending.

        With ``state`` (a get_state client), while the answer is overdue by
        :data:`_ANSWER_OVERDUE_S` the node's state is looked up instead: once it is one this
        transition leads to, the transition is done (answered as a success).
        """
        done = threading.Event()
        try:
            future = client.call_async(request)
            future.add_done_callback(lambda _future: done.set())
        except Exception:  # noqa: BLE001 - launch's ROS node is gone: shutting down
            return None
        waited = 0.0
        while not done.wait(_POLL_S):
            if self._ending(client, context):
                future.cancel()
                return None
            waited += _POLL_S
            if state is not None and waited >= _ANSWER_OVERDUE_S:
                waited = 0.0
                if self._reached_goal(state, context):
                    future.cancel()
                    return lifecycle_msgs.srv.ChangeState.Response(success=True)
        return future.result() if future.exception() is None else None

    def _reached_goal(self, state: Any, context: LaunchContext) -> bool:
        """Whether ``get_state`` says the node is where this transition leads."""
        goals = _GOAL_STATES.get(self._transition_id, ())
        if not goals or not state.service_is_ready():
            return False
        answer = self._call(state, lifecycle_msgs.srv.GetState.Request(), context)
        return answer is not None and answer.current_state.label in goals


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
