"""Everything decided before a session exists: validation, shapes, int8 mode and the cache key.

Kept apart from session creation so ``cache_key`` (and ``build_engine``) can answer without
building, and so every configuration error surfaces before ONNX Runtime runs. With
``preprocess_in_model`` the plan also wraps the model (``preprocess_graph``): the session, the
shapes and the cache key are then those of the wrapped model.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import hashlib
import os
from pathlib import Path
import re
from typing import Any

import onnxruntime as ort

from edge_infer_ros.config import (
    FALLBACK_POLICIES,
    PRECISIONS,
    PREPROCESS_IN_MODEL,
    PROVIDERS,
    EngineConfig,
)
from edge_infer_ros.engine import gpu
from edge_infer_ros.engine.cache import compute_key, model_stem
from edge_infer_ros.engine.model import (
    ELEM_TYPES,
    ModelInfo,
    hash_model,
    parse_model,
    read_model_info,
)
from edge_infer_ros.engine.preprocess_graph import (
    PreprocessGraph,
    WrapError,
    store_wrapped,
    wrap_model,
    wrap_refusal,
)
from edge_infer_ros.engine.session import ORT_PROVIDERS
from edge_infer_ros.engine.shapes import ShapePlan, format_shape, plan_shapes
from edge_infer_ros.engine.trt_options import normalize_extra_options
from edge_infer_ros.errors import CalibrationError, ConfigError, EngineError

__all__ = ['Plan', 'make_plan', 'preprocess_on_device']


@dataclass(frozen=True)
class Plan:
    """A validated configuration bound to one model file and this machine."""

    config: EngineConfig
    model: ModelInfo
    model_sha256: str
    shapes: ShapePlan
    extra_options: dict[str, str]
    int8_mode: str  # '' (not int8), 'table' or 'qdq'
    calibration_table: Path | None
    native_calibration: bool
    components: dict[str, Any]
    key: str
    model_path: str  # what the session loads: the configured model, or its wrapped copy
    preprocess: PreprocessGraph | None = None
    preprocess_reason: str = ''
    assumed_gpu: bool = False  # what preprocess_in_model auto assumed would run

    @property
    def wants_tensorrt(self) -> bool:
        """Whether a TensorRT engine (and so the engine cache) is involved at all."""
        return 'tensorrt' in self.config.providers

    @property
    def cache_root(self) -> Path:
        """The configured engine cache folder, user and variables expanded."""
        return _cache_root(self.config)


def _check_config(config: EngineConfig) -> None:
    if not config.providers:
        raise ConfigError("providers is empty; list at least one of 'tensorrt', 'cuda', 'cpu'")
    for name in config.providers:
        if name not in PROVIDERS:
            msg = f'provider {name!r} is not one of {list(PROVIDERS)!r}'
            raise ConfigError(msg)
    if len(set(config.providers)) != len(config.providers):
        msg = f'providers {list(config.providers)!r} names a provider twice'
        raise ConfigError(msg)
    choices = (
        ('precision', config.precision, PRECISIONS),
        ('fallback_policy', config.fallback_policy, FALLBACK_POLICIES),
        ('preprocess_in_model', config.preprocess_in_model, PREPROCESS_IN_MODEL),
    )
    for field, value, allowed in choices:
        if value not in allowed:
            msg = f'{field} is {value!r}; use one of {list(allowed)!r}'
            raise ConfigError(msg)
    limits = (
        ('builder_optimization_level', config.builder_optimization_level, 0, 5),
        ('device_id', config.device_id, 0, 1 << 16),
        ('dla_core', config.dla_core, -1, 15),
        ('warmup_iterations', config.warmup_iterations, 0, 1 << 20),
        ('cpu_threads', config.cpu_threads, 0, 1 << 12),
    )
    for field, number, low, high in limits:
        if not low <= number <= high:
            msg = f'{field} is {number!r}; it must be within [{low}, {high}]'
            raise ConfigError(msg)
    if not config.model_path:
        raise ConfigError('model_path is empty; set it to an ONNX model file')
    if not Path(config.model_path).is_file():
        msg = f'model_path {config.model_path!r} is not a file'
        raise ConfigError(msg)


def _calibration(config: EngineConfig, model: ModelInfo) -> tuple[str, Path | None, bool, str]:
    """Int8 mode, table path, whether it is TensorRT's native format, and its sha256."""
    if config.precision != 'int8':
        return '', None, False, ''
    table = config.int8_calibration_table
    if model.has_qdq:
        if table:
            msg = (
                f'int8_calibration_table {table!r} is set but the model is Q/DQ-quantised and '
                'carries its own scales; clear the parameter'
            )
            raise CalibrationError(msg)
        return 'qdq', None, False, ''
    if not table:
        msg = (
            f'precision int8 needs int8_calibration_table for {config.model_path!r}, which has '
            'no QuantizeLinear/DequantizeLinear nodes; create one with calibrate_int8 or use '
            'fp16'
        )
        raise CalibrationError(msg)
    path = Path(os.path.expandvars(os.path.expanduser(table)))
    try:
        data = path.read_bytes()
    except OSError as err:
        msg = f'int8_calibration_table {table!r} cannot be read: {err.strerror or err}'
        raise CalibrationError(msg) from err
    if not data:
        msg = f'int8_calibration_table {table!r} is empty'
        raise CalibrationError(msg)
    native = data.startswith(b'TRT-')  # TensorRT's own cache: 'TRT-<version>-<calibrator>'
    if not native and _looks_like_text(data):
        msg = (
            f'int8_calibration_table {table!r} is text without a TensorRT header; use the '
            "'calibration.flatbuffers' file that ONNX Runtime writes, or a native TensorRT cache"
        )
        raise CalibrationError(msg)
    return 'table', path, native, hashlib.sha256(data).hexdigest()


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in '\r\n\t' for ch in text)


