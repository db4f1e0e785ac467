"""Bind dynamic input dimensions: a fixed shape, or TensorRT min/opt/max profiles.

TensorRT needs all three profile strings (``name:1x3x640x640``, comma separated); the CPU and
CUDA providers, and the preallocated IO buffers, need one concrete shape per input: the fixed
``input_shape`` if given, else the profile's opt shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import difflib

from edge_infer_ros.engine.model import ValueInfo
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.imaging.layout import channels_last

__all__ = ['ShapePlan', 'format_profile', 'parse_profile', 'plan_shapes']

Shape = tuple[int, ...]
_PROFILE_PARAMS = ('profile_min_shapes', 'profile_opt_shapes', 'profile_max_shapes')


@dataclass(frozen=True)
class ShapePlan:
    """Resolved shapes: one concrete shape per input and the TensorRT profile strings.

    The profiles are '' for static models; ``symbols`` holds the value of each named symbolic
    dimension, which lets ORT infer concrete output shapes.
    """

    shapes: dict[str, Shape]
    profile_min: str
    profile_opt: str
    profile_max: str
    symbols: dict[str, int]


def format_shape(shape: Sequence[int]) -> str:
    """``(1, 3, 640, 640)`` -> ``'1x3x640x640'``."""
    return 'x'.join(str(d) for d in shape)


def format_profile(shapes: Mapping[str, Sequence[int]]) -> str:
    """``{'images': (1, 3, 640, 640)}`` -> ``'images:1x3x640x640'`` (TensorRT's syntax)."""
    return ','.join(f'{name}:{format_shape(shape)}' for name, shape in shapes.items())


def parse_profile(text: str, parameter: str = 'profile') -> dict[str, Shape]:
    """Parse ``name:1x3x640x640,other:1x2``; names may contain ':' (the last one separates).

    Raises:
        ConfigError: empty entries, missing ':' or dims that are not positive integers.
    """
    shapes: dict[str, Shape] = {}
    for entry in text.split(','):
        name, sep, dims = entry.strip().rpartition(':')
        try:
            shape = tuple(int(d) for d in dims.lower().split('x'))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) <= 0:
            msg = (
                f'{parameter} entry {entry.strip()!r} is not of the form '
                "'input_name:1x3x640x640' with positive sizes"
            )
            raise ConfigError(msg)
        if name in shapes:
            msg = f'{parameter} names input {name!r} twice'
            raise ConfigError(msg)
        shapes[name] = shape
    return shapes


def _check_against_model(info: ValueInfo, shape: Shape, what: str) -> None:
    if info.dims is not None and len(info.dims) != len(shape):
        msg = (
            f'{what} gives input {info.name!r} rank {len(shape)} ({format_shape(shape)}) '
            f'but the model input has rank {len(info.dims)}'
        )
        raise ConfigError(msg)
    for axis, (want, got) in enumerate(zip(info.dims or (), shape, strict=False)):
        if isinstance(want, int) and want > 0 and want != got:
            msg = (
                f'{what} sets dim {axis} of input {info.name!r} to {got!r} but the model fixes '
                f'it to {want!r}'
            )
            raise ConfigError(msg)


def _parse_profiles(
    texts: tuple[str, str, str], inputs: Mapping[str, ValueInfo]
) -> tuple[dict[str, Shape], dict[str, Shape], dict[str, Shape]]:
    given = [bool(t.strip()) for t in texts]
    if not any(given):
        return {}, {}, {}
    if not all(given):
        missing = [p for p, g in zip(_PROFILE_PARAMS, given, strict=True) if not g]
        msg = f'TensorRT profiles need all three shape parameters; {missing!r} is empty'
        raise ConfigError(msg)
    parsed = [parse_profile(t, p) for t, p in zip(texts, _PROFILE_PARAMS, strict=True)]
    low, opt, high = parsed
    for param, shapes in zip(_PROFILE_PARAMS, parsed, strict=True):
        for name, shape in shapes.items():
            if name not in inputs:
                close = difflib.get_close_matches(name, list(inputs), n=1)
                hint = f'did you mean {close[0]!r}' if close else f'inputs are {list(inputs)!r}'
                msg = f'{param} names {name!r}, which is not a model input; {hint}'
                raise ConfigError(msg)
            _check_against_model(inputs[name], shape, param)
        if set(shapes) != set(opt):
            msg = f'{param} and profile_opt_shapes name different inputs: {sorted(shapes)!r}'
            raise ConfigError(msg)
    for name in opt:
        if not len(low[name]) == len(opt[name]) == len(high[name]):
            msg = f'profile shapes of input {name!r} have different ranks'
            raise ConfigError(msg)
        if not all(a <= b <= c for a, b, c in zip(low[name], opt[name], high[name], strict=True)):
            msg = (
                f'profile of input {name!r} needs min <= opt <= max in every dim, got '
                f'{format_shape(low[name])}, {format_shape(opt[name])}, {format_shape(high[name])}'
            )
            raise ConfigError(msg)
    return low, opt, high


