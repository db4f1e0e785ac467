"""Tiny ONNX models for engine tests, written into a test's tmp_path with the onnx helpers.

Every model sets IR version 10 (ORT 1.31 refuses the IR that onnx 1.23 writes by default) and
stays a few kilobytes so a whole test module runs in seconds on two shared cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_infer_ros.config import EngineConfig

__all__ = [
    'conv_model',
    'data_dependent_model',
    'make_config',
    'qdq_model',
    'save',
    'two_input_model',
]

Dims = Sequence[int | str | None]


def save(
    graph: onnx.GraphProto,
    path: Path,
    metadata: Mapping[str, str] | None = None,
    opset: int = 17,
    check: bool = True,
) -> Path:
    """Wrap ``graph`` in a model ORT 1.31 accepts and write it to ``path``.

    ``check=False`` skips the onnx checker, for models exporters write but it rejects (graph
    outputs without a declared shape).
    """
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', opset)], producer_name='edge_infer_ros-test'
    )
    model.ir_version = 10
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if check:
        onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def conv_model(
    path: Path,
    dims: Dims = (1, 3, 16, 16),
    *,
    seed: int = 0,
    dtype: type = np.float32,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Images -> Conv(3->4, 3x3, pad 1) -> Relu -> ``features`` [N, 4, H, W].

    ``seed`` changes the weights only: same file name and graph, different bytes.
    """
    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 0.5, size=(4, 3, 3, 3)).astype(dtype)
    bias = rng.normal(0.0, 0.1, size=(4,)).astype(dtype)
    out_dims = [dims[0], 4, dims[2], dims[3]]
    graph = helper.make_graph(
        [
            helper.make_node('Conv', ['images', 'w', 'b'], ['conv'], pads=[1, 1, 1, 1]),
            helper.make_node('Relu', ['conv'], ['features']),
        ],
        'conv',
        [helper.make_tensor_value_info('images', elem, list(dims))],
        [helper.make_tensor_value_info('features', elem, out_dims)],
        initializer=[numpy_helper.from_array(weight, 'w'), numpy_helper.from_array(bias, 'b')],
    )
    return save(graph, path, metadata)


def two_input_model(path: Path) -> Path:
    """RT-DETR-like: ``images`` [N,3,H,W] and ``orig_target_sizes`` [N,2] int64.

    Outputs ``scores`` = per-channel mean of the image [N,3] and ``sizes`` = float sizes [N,2].
    """
    axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), 'axes')
    graph = helper.make_graph(
        [
            helper.make_node('ReduceMean', ['images', 'axes'], ['scores'], keepdims=0),
            helper.make_node('Cast', ['orig_target_sizes'], ['sizes'], to=TensorProto.FLOAT),
        ],
        'two_inputs',
        [
            helper.make_tensor_value_info('images', TensorProto.FLOAT, ['N', 3, 'H', 'W']),
            helper.make_tensor_value_info('orig_target_sizes', TensorProto.INT64, ['N', 2]),
        ],
        [
            helper.make_tensor_value_info('scores', TensorProto.FLOAT, ['N', 3]),
            helper.make_tensor_value_info('sizes', TensorProto.FLOAT, ['N', 2]),
        ],
        initializer=[axes],
    )
    return save(graph, path, opset=18)  # ReduceMean takes axes as an input from opset 18


def qdq_model(path: Path, dims: Dims = (1, 3, 8, 8)) -> Path:
    """Images -> QuantizeLinear -> DequantizeLinear -> Relu: explicitly quantised."""
    scale = numpy_helper.from_array(np.array(0.02, dtype=np.float32), 'scale')
    zero = numpy_helper.from_array(np.array(0, dtype=np.int8), 'zero')
    graph = helper.make_graph(
        [
            helper.make_node('QuantizeLinear', ['images', 'scale', 'zero'], ['q']),
            helper.make_node('DequantizeLinear', ['q', 'scale', 'zero'], ['dq']),
            helper.make_node('Relu', ['dq'], ['out']),
        ],
        'qdq',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, list(dims))],
        initializer=[scale, zero],
    )
    return save(graph, path)


def data_dependent_model(path: Path, dims: Dims = (1, 3, 4, 4)) -> Path:
    """``positive`` = NonZero(Relu(images)): its length depends on the values."""
    graph = helper.make_graph(
        [
            helper.make_node('Relu', ['images'], ['relu']),
            helper.make_node('NonZero', ['relu'], ['positive']),
        ],
        'nonzero',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info('positive', TensorProto.INT64, [len(dims), 'count'])],
    )
    return save(graph, path)


def make_config(model: Path, cache_root: Path, **overrides: Any) -> EngineConfig:
    """An EngineConfig whose engine cache lives under ``cache_root`` (never in ``$HOME``).

    Defaults to the CPU provider and one warm-up run, so tests stay fast on any machine.
    """
    values: dict[str, Any] = {
        'providers': ('cpu',),
        'warmup_iterations': 1,
        'engine_cache_path': str(cache_root / 'engines'),
    }
    values.update(overrides)
    return EngineConfig(model_path=str(model), **values)
