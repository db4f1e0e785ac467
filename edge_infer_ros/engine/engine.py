"""``create_engine``: plan, open the session, verify providers, bind buffers, warm up, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
import logging
from pathlib import Path
import re
import shutil
from typing import Any

import numpy as np
from numpy.typing import NDArray
import onnxruntime as ort

from edge_infer_ros.config import EngineConfig
from edge_infer_ros.engine import cache
from edge_infer_ros.engine.memory import Workspace, resolve_workspace
from edge_infer_ros.engine.plan import Plan, make_plan
from edge_infer_ros.engine.preprocess_graph import PreprocessGraph
from edge_infer_ros.engine.session import (
    CPU,
    CUDA,
    GPU_PROVIDERS,
    ORT_PROVIDERS,
    TRT,
    Bindings,
    SessionOutcome,
    open_session,
)
from edge_infer_ros.engine.trt_options import check_trt_options
from edge_infer_ros.engine.warmup import WarmupReport, fill_realistic, warm_up
from edge_infer_ros.errors import ConfigError, EngineError, shown

__all__ = ['Engine', 'EngineStatus', 'LOGGER_NAME', 'TensorSpec', 'cache_key', 'create_engine']

LOGGER_NAME = 'edge_infer_ros.engine'
_LOG = logging.getLogger(LOGGER_NAME)
Log = Callable[[str], None]


@dataclass(frozen=True)
class TensorSpec:
    """A bound tensor: name, shape (-1 where the size depends on the data) and numpy dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class EngineStatus:
    """What was asked for and what actually runs; the node publishes this in diagnostics.

    ``cache_hit`` is None when no TensorRT engine is involved. ``build_seconds`` is the session
    creation time (TensorRT builds or loads its engine there); the first inference is timed in
    ``warmup``.
    """

    requested_providers: tuple[str, ...]
    active_providers: tuple[str, ...]
    fallback: bool
    fallback_reason: str
    precision: str
    effective_precision: str
    cache_key: str
    cache_dir: str
    cache_hit: bool | None
    build_seconds: float
    warmup: WarmupReport | None
    workspace_bytes: int
    workspace_source: str
    int8_mode: str
    ep_context_model: str
    preprocess_in_model: bool = False
    preprocess_reason: str = ''

    @property
    def preprocessing(self) -> str:
        """Where images become the model input, and why: for logs and reports."""
        where = 'in the model' if self.preprocess_in_model else 'on the host'
        return f'{where} ({self.preprocess_reason})' if self.preprocess_reason else where


def cache_key(config: EngineConfig) -> str:
    """The engine cache key of ``config`` on this machine, computed without building.

    Raises:
        ConfigError, CalibrationError, EngineError: as ``create_engine`` would.
    """
    return make_plan(config).key


def _trt_options(plan: Plan, workspace: Workspace, folder: Path) -> dict[str, str]:
    config = plan.config
    options: dict[str, object] = {
        'device_id': config.device_id,
        'trt_max_workspace_size': workspace.bytes,
        'trt_fp16_enable': config.precision in ('fp16', 'int8'),
        'trt_int8_enable': config.precision == 'int8',
        'trt_engine_cache_enable': True,
        'trt_engine_cache_path': str(folder),
        'trt_engine_cache_prefix': re.sub(r'\W', '_', plan.key),  # letters, digits, _ only
        'trt_builder_optimization_level': config.builder_optimization_level,
        'trt_cuda_graph_enable': config.cuda_graph,
    }
    if config.timing_cache:  # shared by all models for one TensorRT version
        timing = plan.cache_root / '_timing' / f'trt-{plan.components["tensorrt"]}'
        timing.mkdir(parents=True, exist_ok=True)
        options |= {'trt_timing_cache_enable': True, 'trt_timing_cache_path': str(timing)}
    if plan.calibration_table is not None:  # the provider reads it from the cache folder
        options |= {
            'trt_int8_calibration_table_name': plan.calibration_table.name,
            'trt_int8_use_native_calibration_table': plan.native_calibration,
        }
    if config.dla_core >= 0:
        options |= {'trt_dla_enable': True, 'trt_dla_core': config.dla_core}
    if plan.shapes.profile_min:
        options |= {
            'trt_profile_min_shapes': plan.shapes.profile_min,
            'trt_profile_opt_shapes': plan.shapes.profile_opt,
            'trt_profile_max_shapes': plan.shapes.profile_max,
        }
    if config.export_ep_context:  # the cache path then must be relative to the context model
        options |= {
            'trt_dump_ep_context_model': True,
            'trt_ep_context_file_path': str(folder / f'{plan.key}_ctx.onnx'),
            'trt_engine_cache_path': '.',
        }
    options |= plan.extra_options
    return check_trt_options(options)