def _bind_symbols(info: ValueInfo, shape: Shape, symbols: dict[str, int]) -> None:
    for want, got in zip(info.dims or (), shape, strict=False):
        if isinstance(want, str):
            if symbols.setdefault(want, got) != got:
                msg = (
                    f'dimension {want!r} is {symbols[want]!r} for one input and {got!r} for '
                    f'input {info.name!r}; shared dimensions must agree'
                )
                raise ConfigError(msg)


def _in_model_layout(info: ValueInfo, shape: Shape) -> Shape:
    """``input_shape`` (``HxW`` means ``1x3xHxW``) as ``NxHxWxC`` for an NHWC image input.

    TensorFlow exports take ``[N, H, W, 3]``; their fixed channel count sits last, which tells
    them from NCHW models, so one ``input_shape: 300x300`` fits either layout.
    """
    if len(shape) != 4 or not channels_last(info.dims or ()):
        return shape
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        return (shape[0], shape[2], shape[3], shape[1])
    return shape


def plan_shapes(
    inputs: Sequence[ValueInfo],
    input_shape: Shape = (),
    profiles: tuple[str, str, str] = ('', '', ''),
) -> ShapePlan:
    """Resolve the shape of every input from the model and the configuration.

    ``input_shape`` applies to the first input (the image); other inputs take their shape from
    the profiles or from symbolic dims they share with already resolved inputs.

    Raises:
        ConfigError: invalid profiles or shape, or a dynamic input that nothing binds.
    """
    by_name = {info.name: info for info in inputs}
    low, opt, high = _parse_profiles(profiles, by_name)
    symbols: dict[str, int] = {}
    shapes: dict[str, Shape] = {}
    pending: list[ValueInfo] = []
    for index, info in enumerate(inputs):
        shape: Shape | None = None
        if index == 0 and input_shape:
            input_shape = _in_model_layout(info, input_shape)
            _check_against_model(info, input_shape, 'input_shape')
            lo, hi = low.get(info.name, ()), high.get(info.name, ())
            bounds = zip(lo, input_shape, hi, strict=False)
            if info.name in opt and not all(a <= b <= c for a, b, c in bounds):
                msg = (
                    f'input_shape {format_shape(input_shape)!r} lies outside the profile '
                    f'{format_shape(low[info.name])}..{format_shape(high[info.name])} of '
                    f'input {info.name!r}'
                )
                raise ConfigError(msg)
            shape = input_shape
        elif info.name in opt:
            shape = opt[info.name]
        elif not info.is_dynamic:
            shape = tuple(d for d in info.dims or () if isinstance(d, int))
        if shape is None:
            pending.append(info)
            continue
        _bind_symbols(info, shape, symbols)
        shapes[info.name] = shape
    for info in pending:
        dims = info.dims or ()
        if info.dims is not None and all(
            (isinstance(d, int) and d > 0) or (isinstance(d, str) and d in symbols) for d in dims
        ):
            bound = (symbols[d] if isinstance(d, str) else int(d or 0) for d in dims)
            shapes[info.name] = tuple(bound)
            continue
        free = [d if d else '?' for d in dims if not isinstance(d, int) or d <= 0]
        first = inputs[0].name == info.name
        hint = "'input_shape' (e.g. 1x3x640x640) or " if first else ''
        msg = (
            f'model input {info.name!r} has dynamic dims {free or "(unknown rank)"!r}; set '
            f'{hint}all three of profile_min_shapes/profile_opt_shapes/profile_max_shapes'
        )
        raise ConfigError(msg)
    ordered = {info.name: shapes[info.name] for info in inputs}
    dynamic = [info.name for info in inputs if info.is_dynamic]
    if not dynamic:
        return ShapePlan(ordered, '', '', '', symbols)
    lows = {n: low.get(n, ordered[n]) for n in dynamic}
    opts = {n: opt.get(n, ordered[n]) for n in dynamic}
    highs = {n: high.get(n, ordered[n]) for n in dynamic}
    return ShapePlan(ordered, format_profile(lows), format_profile(opts), format_profile(highs),
                     symbols)
