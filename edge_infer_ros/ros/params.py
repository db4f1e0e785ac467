"""The detector's ROS parameters: declared from the parameter table, checked by its own rules.

Descriptors carry each parameter's description, type, range and allowed values, so
``ros2 param describe`` explains it. They are declared with ``dynamic_typing`` so that rclpy's
own type check (``Wrong parameter type, expected '3' got '2'``) never answers first: the table's
``ParamSpec.check`` does, naming the parameter and the type in words. What the ``ros2`` CLI
sends is taken as users mean it: ``ros2 param set ... class_filter "[]"`` arrives as an empty
bool array and ``ros2 param load`` of ``class_filter: []`` as an empty byte array (both are
"empty"), ``ros2 param delete`` of a list that is empty by default clears it, and an integer is a
fine double. A bad value given at start-up (``--params-file``, ``-p``, launch) never kills the
process: the default stands in, one line names every such parameter, and configure fails until
each one is set.
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
import yaml

from edge_infer_ros.errors import ConfigError, shown
from edge_infer_ros.parameters import KIND_WORDS, PARAMETERS, ParamSpec, accepts_yaml_bool

__all__ = ['NodeParameters']

_TYPES = {
    'bool': ParameterType.PARAMETER_BOOL,
    'int': ParameterType.PARAMETER_INTEGER,
    'double': ParameterType.PARAMETER_DOUBLE,
    'string': ParameterType.PARAMETER_STRING,
    'string_array': ParameterType.PARAMETER_STRING_ARRAY,
    'int_array': ParameterType.PARAMETER_INTEGER_ARRAY,
    'double_array': ParameterType.PARAMETER_DOUBLE_ARRAY,
}
_ARRAYS = frozenset({
    Parameter.Type.BYTE_ARRAY, Parameter.Type.BOOL_ARRAY, Parameter.Type.INTEGER_ARRAY,
    Parameter.Type.DOUBLE_ARRAY, Parameter.Type.STRING_ARRAY,
})
_SENT_WORDS = {
    Parameter.Type.BOOL: 'a boolean',
    Parameter.Type.INTEGER: 'an integer',
    Parameter.Type.DOUBLE: 'a number',
    Parameter.Type.STRING: 'a string',
    Parameter.Type.BYTE_ARRAY: 'a byte array',
    Parameter.Type.BOOL_ARRAY: 'a list of booleans',
    Parameter.Type.INTEGER_ARRAY: 'a list of integers',
    Parameter.Type.DOUBLE_ARRAY: 'a list of numbers',
    Parameter.Type.STRING_ARRAY: 'a list of strings',
}
# Safe widenings: converted into the declared type on arrival where rclpy has a pre-set
# callback (Iron and newer), and taken as sent elsewhere (the table's checks coerce them).
_WIDENS = {
    'double': Parameter.Type.INTEGER,
    'double_array': Parameter.Type.INTEGER_ARRAY,
    'string': Parameter.Type.INTEGER,  # `ros2 param load` reads a dumped '2147483648' as one
}
_SPECS = {spec.name: spec for spec in PARAMETERS}


def _descriptor(spec: ParamSpec, with_range: bool = True) -> ParameterDescriptor:
    when = 'Runtime: applies from the next frame.' if spec.runtime else (
        'Configure-time: set it while unconfigured, then configure.'
    )
    desc = ParameterDescriptor(
        name=spec.name,
        type=_TYPES[spec.kind],
        description=f'{spec.description} {when}',
        additional_constraints=spec.requirement(),
        dynamic_typing=True,
    )
    if with_range and spec.min is not None and spec.max is not None:
        if spec.kind.startswith('int'):
            desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max))]
        elif spec.kind.startswith('double'):
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max)),
            ]
    return desc


def _python(spec: ParamSpec, value: Any) -> Any:
    """A parameter value as the table's checks take it: lists for arrays (unset means empty)."""
    if spec.kind.endswith('_array'):
        return [] if value is None else list(value)
    return value


def _typed(spec: ParamSpec, value: Any) -> Parameter:
    return Parameter(spec.name, Parameter.Type(_TYPES[spec.kind]), value)


def _as_declared_type(spec: ParamSpec, param: Parameter) -> Parameter:
    """The incoming ``param`` in the declared type when that is safe, else unchanged."""
    sent = param.type_
    if spec.kind.endswith('_array'):
        empty = sent in _ARRAYS and not list(param.value)
        deleted = sent == Parameter.Type.NOT_SET and spec.default == []
        if empty or deleted:
            return _typed(spec, [])
    if sent == Parameter.Type.BOOL and accepts_yaml_bool(spec):  # unquoted true in YAML or CLI
        return _typed(spec, str(param.value).lower())
    if _WIDENS.get(spec.kind) == sent:
        value = param.value
        return _typed(spec, str(value) if spec.kind == 'string' else (
            [float(v) for v in value] if spec.kind.endswith('_array') else float(value)))
    if spec.kind == 'double_array' and sent == Parameter.Type.STRING:
        numbers = _number_list(param.value)
        if numbers is not None:
            return _typed(spec, numbers)
    return param