def _session_options(config: EngineConfig) -> Callable[[], ort.SessionOptions]:
    def make() -> ort.SessionOptions:
        options = ort.SessionOptions()
        if config.cpu_threads > 0:
            options.intra_op_num_threads = config.cpu_threads
        # ONNX Runtime's own key; spinning threads finish an operator sooner but burn the cores
        # that the middleware and other processes on a small robot computer need.
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '1' if config.cpu_spin_wait else '0')
        return options

    return make


def _ort_dtype(node: ort.NodeArg) -> np.dtype[Any]:
    match = re.fullmatch(r'tensor\((\w+)\)', node.type)
    name = {'float': 'float32', 'double': 'float64'}.get(match[1], match[1]) if match else ''
    try:
        return np.dtype(name)
    except TypeError as err:
        msg = f'output {node.name!r} has type {node.type!r}, which cannot be bound to numpy'
        raise EngineError(msg) from err


def _concrete(dims: list[Any] | None, symbols: dict[str, int]) -> tuple[int, ...] | None:
    resolved = [symbols.get(d) if isinstance(d, str) else d for d in dims or [None]]
    ints = tuple(d for d in resolved if isinstance(d, int) and d >= 0)
    return ints if dims is not None and len(ints) == len(resolved) else None


def _outputs(
    plan: Plan, session: ort.InferenceSession
) -> list[tuple[str, tuple[int, ...] | None, np.dtype[Any]]]:
    """Name, concrete shape (None: decided by the data) and dtype of each output.

    ORT's session already carries inferred shapes for static inputs; for dynamic models a probe
    session with the bound dims as free-dimension overrides lets ORT infer the rest.
    """
    symbols = plan.shapes.symbols
    nodes = session.get_outputs()
    shapes = [_concrete(node.shape, symbols) for node in nodes]
    if None in shapes and symbols:
        probe = ort.SessionOptions()
        probe.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        for name, value in symbols.items():
            probe.add_free_dimension_override_by_name(name, value)
        try:
            inferred = ort.InferenceSession(plan.model_path, probe, providers=[CPU])
        except Exception:  # noqa: BLE001 - e.g. TensorRT plugin ops: keep ORT-allocated outputs
            inferred = None
        if inferred is not None:
            for index, node in enumerate(inferred.get_outputs()):
                if shapes[index] is None:
                    shapes[index] = _concrete(node.shape, symbols)
    return [(n.name, shape, _ort_dtype(n)) for n, shape in zip(nodes, shapes, strict=True)]


def _effective_precision(plan: Plan, active: tuple[str, ...]) -> str:
    if TRT in active:
        return plan.config.precision
    if plan.model.has_qdq:
        return 'int8 (Q/DQ)'
    image = plan.preprocess.dtype if plan.preprocess else plan.model.inputs[0].dtype_name
    return 'fp16' if image == 'float16' else 'fp32'


class Engine:
    """An ONNX Runtime session with preallocated IO buffers; not thread-safe (one binding).

    Write preprocessed input straight into ``input_buffer()`` (zero copy), then call ``run()``.
    The returned arrays are the engine's own output buffers, overwritten by the next ``run()``:
    copy whatever you keep. ``preprocess`` is the graph the model was wrapped in (its image
    input is then uint8 NHWC), or None; ``model_path`` is the file the session loaded (the
    wrapped copy in that case).
    """

    def __init__(
        self, outcome: SessionOutcome, bindings: Bindings, inputs: list[TensorSpec],
        outputs: list[TensorSpec], status: EngineStatus, model_path: str,
        preprocess: PreprocessGraph | None = None,
    ) -> None:
        self._session: ort.InferenceSession | None = outcome.session
        self._bindings = bindings
        self.inputs = inputs
        self.outputs = outputs
        self.metadata: dict[str, str] = dict(outcome.session.get_modelmeta().custom_metadata_map)
        self.status = status
        self.model_path = model_path
        self.preprocess = preprocess

    def input_buffer(self, name: str | None = None) -> NDArray[Any]:
        """The preallocated buffer of an input (default: the first, the image)."""
        key = self.inputs[0].name if name is None else name
        try:
            return self._bindings.host_inputs[key]
        except KeyError as err:
            names = list(self._bindings.host_inputs)
            msg = f'{key!r} is not an input of the model; inputs are {names!r}'
            raise EngineError(msg) from err

    def run(self, extra_inputs: Mapping[str, NDArray[Any]] | None = None) -> list[NDArray[Any]]:
        """Infer on the input buffers; ``extra_inputs`` are copied into their buffers first.

        Returns:
            One array per model output, views of preallocated buffers (valid until next run).

        Raises:
            EngineError: the engine is closed, an extra input does not fit, or ORT failed.
        """
        if self._session is None:
            raise EngineError('the engine is closed; create a new one')
        for name, value in (extra_inputs or {}).items():
            target = self.input_buffer(name)
            try:
                np.copyto(target, value, casting='same_kind')
            except (ValueError, TypeError) as err:
                msg = (
                    f'input {name!r} needs shape {target.shape!r} and dtype {target.dtype}, got '
                    f'{np.shape(value)!r} {getattr(value, "dtype", type(value).__name__)}'
                )
                raise EngineError(msg) from err
        try:
            return self._bindings.run()
        except Exception as err:  # noqa: BLE001 - ORT raises its own pybind exception types
            msg = f'inference failed on {list(self.status.active_providers)!r}: {err}'
            raise EngineError(msg) from err

    def close(self) -> None:
        """Release the session and device buffers; idempotent."""
        if self._session is not None:
            self._bindings.release()
            self._session = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fallback_message(outcome: SessionOutcome) -> str:
    """The fallback in one line: what runs instead of what was asked, why, what to do."""
    return (f'PROVIDER FALLBACK: running on {outcome.active[0]}, not on '
            f'{", ".join(outcome.missing)} as requested. Cause: {outcome.reason}. Fix that, or '
            'list only the providers that run here in the providers parameter (e.g. [cpu]) '
            'to run there on purpose; fallback_policy: error makes a fallback fail configure.')


