"""The ONNX wire-format reader agrees with the onnx package on what the engine needs."""

from __future__ import annotations

from pathlib import Path

from engine_models import conv_model, qdq_model, save, two_input_model
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import pytest

from edge_infer_ros.engine.model import parse_model, read_model_info
from edge_infer_ros.errors import EngineError


def _onnx_view(path: Path) -> tuple[list[tuple[str, int, list[object]]], set[str]]:
    model = onnx.load(str(path))
    initialisers = {t.name for t in model.graph.initializer}
    inputs = [
        (v.name, v.type.tensor_type.elem_type,
         [d.dim_value if d.HasField('dim_value') else (d.dim_param or None)
          for d in v.type.tensor_type.shape.dim])
        for v in model.graph.input if v.name not in initialisers
    ]
    return inputs, {n.op_type for n in model.graph.node}


@pytest.mark.parametrize('build', [
    lambda p: conv_model(p, ('batch', 3, None, 640)),
    lambda p: conv_model(p, dtype=np.float16),
    two_input_model,
    qdq_model,
])
def test_reader_matches_onnx(tmp_path: Path, build: object) -> None:
    path = build(tmp_path / 'm.onnx')  # type: ignore[operator]
    info, sha = read_model_info(path)
    inputs, ops = _onnx_view(path)
    assert [(i.name, i.elem_type, list(i.dims or ())) for i in info.inputs] == inputs
    assert info.op_types == ops and info.has_qdq == ('QuantizeLinear' in ops)
    assert len(sha) == 64


def test_initialisers_listed_as_inputs_are_not_inputs(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.ones((2,), np.float32), 'bias')
    graph = helper.make_graph(
        [helper.make_node('Add', ['x', 'bias'], ['y'])], 'old_ir',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info('bias', TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2])], initializer=[weight])
    info, _ = read_model_info(save(graph, tmp_path / 'old.onnx'))
    assert [i.name for i in info.inputs] == ['x']


def test_ops_inside_subgraphs_are_seen(tmp_path: Path) -> None:
    branch = helper.make_graph(
        [helper.make_node('DequantizeLinear', ['q', 's'], ['d'])], 'branch', [],
        [helper.make_tensor_value_info('d', TensorProto.FLOAT, [1])])
    other = helper.make_graph(
        [helper.make_node('Identity', ['f'], ['d2'])], 'other', [],
        [helper.make_tensor_value_info('d2', TensorProto.FLOAT, [1])])
    graph = helper.make_graph(
        [helper.make_node('If', ['c'], ['out'], then_branch=branch, else_branch=other)], 'g',
        [helper.make_tensor_value_info('c', TensorProto.BOOL, []),
         helper.make_tensor_value_info('q', TensorProto.INT8, [1]),
         helper.make_tensor_value_info('s', TensorProto.FLOAT, []),
         helper.make_tensor_value_info('f', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, [1])])
    info, _ = read_model_info(save(graph, tmp_path / 'if.onnx'))
    assert {'If', 'DequantizeLinear', 'Identity'} <= info.op_types and info.has_qdq


@pytest.mark.parametrize('data', [b'', b'\x0a\xff', b'\x3a\x05abc', b'\x0f\x00'])
def test_malformed_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match='.'):
        parse_model(data)


def test_missing_model_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match='cannot read model file'):
        read_model_info(tmp_path / 'nope.onnx')