def _number_list(text: str) -> list[float] | None:
    """``'[1, 0.5]'`` as numbers: ``ros2 param set`` sends a list of ints and floats as text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return None


def _accepted(spec: ParamSpec, param: Parameter) -> Any:
    """The checked value of an incoming parameter, or ConfigError saying what to send."""
    sent = param.type_
    if sent == Parameter.Type.NOT_SET:
        msg = (f'parameter {spec.name!r} cannot be deleted; set it to {spec.requirement()} '
               f'instead (default {spec.default!r})')
        raise ConfigError(msg)
    declared = Parameter.Type(_TYPES[spec.kind])
    empty_list = spec.kind.endswith('_array') and sent in _ARRAYS and not list(param.value)
    if sent != declared and not empty_list and _WIDENS.get(spec.kind) != sent:
        shown_value = list(param.value) if sent in _ARRAYS else param.value
        msg = (f'parameter {spec.name!r} must be {KIND_WORDS[spec.kind]}, got '
               f'{_SENT_WORDS.get(sent, str(sent))} {shown(shown_value)}')
        raise ConfigError(msg)
    return spec.check(_python(spec, param.value))


class NodeParameters:
    """Declares the parameter table on a node and guards every later change to it.

    Configure-time parameters (model, precision, topics, ...) are not read-only, so a bad one can
    be fixed and the node configured again; while the node is configured a change would silently
    not apply, so it is refused with a message saying what to do. Setting one to the value it
    already has succeeds (``ros2 param load`` of a dump sets all of them).
    """

    def __init__(
        self,
        node: Node,
        is_configured: Callable[[], bool],
        apply_runtime: Callable[[dict[str, Any]], None],
    ) -> None:
        self._node = node
        self._is_configured = is_configured
        self._apply_runtime = apply_runtime
        self._refused: dict[str, str] = {}
        for spec in PARAMETERS:
            self._declare(spec)
        if hasattr(node, 'add_pre_set_parameters_callback'):  # Iron and newer
            node.add_pre_set_parameters_callback(self._convert)
        node.add_on_set_parameters_callback(self._check)
        if self._refused:
            node.get_logger().error(self.problems())

    def _declare(self, spec: ParamSpec) -> None:
        # Declared without a range first, so that no start-up value can raise here.
        declared = self._node.declare_parameter(
            spec.name, spec.default, _descriptor(spec, with_range=False))
        try:
            value = spec.check(_python(spec, _as_declared_type(spec, declared).value))
        except ConfigError:
            self._refused[spec.name] = (f'{spec.name}={shown(declared.value)} '
                                        f'({spec.requirement()})')
            value = spec.default
        typed = _typed(spec, value)
        if declared.type_ != typed.type_ or _python(spec, declared.value) != value:
            self._node.set_parameters([typed])
        self._node.set_descriptor(spec.name, _descriptor(spec))

    def values(self) -> dict[str, Any]:
        """Current values of all table parameters, as plain Python values."""
        return {spec.name: _python(spec, self._node.get_parameter(spec.name).value)
                for spec in PARAMETERS}

    def problems(self) -> str:
        """'' when every start-up value was valid, else one sentence naming each bad one."""
        if not self._refused:
            return ''
        return (f'start-up parameter values refused: {"; ".join(self._refused.values())}; '
                'their defaults stand in, and configure fails until each one is set to a valid '
                'value (ros2 param set, or fix the parameters file and restart)')

    def _convert(self, params: list[Parameter]) -> list[Parameter]:
        """``add_pre_set_parameters_callback``: CLI values into the declared types."""
        return [p if p.name not in _SPECS else _as_declared_type(_SPECS[p.name], p)
                for p in params]

    def _check(self, params: list[Parameter]) -> SetParametersResult:
        """``add_on_set_parameters_callback``: validate, then apply runtime changes at once."""
        try:
            runtime = self._changes(params)
        except ConfigError as err:
            return SetParametersResult(successful=False, reason=str(err))
        finally:
            # rclpy sets a dynamically typed descriptor's type to whatever was sent; keep it
            # saying what the parameter is, for ros2 param describe.
            for param in params:
                if param.name in _SPECS:
                    self._node.describe_parameter(param.name).type = (
                        _TYPES[_SPECS[param.name].kind])
        for param in params:
            self._refused.pop(param.name, None)
        if runtime:
            self._apply_runtime(runtime)
        return SetParametersResult(successful=True)

    def _changes(self, params: list[Parameter]) -> dict[str, Any]:
        runtime: dict[str, Any] = {}
        for param in params:
            spec = _SPECS.get(param.name)
            if spec is None:
                continue
            value = _accepted(spec, param)
            if spec.runtime:
                runtime[param.name] = value
            elif self._is_configured() and value != self._current(spec):
                msg = (f'{param.name!r} is read at configure; deactivate and clean up the node, '
                       'set it, then configure again')
                raise ConfigError(msg)
        return runtime

    def _current(self, spec: ParamSpec) -> Any:
        try:
            return spec.check(_python(spec, self._node.get_parameter(spec.name).value))
        except ConfigError:
            return None
