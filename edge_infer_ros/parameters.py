"""The detector's parameter table, and the one place parameters become typed configuration.

The node declares its ROS parameters from ``PARAMETERS``; the offline tools read the same
parameters YAML file with ``load_params_file``. Both call ``pipeline_config_from_params`` and
``node_config_from_params``, so a robot and a bag evaluation run with identical settings.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
import difflib
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from edge_infer_ros.config import (
    DEFAULT_IMAGE_CODECS,
    FALLBACK_POLICIES,
    IMAGE_CODECS,
    OUTPUT_FORMATS,
    PRECISIONS,
    PREPROCESS_IN_MODEL,
    PROVIDERS,
    TRACKERS,
    DecoderConfig,
    EngineConfig,
    NodeConfig,
    PipelineConfig,
    PreprocessConfig,
    TrackerConfig,
)
from edge_infer_ros.errors import ConfigError, shown

_C = TypeVar('_C')

__all__ = [
    'KIND_WORDS',
    'PARAMETERS',
    'ParamSpec',
    'accepts_yaml_bool',
    'default_model_path',
    'load_params_file',
    'load_pipeline_config',
    'node_config_from_params',
    'parse_workspace',
    'pipeline_config_from_params',
    'validate_params',
]

PACKAGE = 'edge_infer_ros'
DEMO_MODEL = 'demo_detector.onnx'


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its type tag, default, documentation and limits.

    ``kind`` is one of bool, int, double, string, string_array, int_array, double_array.
    ``runtime`` parameters apply from the next frame; the others only at configure.
    """

    name: str
    kind: str
    default: Any
    description: str
    runtime: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def requirement(self) -> str:
        """What a valid value is, in words: ``'a number within [0.0, 1.0]'``."""
        words = KIND_WORDS[self.kind]
        each = ', each' if self.kind.endswith('_array') else ''
        if self.choices:
            return f'{words}{each} one of {", ".join(self.choices)}'
        if self.min is not None and self.max is not None:
            return f'{words}{each} within [{self.min}, {self.max}]'
        return words

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type, or raise ConfigError."""
        value = _coerce(self, value)
        items = value if self.kind.endswith('_array') else [value]
        for item in items:
            if self.choices and item not in self.choices:
                msg = (f'parameter {self.name!r} is {shown(item)}; use one of '
                       f'{list(self.choices)}')
                raise ConfigError(msg)
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                if (self.min is not None and item < self.min) or (
                    self.max is not None and item > self.max
                ):
                    msg = (
                        f'parameter {self.name!r} is {shown(item)}; '
                        f'it must be within [{self.min}, {self.max}]'
                    )
                    raise ConfigError(msg)
        return value


KIND_WORDS = {
    'bool': 'true or false',
    'int': 'an integer',
    'double': 'a number',
    'string': 'a string',
    'string_array': 'a list of strings',
    'int_array': 'a list of integers',
    'double_array': 'a list of numbers',
}
"""Each parameter kind in words, for messages (never ``expected '3' got '2'``)."""


def _coerce(spec: ParamSpec, value: Any) -> Any:
    kind = spec.kind
    scalar = kind.removesuffix('_array')
    if kind.endswith('_array'):
        if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
            msg = f'parameter {spec.name!r} must be {KIND_WORDS[kind]}, got {shown(value)}'
            raise ConfigError(msg)
        items = list(value)
        if not all(_fits(scalar, v) for v in items):
            msg = f'parameter {spec.name!r} must be {KIND_WORDS[kind]}, got {shown(items)}'
            raise ConfigError(msg)
        return [float(v) if scalar == 'double' else v for v in items]
    if isinstance(value, bool) and accepts_yaml_bool(spec):
        return str(value).lower()
    if kind == 'string' and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # `workspace: 2147483648` in YAML is an integer
    if not _fits(scalar, value):
        msg = f'parameter {spec.name!r} must be {KIND_WORDS[kind]}, got {shown(value)}'
        raise ConfigError(msg)
    return float(value) if kind == 'double' else value


def accepts_yaml_bool(spec: ParamSpec) -> bool:
    """A string parameter whose choices include true and false (``preprocess_in_model``).

    YAML and ``ros2 param set`` read an unquoted ``true`` as a boolean, so such a parameter also
    takes booleans (the node declares it with dynamic typing) and stores them as the strings.
    """
    return spec.kind == 'string' and {'true', 'false'} <= set(spec.choices)


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` is of scalar ``kind``; an integer is a fine double (users type ``1``)."""
    if isinstance(value, bool):
        return kind == 'bool'
    return {
        'bool': False,
        'int': isinstance(value, int),
        'double': isinstance(value, (int, float)),
        'string': isinstance(value, str),
    }[kind]


