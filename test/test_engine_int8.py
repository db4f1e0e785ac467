"""INT8 needs a calibration table unless the model is Q/DQ-quantised; tables reach TensorRT."""

from __future__ import annotations

from pathlib import Path

from engine_models import conv_model, make_config, qdq_model
import pytest

from edge_infer_ros.engine import cache_key, create_engine
from edge_infer_ros.engine.engine import _trt_options
from edge_infer_ros.engine.memory import Workspace
from edge_infer_ros.engine.plan import make_plan
from edge_infer_ros.errors import CalibrationError

FLATBUFFERS = bytes([0x10, 0, 0, 0, 0x0C, 0, 0x14, 0, 0xFF, 0x80, 0x01, 0x02])
NATIVE = b'TRT-8601-EntropyCalibration2\nimages: 3c010a14\nfeatures: 3d8f5c29\n'


def test_int8_without_table_or_qdq_is_a_calibration_error(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    with pytest.raises(CalibrationError, match='precision int8 needs int8_calibration_table'):
        create_engine(make_config(model, tmp_path, precision='int8'))


def test_qdq_model_needs_no_table(tmp_path: Path) -> None:
    model = qdq_model(tmp_path / 'qdq.onnx')
    with create_engine(make_config(model, tmp_path, precision='int8')) as engine:
        assert engine.status.int8_mode == 'qdq'
        assert engine.status.effective_precision == 'int8 (Q/DQ)'
        assert engine.run()[0].min() >= 0.0


def test_qdq_model_with_table_is_rejected(tmp_path: Path) -> None:
    model = qdq_model(tmp_path / 'qdq.onnx')
    table = tmp_path / 'calibration.flatbuffers'
    table.write_bytes(FLATBUFFERS)
    config = make_config(model, tmp_path, precision='int8', int8_calibration_table=str(table))
    with pytest.raises(CalibrationError, match='Q/DQ-quantised .* clear the parameter'):
        create_engine(config)


@pytest.mark.parametrize(('content', 'match'), [
    (None, 'cannot be read'),
    (b'', 'is empty'),
    (b'images 0.0123\nfeatures 0.5\n', 'text without a TensorRT header'),
])
def test_unusable_tables(tmp_path: Path, content: bytes | None, match: str) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    table = tmp_path / 'table.cache'
    if content is not None:
        table.write_bytes(content)
    config = make_config(model, tmp_path, precision='int8', int8_calibration_table=str(table))
    with pytest.raises(CalibrationError, match=match):
        create_engine(config)


@pytest.mark.parametrize(('name', 'content', 'native'), [
    ('calibration.flatbuffers', FLATBUFFERS, 'False'),
    ('calibration.cache', NATIVE, 'True'),
])
def test_table_reaches_tensorrt_from_the_key_folder(tmp_path: Path, name: str, content: bytes,
                                                    native: str) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    table = tmp_path / 'tables' / name
    table.parent.mkdir()
    table.write_bytes(content)
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'), precision='int8',
                         int8_calibration_table=str(table), fallback_policy='allow')
    plan = make_plan(config)
    folder = tmp_path / 'engines' / plan.key
    options = _trt_options(plan, Workspace(1 << 30, 'test'), folder)
    assert options['trt_int8_enable'] == 'True'
    assert options['trt_int8_calibration_table_name'] == name  # relative to the cache folder
    assert options['trt_int8_use_native_calibration_table'] == native
    with create_engine(config) as engine:
        assert engine.status.int8_mode == 'table'
    assert (folder / name).read_bytes() == content


def test_table_content_is_part_of_the_key(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    table = tmp_path / 'calibration.flatbuffers'
    table.write_bytes(FLATBUFFERS)
    config = make_config(model, tmp_path, precision='int8', int8_calibration_table=str(table))
    before = cache_key(config)
    table.write_bytes(FLATBUFFERS + b'\x00')
    assert cache_key(config) != before