def _environment(config: EngineConfig) -> dict[str, str]:
    """Versions and hardware an engine is only valid for (probed only when TensorRT is asked)."""
    env = {'onnxruntime': ort.__version__, 'tensorrt': 'n/a', 'gpu': 'n/a', 'compute': 'n/a'}
    if 'tensorrt' in config.providers:
        env['tensorrt'] = gpu.tensorrt_version()
        info = gpu.gpu_info(config.device_id)
        if info is not None:
            env['gpu'], env['compute'] = info.name, info.compute_capability
    return env


def _image_shape(config: EngineConfig, model: ModelInfo) -> tuple[int, ...]:
    """The configured input shape, else the export size Ultralytics writes into ``imgsz``.

    Dynamic-shape exports (``dynamic=True``) otherwise need ``input_shape`` set by hand; the
    model's own metadata names the size it was exported for, which is the right default.
    """
    if config.input_shape or not model.inputs or not model.inputs[0].is_dynamic:
        return tuple(config.input_shape)
    if config.profile_opt_shapes.strip():
        return ()
    imgsz = dict(model.metadata).get('imgsz', '')
    try:
        dims = [int(v) for v in imgsz.strip('[]() ').replace(',', ' ').split()]
    except ValueError:
        return ()
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) <= 0:
        return ()
    return (1, 3, dims[0], dims[1])


def _ir_version(path: str) -> int | None:
    """The model's ONNX IR version: field 1 of ModelProto, which serialisers write first."""
    try:
        with open(path, 'rb') as handle:
            head = handle.read(16)
    except OSError:
        return None
    if not head or head[0] != 0x08:  # field 1, varint
        return None
    value = shift = 0
    for byte in head[1:]:
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7
    return None


@functools.lru_cache(maxsize=8)
def _ir_refusal(ir_version: int) -> str:
    """ONNX Runtime's words if it refuses every model of ``ir_version``, else ''.

    Probed with a graph-less model of that IR version (ORT checks the version before anything
    else), so the answer costs a millisecond instead of loading the weights.
    """
    varint, value = bytearray(), ir_version
    while True:
        varint.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            break
    probe = b'\x08' + bytes(varint) + b'\x3a\x00\x42\x02\x10\x11'  # empty graph, opset 17
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the probe always fails; keep ORT from logging it
    try:
        ort.InferenceSession(probe, options, providers=['CPUExecutionProvider'])
    except Exception as err:  # noqa: BLE001 - ORT raises its own pybind exception types
        text = str(err)
        if 'Unsupported model IR version' in text:
            return text[text.index('Unsupported model IR version'):].splitlines()[0]
    return ''


def _check_ir_version(path: str) -> None:
    """Refuse, with the fix, a model newer than this ONNX Runtime reads (on any provider).

    ``onnx`` >= 1.20 saves IR version 13+ by default; ORT would otherwise fail per provider and
    the error could read as a TensorRT/CUDA start-up failure.
    """
    version = _ir_version(path)
    if version is None or version <= 3:
        return
    refusal = _ir_refusal(version)
    if not refusal:
        return
    found = re.search(r'max supported IR version: (\d+)', refusal)
    target = min(int(found.group(1)), 10) if found else 10
    msg = (
        f'model {path!r} has ONNX IR version {version}, which ONNX Runtime {ort.__version__} '
        f'cannot load ({refusal}); it was saved by a newer onnx package. Re-export it with an '
        f'older onnx (Ultralytics caps exports at IR 10), upgrade onnxruntime, or lower the '
        f"version in place: python3 -c \"import onnx; m = onnx.load('{path}'); "
        f"m.ir_version = {target}; onnx.save(m, '{path}')\""
    )
    raise EngineError(msg)


def _gpu_expected(config: EngineConfig) -> bool:
    """Whether the session will run on TensorRT or CUDA: the first provider that can start."""
    for name in config.providers:
        if name == 'cpu':
            return False
        if not gpu.provider_problem(ORT_PROVIDERS[name], config.device_id):
            return True
    return False