def _p(name: str, kind: str, default: Any, description: str, **kw: Any) -> ParamSpec:
    return ParamSpec(name, kind, default, description, **kw)


PARAMETERS: tuple[ParamSpec, ...] = (
    # Model and engine (configure-time).
    _p('model_path', 'string', '',
       'ONNX model file; empty uses the demo detector shipped in share/edge_infer_ros/models.'),
    _p('providers', 'string_array', list(PROVIDERS),
       'Execution providers in order of preference (any of tensorrt, cuda, cpu).',
       choices=PROVIDERS),
    _p('fallback_policy', 'string', 'warn',
       'When a requested provider is not active: error fails configure, warn reports it, '
       'allow stays quiet.', choices=FALLBACK_POLICIES),
    _p('precision', 'string', 'fp16', 'TensorRT precision.', choices=PRECISIONS),
    _p('int8_calibration_table', 'string', '',
       'Calibration table for int8 (from calibrate_int8); not needed for Q/DQ models.'),
    _p('engine_cache_path', 'string', '~/.cache/edge_infer_ros/engines',
       'Folder of TensorRT engines, one sub-folder per model/precision/shape/version key.'),
    _p('timing_cache', 'bool', True, 'Keep a TensorRT timing cache to speed up rebuilds.'),
    _p('workspace', 'string', 'auto',
       'TensorRT workspace: bytes (e.g. 2147483648 or 2GiB) or auto (half the free GPU memory; '
       'on Jetson the shared RAM).'),
    _p('builder_optimization_level', 'int', 3,
       'TensorRT builder optimisation level: higher builds slower, may run faster.', min=0, max=5),
    _p('device_id', 'int', 0, 'CUDA device index.', min=0, max=63),
    _p('cuda_graph', 'bool', False, 'Capture inference in a CUDA graph (static shapes only).'),
    _p('dla_core', 'int', -1, 'Jetson DLA core to use, -1 for the GPU.', min=-1, max=7),
    _p('input_shape', 'string', '',
       'Input shape for models with dynamic dimensions: HxW or NxCxHxW (e.g. 640x640); '
       'HxW also fits NHWC (TensorFlow) inputs.'),
    _p('profile_min_shapes', 'string', '',
       'TensorRT optimisation profile minimum, e.g. images:1x3x320x320 (set all three).'),
    _p('profile_opt_shapes', 'string', '', 'TensorRT optimisation profile optimum shapes.'),
    _p('profile_max_shapes', 'string', '', 'TensorRT optimisation profile maximum shapes.'),
    _p('trt_extra_options', 'string_array', [],
       'Further TensorRT provider options as key=value (names are checked).'),
    _p('warmup_iterations', 'int', 3,
       'Inferences run during configure so the first frame is fast.', min=0, max=1000),
    _p('export_ep_context', 'bool', False,
       'Also write an EP-context model that embeds the built engine, for shipping.'),
    _p('cpu_threads', 'int', 0, 'Threads for the CPU provider, 0 lets ONNX Runtime decide.',
       min=0, max=256),
    _p('cpu_spin_wait', 'bool', True,
       'CPU provider threads spin between operators instead of sleeping (ONNX Runtime default); '
       'false saves CPU for other processes on few cores at some inference speed.'),
    # Pre- and post-processing (configure-time).
    _p('output_format', 'string', 'auto',
       'Layout of the model outputs; auto detects it from names, shapes and metadata.',
       choices=OUTPUT_FORMATS),
    _p('labels_path', 'string', '',
       'Class names file (one per line, or YAML/JSON); empty uses the model metadata.'),
    _p('letterbox', 'bool', True, 'Keep aspect ratio with padding (true) or stretch (false).'),
    _p('pad_value', 'int', 114, 'Grey level of the letterbox padding.', min=0, max=255),
    _p('channel_order', 'string', 'rgb', 'Channel order the model expects.',
       choices=('rgb', 'bgr')),
    _p('scale', 'double', 1.0 / 255.0, 'Multiplier applied to 8-bit pixel values.',
       min=0.0, max=1.0),
    _p('mean', 'double_array', [0.0, 0.0, 0.0], 'Per-channel mean subtracted after scaling.'),
    _p('std', 'double_array', [1.0, 1.0, 1.0], 'Per-channel standard deviation (divisor).'),
    _p('preprocess_in_model', 'string', 'auto',
       'Where pixels become the model input: true wraps the model so the engine takes the '
       'letterboxed uint8 image and converts, normalises and transposes it itself (4x fewer '
       'bytes to the device); false does it on the host; auto: in the model on TensorRT/CUDA, '
       'on the host on CPU.', choices=PREPROCESS_IN_MODEL),
    _p('max_image_pixels', 'int', 8192 * 8192,
       'Images with more pixels are rejected as malformed (compressed ones before decoding, '
       'from the size their header declares).', min=1, max=1 << 31),
    _p('compressed_codecs', 'string_array', list(DEFAULT_IMAGE_CODECS),
       'Codecs a CompressedImage may use, recognised from its bytes whatever its format field '
       'says; others are dropped undecoded. image_transport publishes jpeg and png.',
       choices=IMAGE_CODECS),
    # Tracking (configure-time).
    _p('tracker', 'string', 'none',
       'Multi-object tracker that gives each detection a stable per-camera ID in '
       'Detection2D.id: none (ids stay empty), or bytetrack (edgefirst-tracker package).',
       choices=TRACKERS),
    _p('track_buffer', 'double', 1.0,
       'Seconds (image time) a lost track is kept: an object back within it gets its ID back.',
       min=0.0, max=3600.0),
    _p('track_match_threshold', 'double', 0.25,
       "Least IoU between a track's predicted box and a detection for them to match.",
       min=0.01, max=1.0),
    _p('track_high_threshold', 'double', 0.5,
       'Detections scoring at least this start new tracks and are matched first; lower ones '
       'only continue tracks.', min=0.0, max=1.0),
    # ROS interface (configure-time).
    _p('image_topics', 'string_array', ['image_raw'],
       'Camera topics (relative names); a topic ending in /compressed is a CompressedImage.'),
    _p('image_transport', 'string', 'auto',
       'raw or compressed for every topic; auto decides by the /compressed suffix.',
       choices=('auto', 'raw', 'compressed')),
    _p('qos_reliability', 'string', 'auto',
       'Image subscription reliability; auto matches the publishers found on each topic.',
       choices=('auto', 'reliable', 'best_effort')),
    _p('qos_depth', 'int', 0,
       'Image subscription history depth; 0 (auto): 3, room for large frames that the middleware '
       'reassembles from fragments while the worker is busy (1 starved 1080p streams); after an '
       'idle wait while frames stall, the frames it holds are processed in order.',
       min=0, max=100),
    _p('class_id_mode', 'string', 'name',
       'ObjectHypothesis.class_id carries the class name or the numeric id.',
       choices=('name', 'id')),
    _p('publish_debug_image', 'bool', True,
       'Publish annotated images on debug_image (only while someone subscribes).'),
    _p('diagnostics_period', 'double', 1.0, 'Seconds between /diagnostics messages.',
       min=0.1, max=60.0),
    # Runtime-tunable (apply from the next frame).
    _p('confidence_threshold', 'double', 0.25, 'Minimum detection score.', runtime=True,
       min=0.0, max=1.0),
    _p('iou_threshold', 'double', 0.45, 'NMS overlap threshold.', runtime=True,
       min=0.0, max=1.0),
    _p('max_detections', 'int', 100, 'Most detections per image.', runtime=True,
       min=1, max=10000),
    _p('pre_nms_top_k', 'int', 1000, 'Candidates kept before NMS.', runtime=True,
       min=1, max=100000),
    _p('class_agnostic_nms', 'bool', False, 'Suppress overlaps across classes.', runtime=True),
    _p('class_filter', 'int_array', [], 'Keep only these class ids; empty keeps all.',
       runtime=True, min=0, max=1 << 20),
)