def _warn(log: Log | None, message: str) -> None:
    if log is not None:
        log(message)
    else:
        _LOG.warning(message)


def create_engine(
    config: EngineConfig, log: Log | None = None, *, debug: Log | None = None,
) -> Engine:
    """Create, verify, bind and warm up an engine as ``config`` says.

    ``log`` receives the warnings that must be seen (provider fallback, untrusted cache);
    without it they go to the ``edge_infer_ros.engine`` logger, which also gets info messages.
    ``debug``, when given, receives ONNX Runtime's own error texts, and ONNX Runtime may print
    its own warnings (otherwise it is kept quiet: see ``engine.session``).

    Raises:
        ConfigError: an invalid parameter, TensorRT option or shape (before ORT runs).
        CalibrationError: int8 without a usable calibration table or Q/DQ nodes.
        ProviderFallbackError: a requested provider is missing and fallback_policy is error.
        EngineError: the model cannot be loaded or run.
    """
    plan = make_plan(config)
    folder = plan.cache_root / plan.key
    if not plan.wants_tensorrt:
        return _build(plan, None, Workspace(0, 'not used'), log, debug)
    _make_cache_folder(folder, config)
    with cache.folder_lock(folder, on_wait=_LOG.info):
        state = cache.prepare_cache_dir(plan.cache_root, plan.key)
        if state.manifest is None and state.reason != 'no manifest':
            _warn(log, f'engine cache {str(folder)!r} not trusted ({state.reason}); rebuilding')
        if plan.calibration_table is not None:
            target = folder / plan.calibration_table.name
            if not target.exists() or target.read_bytes() != plan.calibration_table.read_bytes():
                shutil.copyfile(plan.calibration_table, target)
        workspace = resolve_workspace(config.workspace_bytes, config.device_id)
        return _build(plan, state, workspace, log, debug)


def _check_preprocess_guess(
    plan: Plan, outcome: SessionOutcome, log: Log | None,
) -> tuple[Plan, SessionOutcome]:
    """Correct ``preprocess_in_model: auto`` where its guess of the provider proved wrong.

    The guess (do the GPU libraries load, is a GPU there) is made before the session exists.
    Wrapped but on the CPU after all: reopen unwrapped, the host is faster there. Unwrapped but
    on a GPU: rebuilding would cost a second TensorRT build, so say how to get the faster path.
    """
    config = plan.config
    on_gpu = outcome.active[0] in GPU_PROVIDERS
    if config.preprocess_in_model != 'auto' or plan.assumed_gpu == on_gpu:
        return plan, outcome
    if plan.assumed_gpu:  # and the CPU runs
        if plan.preprocess is None:  # not wrapped anyway (not an image input, or onnx failed)
            return plan, outcome
        plan = make_plan(config, on_gpu=False)
        session = ort.InferenceSession(plan.model_path, _session_options(config)(),
                                       providers=[CPU])
        return plan, replace(outcome, session=session)
    if make_plan(config, on_gpu=True, wrap=False).preprocess is not None:
        why = (f'auto: the GPU provider libraries did not load before the session, yet '
               f"{outcome.active[0]} runs; set preprocess_in_model to 'true' to preprocess in "
               'the model')
        _warn(log, f'preprocessing stays on the host ({why})')
        plan = replace(plan, preprocess_reason=why)
    return plan, outcome


