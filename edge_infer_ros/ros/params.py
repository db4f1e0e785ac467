"""ROS parameter declaration from the package's parameter table, with descriptors and checks.

Descriptors carry each parameter's description, type, range and allowed values, so
``ros2 param describe`` explains it; values are validated by the same ``ParamSpec.check`` the
offline tools use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.parameters import PARAMETERS, ParamSpec, accepts_yaml_bool

__all__ = ['declare_parameters', 'parameter_values', 'ParameterGuard']

_TYPES = {
    'bool': ParameterType.PARAMETER_BOOL,
    'int': ParameterType.PARAMETER_INTEGER,
    'double': ParameterType.PARAMETER_DOUBLE,
    'string': ParameterType.PARAMETER_STRING,
    'string_array': ParameterType.PARAMETER_STRING_ARRAY,
    'int_array': ParameterType.PARAMETER_INTEGER_ARRAY,
    'double_array': ParameterType.PARAMETER_DOUBLE_ARRAY,
}


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    when = 'Runtime: applies from the next frame.' if spec.runtime else (
        'Configure-time: set it while unconfigured, then configure.'
    )
    constraints = f'one of {", ".join(spec.choices)}' if spec.choices else ''
    desc = ParameterDescriptor(
        name=spec.name,
        type=_TYPES[spec.kind],
        description=f'{spec.description} {when}',
        additional_constraints=constraints,
        dynamic_typing=accepts_yaml_bool(spec),  # an unquoted true/false arrives as a bool
    )
    if spec.min is not None and spec.max is not None:
        if spec.kind == 'int':
            desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max))]
        elif spec.kind == 'double':
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max)),
            ]
    return desc


def declare_parameters(node: Node) -> None:
    """Declare every parameter of the table on ``node`` (overrides from launch/YAML apply)."""
    for spec in PARAMETERS:
        if spec.kind.endswith('_array') and not spec.default:
            # rclpy types a parameter from its default and reads ``[]`` as a byte array, so
            # ``ros2 param set`` of integers or strings would be refused; and an empty list in a
            # parameters file (``ros2 param dump`` writes one) is untyped. Declare the type, then
            # fill in the empty default when no override gave a value.
            kind = Parameter.Type(_TYPES[spec.kind])
            declared = node.declare_parameter(spec.name, kind, _descriptor(spec))
            if declared.type_ == Parameter.Type.NOT_SET:
                node.set_parameters([Parameter(spec.name, kind, [])])
        else:
            node.declare_parameter(spec.name, spec.default, _descriptor(spec))


def parameter_values(node: Node) -> dict[str, Any]:
    """Current values of all table parameters, as plain Python values."""
    values = {}
    for spec in PARAMETERS:
        value = node.get_parameter(spec.name).value
        values[spec.name] = list(value) if spec.kind.endswith('_array') else value
    return values


class ParameterGuard:
    """Validates ``ros2 param set`` requests and refuses configure-time changes while configured.

    Configure-time parameters (model, precision, topics, ...) are not read-only, so a bad one can
    be fixed and the node configured again; but while configured they would silently not apply,
    so the change is refused with a message saying what to do.
    """

    def __init__(
        self,
        is_configured: Callable[[], bool],
        apply_runtime: Callable[[dict[str, Any]], None],
    ) -> None:
        self._is_configured = is_configured
        self._apply_runtime = apply_runtime
        self._specs = {spec.name: spec for spec in PARAMETERS}

    def __call__(self, params: list[Parameter]) -> SetParametersResult:
        """The ``add_on_set_parameters_callback`` hook; applies runtime changes once all pass."""
        runtime: dict[str, Any] = {}
        for param in params:
            spec = self._specs.get(param.name)
            if spec is None:
                continue
            if not spec.runtime and self._is_configured():
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f'{param.name!r} is read at configure; deactivate and clean up the node, '
                        f'set it, then configure again'
                    ),
                )
            try:
                value = param.value
                checked = spec.check(list(value) if spec.kind.endswith('_array') else value)
            except ConfigError as err:
                return SetParametersResult(successful=False, reason=str(err))
            if spec.runtime:
                runtime[param.name] = checked
        if runtime:
            self._apply_runtime(runtime)
        return SetParametersResult(successful=True)
