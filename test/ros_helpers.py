"""Helpers for tests that run a real rclpy graph."""

from __future__ import annotations

from collections.abc import Callable
import threading
import time
from typing import Any


class RosGraph:
    """An rclpy context with a multi-threaded executor spinning in the background.

    ``shutdown`` stops in the order the node's own ``run_node`` does: stop spinning, let the
    callbacks already running finish, shut the executor down, destroy the nodes, shut the
    context down. Destroying nodes or the executor's guard condition under a spinning executor
    raised ``InvalidHandle`` in its threads at teardown (seen on Jazzy).
    """

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        from edge_infer_ros.ros.spin import spin_once

        try:
            while not self._stop.is_set() and self.context.ok():
                spin_once(self.executor, 0.05)
        except ExternalShutdownException:
            pass

    def add(self, node: Any) -> Any:
        self.executor.add_node(node)
        return node

    def shutdown(self) -> None:
        import rclpy

        from edge_infer_ros.ros.spin import stop_executor

        self._stop.set()
        self._thread.join(timeout=10.0)
        nodes = list(self.executor.get_nodes())
        stop_executor(self.executor, timeout_sec=30.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return predicate()


def call(client: Any, request: Any, timeout: float = 60.0) -> Any:
    """Call a service from a node spun by the background executor and wait for the answer."""
    if not client.wait_for_service(timeout_sec=30.0):  # discovery on a loaded machine
        msg = f'service {client.srv_name!r} not available'
        raise TimeoutError(msg)
    future = client.call_async(request)
    if not wait_for(future.done, timeout=timeout):
        msg = f'service {client.srv_name!r} did not answer within {timeout} s'
        raise TimeoutError(msg)
    return future.result()


class LifecycleClient:
    """Drives a managed node the way ``ros2 lifecycle`` and ``ros2 param`` do: via its services."""

    def __init__(self, graph: RosGraph, target: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions, GetState
        from rcl_interfaces.srv import (
            DescribeParameters,
            GetParameters,
            ListParameters,
            SetParameters,
        )
        from rclpy.node import Node

        self.node = graph.add(Node(f'client_{target.strip("/").replace("/", "_")}',
                                   context=graph.context))
        self._change = self.node.create_client(ChangeState, f'{target}/change_state')
        self._state = self.node.create_client(GetState, f'{target}/get_state')
        self._transitions = self.node.create_client(
            GetAvailableTransitions, f'{target}/get_available_transitions')
        self._set = self.node.create_client(SetParameters, f'{target}/set_parameters')
        self._get = self.node.create_client(GetParameters, f'{target}/get_parameters')
        self._list = self.node.create_client(ListParameters, f'{target}/list_parameters')
        self._describe = self.node.create_client(DescribeParameters,
                                                 f'{target}/describe_parameters')

    def transition(self, label: str, timeout: float = 120.0) -> bool:
        """Trigger ``configure``/``activate``/... ; True when the node reports success."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {
            'configure': Transition.TRANSITION_CONFIGURE,
            'activate': Transition.TRANSITION_ACTIVATE,
            'deactivate': Transition.TRANSITION_DEACTIVATE,
            'cleanup': Transition.TRANSITION_CLEANUP,
            'shutdown': Transition.TRANSITION_INACTIVE_SHUTDOWN,
            'unconfigured_shutdown': Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
            'active_shutdown': Transition.TRANSITION_ACTIVE_SHUTDOWN,
        }
        request = ChangeState.Request()
        request.transition.id = ids[label]
        return bool(call(self._change, request, timeout).success)

    def state(self, timeout: float = 10.0) -> str:
        """Current state label, e.g. ``unconfigured``."""
        from lifecycle_msgs.srv import GetState

        return str(call(self._state, GetState.Request(), timeout).current_state.label)

    def available_transitions(self, timeout: float = 10.0) -> list[str]:
        """Labels of the transitions the node offers now."""
        from lifecycle_msgs.srv import GetAvailableTransitions

        result = call(self._transitions, GetAvailableTransitions.Request(), timeout)
        return [t.transition.label for t in result.available_transitions]

    def set_parameters(self, timeout: float = 10.0, **values: Any) -> list[Any]:
        """``ros2 param set`` for each value; returns the SetParametersResult list."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        return list(call(self._set, request, timeout).results)

    def get_parameters(self, *names: str, timeout: float = 10.0) -> dict[str, Any]:
        """``ros2 param get`` for several names."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        request = GetParameters.Request(names=list(names))
        values = call(self._get, request, timeout).values
        return {n: parameter_value_to_python(v) for n, v in zip(names, values, strict=True)}

    def send_parameters(self, messages: list[Any], timeout: float = 10.0) -> list[Any]:
        """One ``SetParameters`` request of ``rcl_interfaces/msg/Parameter`` messages as built.

        This is what the ``ros2 param`` verbs send: ``set`` one message whose value comes from
        ``rclpy.parameter.get_parameter_value(text)``, ``delete`` one of type NOT_SET, ``load``
        every entry of ``parameter_dict_from_yaml_file`` in one request.
        """
        from rcl_interfaces.srv import SetParameters

        return list(call(self._set, SetParameters.Request(parameters=messages), timeout).results)

    def dump_parameters(self, timeout: float = 10.0) -> dict[str, Any]:
        """Every parameter and its value, listed and read as ``ros2 param dump`` does."""
        from rcl_interfaces.srv import ListParameters

        names = sorted(call(self._list, ListParameters.Request(), timeout).result.names)
        return self.get_parameters(*names, timeout=timeout)

    def describe(self, name: str, timeout: float = 10.0) -> Any:
        """The ``ParameterDescriptor`` of ``name`` (``ros2 param describe``)."""
        from rcl_interfaces.srv import DescribeParameters

        request = DescribeParameters.Request(names=[name])
        return call(self._describe, request, timeout).descriptors[0]