def _preprocess_graph(
    config: EngineConfig, model: ModelInfo, shapes: ShapePlan, on_gpu: bool,
) -> tuple[PreprocessGraph | None, str]:
    """The preprocessing graph to wrap the model in (or None), and why, for the status.

    ``auto`` wraps on TensorRT/CUDA only: on the CPU provider the host's fused conversion is
    faster than ONNX Runtime running the same nodes (``bench/bench_pipeline.py``).

    Raises:
        ConfigError: ``true`` for a model whose input is not a 3-channel float image.
    """
    mode = config.preprocess_in_model
    if mode == 'false':
        return None, 'preprocess_in_model false'
    refusal = wrap_refusal(model, shapes.shapes)
    if refusal and mode == 'true':
        msg = (f"preprocess_in_model is 'true' but model {config.model_path!r} cannot take it: "
               f"{refusal}; set preprocess_in_model to 'auto' or 'false'")
        raise ConfigError(msg)
    if refusal:
        return None, f'auto: {refusal}'
    if mode == 'auto' and not on_gpu:
        return None, 'auto: the CPU provider runs, where host preprocessing is faster'
    image = model.inputs[0]
    graph = PreprocessGraph(image.name, dict(shapes.shapes), image.dtype_name, config.preprocess)
    why = 'preprocess_in_model true' if mode == 'true' else 'auto: TensorRT/CUDA runs'
    return graph, why


def preprocess_on_device(config: EngineConfig, *, on_gpu: bool | None = None) -> bool:
    """Whether ``config`` runs preprocessing inside the model (``on_gpu``: assume a provider).

    ``calibrate_int8`` asks with ``on_gpu=True``: its table is for the TensorRT engine.

    Raises:
        ConfigError, CalibrationError, EngineError: as ``make_plan`` would.
    """
    return make_plan(config, on_gpu=on_gpu, wrap=False).preprocess is not None


def make_plan(
    config: EngineConfig, *, on_gpu: bool | None = None, wrap: bool = True,
) -> Plan:
    """Validate ``config`` against its model and this machine, and derive the cache key.

    ``on_gpu`` overrides the guess (from the providers that can start here) that decides
    ``preprocess_in_model: auto``; ``wrap=False`` decides without composing the wrapped model
    (the shapes and key then describe the configured model).

    Raises:
        ConfigError: an invalid value, option or shape, with the parameter to change.
        CalibrationError: int8 without a usable table (and without Q/DQ nodes).
        EngineError: the model file is unreadable, not ONNX, or of an ONNX IR version this
            ONNX Runtime cannot load.
    """
    _check_config(config)
    extra = normalize_extra_options(config.trt_extra_options)
    model, sha = read_model_info(config.model_path)
    _check_ir_version(config.model_path)
    if not model.inputs:
        msg = f'model {config.model_path!r} has no inputs to bind'
        raise ConfigError(msg)
    for info in model.inputs:
        if info.elem_type not in ELEM_TYPES:
            msg = f'input {info.name!r} has ONNX element type {info.elem_type!r}, not bindable'
            raise ConfigError(msg)
    profiles = (config.profile_min_shapes, config.profile_opt_shapes, config.profile_max_shapes)
    shapes = plan_shapes(model.inputs, _image_shape(config, model), profiles)
    assumed_gpu = _gpu_expected(config) if on_gpu is None else on_gpu
    graph, why = _preprocess_graph(config, model, shapes, assumed_gpu)
    model_path = config.model_path
    if graph is not None and wrap:
        try:
            data = wrap_model(config.model_path, graph)
        except WrapError as err:
            if config.preprocess_in_model == 'true':
                raise
            graph, why = None, f'auto: the model cannot be wrapped ({err.detail})'
    if graph is not None and wrap:
        folder = _cache_root(config) / '_preprocess'
        model_path = str(store_wrapped(data, folder, model_stem(config.model_path)))
        model, sha = parse_model(data), hash_model(data, folder, ())
        shapes = plan_shapes(model.inputs)  # every input fixed by the wrapper
    int8_mode, table, native, table_sha = _calibration(config, model)
    components: dict[str, Any] = {
        'model_sha256': sha,
        'precision': config.precision,
        'shapes': {name: format_shape(shape) for name, shape in shapes.shapes.items()},
        'profile': [shapes.profile_min, shapes.profile_opt, shapes.profile_max],
        'int8': [int8_mode, table_sha, native],
        'builder_optimization_level': config.builder_optimization_level,
        'dla_core': config.dla_core,
        'extra_options': sorted(extra.items()),
        **_environment(config),
    }
    if graph is not None:  # the hash above already covers it; the manifest says so in words
        components['preprocess_in_model'] = graph.describe()
    key = compute_key(config.model_path, config.precision, components)
    return Plan(config, model, sha, shapes, extra, int8_mode, table, native, components, key,
                model_path, graph, why, assumed_gpu)


def _cache_root(config: EngineConfig) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(config.engine_cache_path)))