_BY_NAME = {spec.name: spec for spec in PARAMETERS}


def validate_params(values: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Check names, types and limits; fill defaults unless ``partial``.

    Raises:
        ConfigError: naming the first bad parameter, with the closest real name for a typo.
    """
    out: dict[str, Any] = {} if partial else {s.name: s.default for s in PARAMETERS}
    for name, value in values.items():
        spec = _BY_NAME.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            msg = f'unknown parameter {name!r}{hint}'
            raise ConfigError(msg)
        out[name] = spec.check(value)
    return out


def default_model_path() -> str:
    """Locate the shipped demo detector (installed share folder first, then the source tree)."""
    candidates: list[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'models' / DEMO_MODEL)
    except Exception:  # noqa: BLE001 - ament index missing or package not installed
        pass
    candidates.append(Path(__file__).resolve().parent.parent / 'models' / DEMO_MODEL)
    for path in candidates:
        if path.is_file():
            return str(path)
    return str(candidates[-1])


def parse_workspace(text: str) -> int:
    """Turn ``auto``/``2GiB``/``512MB``/``1073741824`` into bytes (0 means automatic)."""
    value = text.strip().lower().replace(' ', '')
    if value in ('', 'auto', '0'):
        return 0
    units = {'gib': 1 << 30, 'gb': 10**9, 'mib': 1 << 20, 'mb': 10**6, 'kib': 1 << 10, 'b': 1}
    for suffix, factor in units.items():
        if value.endswith(suffix) and value[: -len(suffix)].replace('.', '', 1).isdigit():
            return int(float(value[: -len(suffix)]) * factor)
    if value.isdigit():
        return int(value)
    msg = f"parameter 'workspace' is {text!r}; use auto, a byte count or a size like 2GiB"
    raise ConfigError(msg)


def _parse_input_shape(text: str) -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        dims = tuple(int(d) for d in text.lower().replace(',', 'x').split('x'))
    except ValueError as err:
        msg = f"parameter 'input_shape' is {text!r}; write HxW or NxCxHxW such as 640x640"
        raise ConfigError(msg) from err
    if len(dims) == 2:
        dims = (1, 3, *dims)
    if len(dims) != 4 or min(dims) <= 0:
        msg = f"parameter 'input_shape' is {text!r}; write HxW or NxCxHxW with positive sizes"
        raise ConfigError(msg)
    return dims


def _parse_extra_options(items: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        if not item.strip():
            continue
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            msg = f'trt_extra_options entry {item!r} is not of the form key=value'
            raise ConfigError(msg)
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path)) if path else path


def _from_params(cls: type[_C], p: Mapping[str, Any], **computed: Any) -> _C:
    """Fill the dataclass ``cls`` from validated parameters whose names are its field names.

    The field names are the parameter names, so a parameter added to both the table and the
    dataclass needs no third edit here; lists become tuples (the configs are frozen), and
    ``computed`` gives the fields that are parsed or derived rather than copied.
    """
    values = {
        f.name: computed[f.name] if f.name in computed
        else tuple(p[f.name]) if isinstance(p[f.name], list) else p[f.name]
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    return cls(**values)


def pipeline_config_from_params(values: Mapping[str, Any]) -> PipelineConfig:
    """Build the typed pipeline configuration from (possibly partial) parameter values."""
    p = validate_params(values)
    if len(p['mean']) != 3 or len(p['std']) != 3 or min(p['std']) <= 0:
        msg = f'mean {p["mean"]!r} and std {p["std"]!r} need three values, std all positive'
        raise ConfigError(msg)
    if not p['providers']:
        msg = "parameter 'providers' is empty; list at least one of tensorrt, cuda, cpu"
        raise ConfigError(msg)
    preprocess = _from_params(PreprocessConfig, p)
    engine = _from_params(
        EngineConfig, p,
        preprocess=preprocess,
        model_path=_expand(p['model_path']) or default_model_path(),
        int8_calibration_table=_expand(p['int8_calibration_table']),
        engine_cache_path=_expand(p['engine_cache_path']),
        workspace_bytes=parse_workspace(p['workspace']),
        input_shape=_parse_input_shape(p['input_shape']),
        profile_min_shapes=p['profile_min_shapes'].strip(),
        profile_opt_shapes=p['profile_opt_shapes'].strip(),
        profile_max_shapes=p['profile_max_shapes'].strip(),
        trt_extra_options=_parse_extra_options(p['trt_extra_options']),
    )
    return _from_params(
        PipelineConfig, p,
        engine=engine,
        preprocess=preprocess,
        decoder=_from_params(DecoderConfig, p),
        tracking=_from_params(TrackerConfig, p),
        labels_path=_expand(p['labels_path']),
    )


def decoder_config_from_params(values: Mapping[str, Any]) -> DecoderConfig:
    """Build the decoder settings alone: what a runtime parameter change rebuilds."""
    return _from_params(DecoderConfig, validate_params(values))


def node_config_from_params(values: Mapping[str, Any]) -> NodeConfig:
    """Build the ROS-interface settings (topics, QoS, outputs)."""
    p = validate_params(values)
    topics = tuple(t.strip() for t in p['image_topics'] if t.strip())
    if not topics:
        msg = "parameter 'image_topics' is empty; list at least one camera topic"
        raise ConfigError(msg)
    if len(set(topics)) != len(topics):
        msg = f"parameter 'image_topics' lists a topic twice: {list(topics)!r}"
        raise ConfigError(msg)
    return _from_params(NodeConfig, p, image_topics=topics)


def load_params_file(path: str | os.PathLike[str], node_name: str | None = None) -> dict[str, Any]:
    """Read the ``ros__parameters`` of one node from a ROS 2 parameters YAML file.

    Entries for ``/**`` apply first, then those whose key names the node (``detector``,
    ``/detector`` or ``/ns/detector``). Without ``node_name`` the file must describe one node.

    Raises:
        ConfigError: the file is missing, not YAML, or names several nodes and none was chosen.
    """
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError) as err:
        msg = f'cannot read parameters file {str(file)!r}: {err}'
        raise ConfigError(msg) from err
    if not isinstance(data, dict):
        msg = f'parameters file {str(file)!r} has no "<node>: ros__parameters:" mapping'
        raise ConfigError(msg)
    sections = {
        str(key): body['ros__parameters']
        for key, body in data.items()
        if isinstance(body, dict) and isinstance(body.get('ros__parameters'), dict)
    }
    if not sections:
        msg = f'parameters file {str(file)!r} has no "<node>: ros__parameters:" mapping'
        raise ConfigError(msg)
    named = [k for k in sections if k != '/**']
    if node_name is None and len(named) > 1:
        msg = f'parameters file {str(file)!r} describes nodes {named!r}; choose one by name'
        raise ConfigError(msg)
    merged: dict[str, Any] = {}
    merged.update(_flatten(sections.get('/**', {})))
    wanted = node_name.strip('/').split('/')[-1] if node_name else None
    for key in named:
        if wanted is None or key.strip('/').split('/')[-1] == wanted:
            merged.update(_flatten(sections[key]))
    return merged


def _flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat


def load_pipeline_config(
    params_file: str | os.PathLike[str] | None,
    node_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Load a parameters file (or none: defaults), apply overrides, build the pipeline config."""
    values = load_params_file(params_file, node_name) if params_file else {}
    values.update(overrides or {})
    return pipeline_config_from_params(values)
