"""IO binding on preallocated buffers gives the same results as a plain ``session.run``."""

from __future__ import annotations

from pathlib import Path

from engine_models import (
    conv_model,
    data_dependent_model,
    make_config,
    save,
    two_input_model,
)
import numpy as np
from onnx import TensorProto, helper
import onnxruntime as ort
import pytest

from edge_infer_ros.engine import create_engine
from edge_infer_ros.engine.warmup import fill_realistic, warm_up
from edge_infer_ros.errors import EngineError


def _reference(model: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model), providers=['CPUExecutionProvider'])
    return session.run(None, feeds)


def test_io_binding_matches_session_run(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx', metadata={'names': "{0: 'person'}"})
    with create_engine(make_config(model, tmp_path, warmup_iterations=3)) as engine:
        assert engine.metadata == {'names': "{0: 'person'}"}
        assert [(t.name, t.shape, t.dtype) for t in engine.inputs] == [
            ('images', (1, 3, 16, 16), np.dtype(np.float32))]
        assert [(t.name, t.shape) for t in engine.outputs] == [('features', (1, 4, 16, 16))]
        rng = np.random.default_rng(1)
        for _ in range(3):
            image = rng.uniform(0.0, 1.0, size=(1, 3, 16, 16)).astype(np.float32)
            engine.input_buffer('images')[...] = image  # the preprocessor writes here
            (features,) = engine.run()
            np.testing.assert_allclose(features, _reference(model, {'images': image})[0],
                                       rtol=1e-5, atol=1e-6)


def test_buffers_are_preallocated_and_reused(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    with create_engine(make_config(model, tmp_path)) as engine:
        buffer = engine.input_buffer()
        assert buffer is engine.input_buffer('images')
        first = engine.run()[0]
        snapshot = first.copy()
        buffer[...] = 0.0
        second = engine.run()[0]
        assert second is first  # same output buffer, overwritten in place
        assert not np.array_equal(second, snapshot)


def test_float16_model_gets_float16_buffers(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'half.onnx', dtype=np.float16)
    with create_engine(make_config(model, tmp_path)) as engine:
        assert engine.inputs[0].dtype == np.float16 and engine.outputs[0].dtype == np.float16
        image = engine.input_buffer()
        assert image.dtype == np.float16
        (features,) = engine.run()
        assert features.dtype == np.float16
        np.testing.assert_allclose(features, _reference(model, {'images': image.copy()})[0],
                                   rtol=1e-2, atol=1e-2)
        assert engine.status.effective_precision == 'fp16'


def test_extra_inputs_fill_their_buffers(tmp_path: Path) -> None:
    model = two_input_model(tmp_path / 'detr.onnx')
    with create_engine(make_config(model, tmp_path, input_shape=(1, 3, 32, 32))) as engine:
        sizes = engine.input_buffer('orig_target_sizes')
        assert sizes.tolist() == [[32, 32]]  # warm-up used the image size, not zeros
        scores, out_sizes = engine.run({'orig_target_sizes': np.array([[480, 640]])})
        assert out_sizes.tolist() == [[480.0, 640.0]]
        np.testing.assert_allclose(scores, engine.input_buffer().mean(axis=(2, 3)), rtol=1e-5)
        with pytest.raises(EngineError, match=r"input 'orig_target_sizes' needs shape \(1, 2\)"):
            engine.run({'orig_target_sizes': np.zeros((2, 2), dtype=np.int64)})
        with pytest.raises(EngineError, match="'sizes' is not an input"):
            engine.run({'sizes': np.zeros((1, 2))})


def test_dynamic_model_output_shape_is_inferred(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'dyn.onnx', ('N', 3, 'H', 'W'))
    config = make_config(model, tmp_path, input_shape=(1, 3, 24, 40))
    with create_engine(config) as engine:
        assert engine.outputs[0].shape == (1, 4, 24, 40)
        image = engine.input_buffer()
        np.testing.assert_allclose(engine.run()[0], _reference(model, {'images': image})[0],
                                   rtol=1e-5, atol=1e-6)


def test_data_dependent_output_is_allocated_per_run(tmp_path: Path) -> None:
    model = data_dependent_model(tmp_path / 'nz.onnx')
    with create_engine(make_config(model, tmp_path)) as engine:
        assert engine.outputs[0].shape == (4, -1)
        image = engine.input_buffer()
        image[...] = -1.0
        image[0, 0, 1, 2] = 1.0
        (positive,) = engine.run()
        assert positive.tolist() == [[0], [0], [1], [2]]


def test_warm_up_report(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    with create_engine(make_config(model, tmp_path, warmup_iterations=4)) as engine:
        report = engine.status.warmup
        assert report is not None and report.iterations == 4
        assert report.first_run_s > 0 and report.steady_mean_s is not None
        assert report.steady_min_s <= report.steady_mean_s <= report.steady_max_s
    with create_engine(make_config(model, tmp_path, warmup_iterations=0)) as engine:
        assert engine.status.warmup is None
    single = warm_up(lambda: None, 1)
    assert single is not None and single.steady_mean_s is None


def test_warm_up_input_is_smooth_image_like() -> None:
    buffers = {'images': np.zeros((1, 3, 64, 64), np.float32),
               'nhwc': np.zeros((1, 32, 32, 3), np.uint8)}
    fill_realistic(buffers)
    image = buffers['images']
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.1
    neighbour = np.abs(np.diff(image, axis=3)).mean()
    assert neighbour < 0.1  # smooth, unlike uniform noise (about 0.33)
    assert buffers['nhwc'].max() > 200 and buffers['nhwc'].min() < 50


def test_closed_engine_refuses_to_run(tmp_path: Path) -> None:
    engine = create_engine(make_config(conv_model(tmp_path / 'm.onnx'), tmp_path))
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match='closed'):
        engine.run()


def test_unreadable_model_is_an_engine_error(tmp_path: Path) -> None:
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'\xff\xff\xff\xff not a protobuf')
    with pytest.raises(EngineError, match='not a valid ONNX model'):
        create_engine(make_config(bad, tmp_path))


def test_undeclared_output_shape_comes_from_ort(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node('Flatten', ['images'], ['flat'])], 'flat',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info('flat', TensorProto.FLOAT, None)])
    model = save(graph, tmp_path / 'flat.onnx', check=False)
    with create_engine(make_config(model, tmp_path)) as engine:
        assert engine.outputs[0].shape == (1, 48)
        first = engine.run()[0]
        assert engine.run()[0] is first  # preallocated, not allocated per run
