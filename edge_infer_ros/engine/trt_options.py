"""TensorRT execution provider options, checked before ONNX Runtime ever sees them.

ONNX Runtime rejects an unknown or malformed TensorRT option by dropping the whole provider and
retrying without any of the options (see NOTES.md). Checking names and values here turns that
silent slowdown into a ConfigError that names the closest real option.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import difflib

from edge_infer_ros.errors import ConfigError

__all__ = [
    'MANAGED_OPTIONS',
    'TRT_OPTION_NAMES',
    'check_trt_options',
    'normalize_extra_options',
]

_BOOL = frozenset({
    'trt_fp16_enable', 'trt_bf16_enable', 'trt_int8_enable',
    'trt_int8_use_native_calibration_table', 'trt_engine_cache_enable', 'trt_timing_cache_enable',
    'trt_force_timing_cache', 'trt_cuda_graph_enable', 'trt_dump_ep_context_model',
    'trt_engine_hw_compatible', 'trt_dla_enable', 'trt_layer_norm_fp32_fallback',
    'trt_detailed_build_log', 'trt_force_sequential_engine_build',
    'trt_context_memory_sharing_enable', 'trt_sparsity_enable',
    'trt_weight_stripped_engine_enable', 'trt_engine_decryption_enable',
    'trt_build_heuristics_enable', 'trt_dump_subgraphs',
})
_INT = frozenset({
    'device_id', 'trt_max_workspace_size', 'trt_builder_optimization_level', 'trt_dla_core',
    'trt_min_subgraph_size', 'trt_max_partition_iterations', 'trt_auxiliary_streams',
    'trt_ep_context_embed_mode',
})
_TEXT = frozenset({
    'trt_int8_calibration_table_name', 'trt_engine_cache_path', 'trt_engine_cache_prefix',
    'trt_timing_cache_path', 'trt_profile_min_shapes', 'trt_profile_opt_shapes',
    'trt_profile_max_shapes', 'trt_ep_context_file_path', 'trt_tactic_sources',
    'trt_extra_plugin_lib_paths', 'trt_op_types_to_exclude', 'trt_onnx_model_folder_path',
    'trt_engine_decryption_lib_path', 'trt_preview_features',
})
#: Every option the TensorRT provider of onnxruntime-gpu 1.17-1.31 accepts from Python
#: (the pointer-valued ``user_compute_stream`` and ``trt_onnx_bytestream*`` left out).
TRT_OPTION_NAMES: frozenset[str] = _BOOL | _INT | _TEXT

#: Options derived from dedicated EngineConfig fields; setting them again in
#: ``trt_extra_options`` would silently contradict those fields.
MANAGED_OPTIONS: dict[str, str] = {
    'device_id': 'device_id',
    'trt_max_workspace_size': 'workspace_bytes',
    'trt_fp16_enable': 'precision',
    'trt_int8_enable': 'precision',
    'trt_int8_calibration_table_name': 'int8_calibration_table',
    'trt_int8_use_native_calibration_table': 'int8_calibration_table',
    'trt_engine_cache_enable': 'engine_cache_path',
    'trt_engine_cache_path': 'engine_cache_path',
    'trt_engine_cache_prefix': 'engine_cache_path',
    'trt_timing_cache_enable': 'timing_cache',
    'trt_timing_cache_path': 'timing_cache',
    'trt_builder_optimization_level': 'builder_optimization_level',
    'trt_cuda_graph_enable': 'cuda_graph',
    'trt_dla_enable': 'dla_core',
    'trt_dla_core': 'dla_core',
    'trt_profile_min_shapes': 'profile_min_shapes',
    'trt_profile_opt_shapes': 'profile_opt_shapes',
    'trt_profile_max_shapes': 'profile_max_shapes',
    'trt_dump_ep_context_model': 'export_ep_context',
    'trt_ep_context_file_path': 'export_ep_context',
}

_TRUE = ('true', '1', 'yes', 'on')
_FALSE = ('false', '0', 'no', 'off')


def _check_name(key: str) -> None:
    if key in TRT_OPTION_NAMES:
        return
    close = difflib.get_close_matches(key, sorted(TRT_OPTION_NAMES), n=1, cutoff=0.5)
    hint = f'; did you mean {close[0]!r}?' if close else ''
    msg = f'unknown TensorRT provider option {key!r}{hint}'
    raise ConfigError(msg)


def _normalize_value(key: str, value: object) -> str:
    text = str(value).strip()
    if key in _BOOL:
        lowered = text.lower()
        if lowered in _TRUE:
            return 'True'
        if lowered in _FALSE:
            return 'False'
        msg = f'TensorRT option {key!r} is {text!r}; use true or false'
        raise ConfigError(msg)
    if key in _INT:
        try:
            number = int(text)
        except ValueError as err:
            msg = f'TensorRT option {key!r} is {text!r}; it must be an integer'
            raise ConfigError(msg) from err
        if number < 0:
            msg = f'TensorRT option {key!r} is {text!r}; it must not be negative'
            raise ConfigError(msg)
        return str(number)
    return text


def normalize_extra_options(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Validate ``trt_extra_options`` (names, values, no duplicates, no managed keys).

    Raises:
        ConfigError: an unknown name (with the closest real one), a malformed value, a key set
            twice, or a key that a dedicated EngineConfig field controls.
    """
    out: dict[str, str] = {}
    for key, value in pairs:
        key = key.strip()
        _check_name(key)
        if key in MANAGED_OPTIONS:
            msg = (
                f'TensorRT option {key!r} is set through the {MANAGED_OPTIONS[key]!r} '
                'parameter; remove it from trt_extra_options'
            )
            raise ConfigError(msg)
        if key in out:
            msg = f'TensorRT option {key!r} appears twice in trt_extra_options'
            raise ConfigError(msg)
        out[key] = _normalize_value(key, value)
    return out


def check_trt_options(options: Mapping[str, object]) -> dict[str, str]:
    """Check every key and value of a complete option dict; return it as ORT's strings.

    This is the last gate before ``InferenceSession``: nothing reaches ORT unchecked.

    Raises:
        ConfigError: an unknown name (with the closest real one) or a malformed value.
    """
    checked = {}
    for key, value in options.items():
        _check_name(key)
        checked[key] = _normalize_value(key, value)
    return checked