def _make_cache_folder(folder: Path, config: EngineConfig) -> None:
    """Create the engine folder, or say which parameter to fix (not a bare ``OSError``).

    The folder's engine files are deleted when no manifest vouches for them, so an input (the
    model) kept inside it is refused rather than put at risk.
    """
    if folder.resolve() in Path(config.model_path).resolve().parents:
        msg = (f'model_path {config.model_path!r} lies in the engine folder {str(folder)!r}, '
               'whose untrusted files are deleted; move the model out of engine_cache_path')
        raise ConfigError(msg)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = (f'parameter engine_cache_path is {shown(config.engine_cache_path)}, where the '
               f'engine folder {str(folder)!r} cannot be created ({err.strerror or err}); point '
               'it at a writable folder')
        raise ConfigError(msg) from err


def _build(
    plan: Plan, state: cache.CacheState | None, workspace: Workspace, log: Log | None,
    debug: Log | None,
) -> Engine:
    config = plan.config
    folder = plan.cache_root / plan.key
    providers: list[tuple[str, dict[str, str]]] = []
    for name in config.providers:
        if name == 'tensorrt':
            providers.append((TRT, _trt_options(plan, workspace, folder)))
        elif name == 'cuda':
            providers.append((CUDA, {'device_id': str(config.device_id)}))
        else:
            providers.append((CPU, {}))
    wanted = [ORT_PROVIDERS[p] for p in config.providers]
    _LOG.info(f'creating session for {plan.model_path!r} with {wanted} (cache key {plan.key}); '
              f'preprocessing in the model: {plan.preprocess_reason}')
    outcome = open_session(plan.model_path, providers, _session_options(config),
                           config.fallback_policy, config.device_id, ort_verbose=debug is not None)
    if debug is not None:
        for name, text in outcome.ort_errors.items():
            debug(f'ONNX Runtime could not start {name}: {text}')
    plan, outcome = _check_preprocess_guess(plan, outcome, log)
    if outcome.missing and config.fallback_policy == 'warn':
        _warn(log, _fallback_message(outcome))
    on_gpu = outcome.active[0] in GPU_PROVIDERS
    dtypes = {i.name: np.dtype(i.dtype_name) for i in plan.model.inputs}
    in_specs = [(n, s, dtypes[n]) for n, s in plan.shapes.shapes.items()]
    out_specs = _outputs(plan, outcome.session)
    try:
        bindings = Bindings(outcome.session, in_specs, out_specs, on_gpu=on_gpu,
                            device_id=config.device_id, cuda_graph=config.cuda_graph and on_gpu)
        fill_realistic(bindings.host_inputs)
        report = warm_up(bindings.run, config.warmup_iterations)
    except Exception as err:  # noqa: BLE001 - ORT raises its own pybind exception types
        msg = f'warm-up inference failed on {list(outcome.active)!r}: {err}'
        raise EngineError(msg) from err
    cache_hit, ep_context = None, ''
    if state is not None and TRT in outcome.active:
        after = cache.snapshot(folder)
        cache_hit = state.hit_after(after)
        ctx = folder / f'{plan.key}_ctx.onnx'
        ep_context = str(ctx) if config.export_ep_context and ctx.exists() else ''
        if after and not cache_hit:  # a fresh build: record what now vouches for the files
            extra = {'model_path': str(Path(config.model_path).resolve()),
                     'session_model_path': str(Path(plan.model_path).resolve()),
                     'build_seconds': outcome.seconds, 'providers': list(outcome.active)}
            record = cache.manifest_record(plan.key, plan.components, folder, extra)
            cache.write_manifest(folder, record)
    status = EngineStatus(
        requested_providers=outcome.requested,
        active_providers=outcome.active,
        fallback=bool(outcome.missing),
        fallback_reason=outcome.reason,
        precision=config.precision,
        effective_precision=_effective_precision(plan, outcome.active),
        cache_key=plan.key,
        cache_dir=str(folder) if state is not None else '',
        cache_hit=cache_hit,
        build_seconds=outcome.seconds,
        warmup=report,
        workspace_bytes=workspace.bytes,
        workspace_source=workspace.source,
        int8_mode=plan.int8_mode,
        ep_context_model=ep_context,
        preprocess_in_model=plan.preprocess is not None,
        preprocess_reason=plan.preprocess_reason,
    )
    inputs = [TensorSpec(n, s, d) for n, s, d in in_specs]
    declared = {node.name: node.shape for node in outcome.session.get_outputs()}
    outputs = [TensorSpec(n, s if s is not None else _dynamic_shape(declared[n]), d)
               for n, s, d in out_specs]
    verdict = {None: 'unused', True: 'hit', False: 'miss'}[cache_hit]
    _LOG.info(f'engine ready on {list(outcome.active)}: cache {verdict}, '
              f'session created in {outcome.seconds:.2f} s')
    return Engine(outcome, bindings, inputs, outputs, status, plan.model_path, plan.preprocess)


def _dynamic_shape(dims: list[Any] | None) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims or [None])
