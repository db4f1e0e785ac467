"""``preprocess_in_model``: the engine takes uint8 pixels and detects what the host path does.

Real photographs (the ones scikit-image bundles in its wheel) go through
``DetectionPipeline.process_message`` as bgr8, rgb8, mono8 and compressed (JPEG, PNG) messages,
once with preprocessing on the host and once inside the wrapped model, for the demo detector and
for models of every supported output layout whose outputs depend on the pixels.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
from decoder_models import constant_model, rtdetr_official_model
from engine_models import conv_model, make_config, save
import numpy as np
import onnx
from onnx import TensorProto, helper
import onnxruntime as ort
import pytest

from edge_infer_ros.config import PreprocessConfig
from edge_infer_ros.engine import cache_key, create_engine, preprocess_on_device
from edge_infer_ros.engine.plan import make_plan
from edge_infer_ros.engine.preprocess_graph import METADATA_KEY
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.imaging.preprocess import Preprocessor
from edge_infer_ros.parameters import pipeline_config_from_params
from edge_infer_ros.pipeline import DetectionPipeline

DEMO = Path(__file__).resolve().parent.parent / 'models' / 'demo_detector.onnx'
INPUT = 320
NAMES = str({i: f'class_{i}' for i in range(80)})
# Three objects in input pixels (x1 y1 x2 y2), their classes and scores.
BOXES = np.array([[40, 60, 140, 200], [180, 100, 300, 180], [20, 230, 90, 300]], np.float32)
CLASSES = np.array([0, 17, 79])
SCORES = np.array([0.6, 0.5, 0.4], np.float32)
BOX_TERM, SCORE_TERM = 1.5, 0.04  # per unit of the pixel signal (see decoder_models)


def _photo(name: str) -> np.ndarray:
    spec = importlib.util.find_spec('skimage')
    assert spec is not None and spec.origin, 'scikit-image (requirements/test.txt) is missing'
    image = cv2.imread(str(Path(spec.origin).parent / 'data' / name), cv2.IMREAD_COLOR)
    assert image is not None, name
    return image


@pytest.fixture(scope='module')
def photos() -> dict[str, np.ndarray]:
    """BGR photographs of different sizes and aspect ratios, one at 1080p."""
    found = {name: _photo(name) for name in (
        'astronaut.png', 'coffee.png', 'chelsea.png', 'motorcycle_left.png')}
    found['coffee-1080p'] = cv2.resize(found['coffee.png'], (1920, 1080),
                                       interpolation=cv2.INTER_CUBIC)
    return found


def _messages(bgr: np.ndarray) -> dict[str, tuple[Any, bool]]:
    """The photo as sensor_msgs/Image (bgr8, rgb8, mono8) and CompressedImage (jpeg, png)."""
    h, w = bgr.shape[:2]

    def raw(encoding: str, pixels: np.ndarray) -> SimpleNamespace:
        step = pixels.strides[0]
        return SimpleNamespace(encoding=encoding, height=h, width=w, step=step, is_bigendian=0,
                               data=pixels.tobytes())

    def packed(fmt: str, ext: str) -> SimpleNamespace:
        ok, data = cv2.imencode(ext, bgr)
        assert ok
        return SimpleNamespace(format=fmt, data=data.tobytes())

    return {
        'bgr8': (raw('bgr8', bgr), False),
        'rgb8': (raw('rgb8', np.ascontiguousarray(bgr[..., ::-1])), False),
        'mono8': (raw('mono8', cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)), False),
        'jpeg': (packed('jpeg', '.jpg'), True),
        'png': (packed('png', '.png'), True),
    }


def _pipelines(model: Path, tmp_path: Path, **params: Any) -> dict[str, DetectionPipeline]:
    base = {'model_path': str(model), 'providers': ['cpu'], 'precision': 'fp32',
            'engine_cache_path': str(tmp_path / 'engines'), 'warmup_iterations': 1,
            'confidence_threshold': 0.05, **params}
    return {mode: DetectionPipeline(pipeline_config_from_params(base | {
        'preprocess_in_model': mode}), log=lambda _: None) for mode in ('false', 'true')}


def _assert_same(host: Any, device: Any, what: str) -> None:
    assert len(host) == len(device), what
    np.testing.assert_array_equal(host.class_ids, device.class_ids, err_msg=what)
    np.testing.assert_allclose(device.boxes, host.boxes, atol=1e-3, rtol=0, err_msg=what)
    np.testing.assert_allclose(device.scores, host.scores, atol=1e-5, rtol=0, err_msg=what)


def _compare(pipes: dict[str, DetectionPipeline], photos: dict[str, np.ndarray],
             names: tuple[str, ...] | None = None) -> int:
    """Run every message of every photo through both pipelines; return the detections seen."""
    seen = 0
    try:
        host, device = pipes['false'], pipes['true']
        assert host.preprocessor.layout == 'NCHW' and device.preprocessor.layout == 'NHWC'
        assert device.decoder.name == host.decoder.name
        assert device.labels == host.labels
        for photo in names or tuple(photos):
            for encoding, (msg, compressed) in _messages(photos[photo]).items():
                _, want, _ = host.process_message(msg, compressed)
                _, got, _ = device.process_message(msg, compressed)
                _assert_same(want, got, f'{photo} {encoding}')
                seen += len(want)
    finally:
        for pipe in pipes.values():
            pipe.close()
    return seen


def test_demo_detector_detects_the_same_on_photographs(tmp_path, photos) -> None:
    pipes = _pipelines(DEMO, tmp_path)
    device = pipes['true']
    assert device.engine.inputs[0].dtype == np.uint8
    assert device.preprocessor.buffer.nbytes * 4 == pipes['false'].preprocessor.buffer.nbytes
    assert device.report()['preprocess_in_model'].startswith('in the model')
    assert pipes['false'].report()['preprocess_in_model'].startswith('on the host')
    assert _compare(pipes, photos) > 50  # the photos do produce (low-confidence) detections


# --- every output layout, with outputs that move with the pixels -------------------------------

def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)


def _yolov8(dynamic: bool = False, channels_last: bool = False) -> bytes:
    out = np.full((1, 84, 2100), 0.001, np.float32)
    term = np.zeros_like(out)
    anchors = np.array([7, 700, 1400])
    out[0, :4, anchors] = _xywh(BOXES)
    out[0, 4 + CLASSES, anchors] = SCORES
    term[0, :4, anchors] = BOX_TERM
    term[0, 4 + CLASSES, anchors] = SCORE_TERM
    meta = {'names': NAMES}
    if channels_last:  # [1, 2100, 84]: told from YOLOv5 by the anchor count of the input size
        out, term = out.transpose(0, 2, 1).copy(), term.transpose(0, 2, 1).copy()
    if not dynamic:
        return constant_model({'output0': out}, metadata=meta, image_terms={'output0': term})
    return constant_model(
        {'output0': out}, input_shape=['batch', 3, 'height', 'width'],
        output_shapes={'output0': ['batch', 84, 'anchors']},
        metadata=meta | {'imgsz': f'[{INPUT}, {INPUT}]'}, image_terms={'output0': term})


def _yolov5() -> bytes:
    out = np.zeros((1, 6300, 85), np.float32)
    term = np.zeros_like(out)
    rows = np.array([5, 3000, 6000])
    out[0, rows, :4] = _xywh(BOXES)
    out[0, rows, 4] = SCORES
    out[0, rows, 5 + CLASSES] = 1.0
    term[0, rows, :4] = BOX_TERM
    term[0, rows, 4] = SCORE_TERM
    return constant_model({'output0': out}, metadata={'names': NAMES},
                          image_terms={'output0': term})


def _end2end() -> bytes:
    out = np.zeros((1, 300, 6), np.float32)
    term = np.zeros_like(out)
    out[0, :3, :4], out[0, :3, 4], out[0, :3, 5] = BOXES, SCORES, CLASSES
    term[0, :3, :5] = [BOX_TERM] * 4 + [SCORE_TERM]
    return constant_model({'output0': out}, metadata={'names': NAMES, 'end2end': 'True'},
                          image_terms={'output0': term})


def _rtdetr_ultralytics() -> bytes:
    out = np.zeros((1, 300, 6), np.float32)
    term = np.zeros_like(out)
    out[0, :, :4] = [0.5, 0.5, 0.1, 0.1]
    out[0, :3, :4] = _xywh(BOXES) / INPUT
    out[0, :3, 4], out[0, :3, 5] = SCORES, CLASSES
    term[0, :3, :5] = [BOX_TERM / INPUT] * 4 + [SCORE_TERM]
    meta = {'names': NAMES, 'description': 'Ultralytics rtdetr-l model'}
    return constant_model({'output0': out}, metadata=meta, image_terms={'output0': term})


def _rtdetr_official() -> bytes:
    return rtdetr_official_model(
        (BOXES / INPUT)[None], SCORES[None], CLASSES[None], INPUT,
        score_term=np.full((1, 3), SCORE_TERM, np.float32))


LAYOUTS = {  # builder, expected format, extra parameters
    'yolov8': (_yolov8, 'yolov8', {}),
    'yolov8-dynamic': (lambda: _yolov8(dynamic=True), 'yolov8', {}),
    'yolov8-channels-last': (lambda: _yolov8(channels_last=True), 'yolov8', {}),
    'yolov5': (_yolov5, 'yolov5', {}),
    'end2end': (_end2end, 'end2end', {}),
    'rtdetr_ultralytics': (_rtdetr_ultralytics, 'rtdetr_ultralytics', {}),
    # Dynamic batch, shared by orig_target_sizes [N, 2]: the wrapper fixes both inputs.
    'rtdetr_official': (_rtdetr_official, 'rtdetr_official', {'input_shape': f'{INPUT}x{INPUT}'}),
}


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_every_output_layout_detects_the_same(tmp_path, photos, layout: str) -> None:
    build, fmt, extra = LAYOUTS[layout]
    model = tmp_path / f'{layout}.onnx'
    model.write_bytes(build())
    pipes = _pipelines(model, tmp_path, mean=[0.1, 0.2, 0.3], std=[0.5, 0.6, 0.7], **extra)
    assert pipes['true'].decoder.name == fmt, pipes['true'].decoder_reason
    assert pipes['true'].input_size == (INPUT, INPUT)
    assert _compare(pipes, photos, ('astronaut.png', 'chelsea.png', 'coffee-1080p')) >= 3 * 15


def test_the_comparison_sees_a_channel_swap(tmp_path, photos) -> None:
    """The pixel signal weights the channels, so a wrong channel order would be caught."""
    model = tmp_path / 'yolov8.onnx'
    model.write_bytes(_yolov8())
    pipe = _pipelines(model, tmp_path)['true']
    try:
        right, _ = pipe.process_image(photos['coffee.png'], 'bgr')
        wrong, _ = pipe.process_image(photos['coffee.png'], 'rgb')
    finally:
        pipe.close()
    assert np.abs(right.boxes - wrong.boxes).max() > 0.1


# --- the wrapped graph ---------------------------------------------------------------------------

def test_wrapped_model_keeps_outputs_and_metadata_and_feeds_the_original(tmp_path) -> None:
    model = tmp_path / 'yolov8.onnx'
    model.write_bytes(_yolov8(dynamic=True))
    plan = make_plan(make_config(model, tmp_path, preprocess_in_model='true'))
    wrapped = onnx.load(plan.model_path)
    original = onnx.load(str(model))
    assert Path(plan.model_path).parent == tmp_path / 'engines' / '_preprocess'
    assert [i.name for i in wrapped.graph.input] == ['images_uint8']
    dims = [d.dim_value for d in wrapped.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, INPUT, INPUT, 3]  # the dynamic export is fixed at its imgsz
    assert wrapped.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert [o.name for o in wrapped.graph.output] == [o.name for o in original.graph.output]
    meta = {p.key: p.value for p in wrapped.metadata_props}
    assert {p.key: p.value for p in original.metadata_props}.items() <= meta.items()
    assert json.loads(meta[METADATA_KEY])['channel_order'] == 'bgr'
    # The original nodes are all there, unchanged, reading the tensor 'images' the prefix writes.
    assert [n.op_type for n in wrapped.graph.node][:2] == ['Cast', 'Transpose']
    body = wrapped.graph.node[len(wrapped.graph.node) - len(original.graph.node):]
    assert [n.SerializeToString() for n in body] == [
        n.SerializeToString() for n in original.graph.node]
    assert any(n.output[0] == 'images' for n in wrapped.graph.node)
    onnx.checker.check_model(wrapped)


def test_fp16_model_gets_a_cast_to_its_input_type(tmp_path) -> None:
    model = conv_model(tmp_path / 'half.onnx', (1, 3, 48, 64), dtype=np.float16)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 90, 3), np.uint8)
    outputs = {}
    for mode in ('false', 'true'):
        with create_engine(make_config(model, tmp_path, preprocess_in_model=mode)) as engine:
            layout = 'NHWC' if mode == 'true' else 'NCHW'
            assert engine.status.effective_precision == 'fp16'
            pre = Preprocessor(PreprocessConfig(channel_order='bgr' if mode == 'true' else 'rgb'),
                               48, 64, engine.inputs[0].dtype, out=engine.input_buffer(),
                               layout=layout)
            pre(image, 'bgr')
            outputs[mode] = engine.run()[0].copy()
    wrapped = onnx.load(make_plan(make_config(model, tmp_path, preprocess_in_model='true'))
                        .model_path)
    casts = [n for n in wrapped.graph.node if n.op_type == 'Cast']
    assert [c.attribute[0].i for c in casts] == [TensorProto.FLOAT, TensorProto.FLOAT16]
    assert outputs['true'].dtype == np.float16
    # The host rounds its float32 affine result to float16 through a table, the graph casts it:
    # the same value up to one float16 step.
    np.testing.assert_allclose(outputs['true'].astype(np.float32),
                               outputs['false'].astype(np.float32), rtol=2e-3, atol=2e-3)


# --- what auto chooses, and what true refuses ---------------------------------------------------

def _other_input_model(path: Path, elem: int, dims: list[int]) -> Path:
    graph = helper.make_graph(
        [helper.make_node('Identity', ['images'], ['out'])], 'other',
        [helper.make_tensor_value_info('images', elem, dims)],
        [helper.make_tensor_value_info('out', elem, dims)])
    return save(graph, path)


@pytest.mark.parametrize(('elem', 'dims', 'words'), [
    (TensorProto.FLOAT, [1, 1, 32, 32], "'images' of shape (1, 1, 32, 32) is not NCHW with 3"),
    (TensorProto.UINT8, [1, 32, 32, 3], "'images' is uint8, not a float32/float16 image"),
    (TensorProto.INT64, [1, 16], "'images' is int64, not a float32/float16 image"),
])
def test_true_refuses_inputs_that_are_no_float_image_and_auto_leaves_them(
    tmp_path, elem: int, dims: list[int], words: str,
) -> None:
    model = _other_input_model(tmp_path / 'other.onnx', elem, dims)
    with pytest.raises(ConfigError) as err:
        make_plan(make_config(model, tmp_path, preprocess_in_model='true'))
    assert words in str(err.value)
    assert str(err.value).startswith("preprocess_in_model is 'true' but model ")
    assert "set preprocess_in_model to 'auto' or 'false'" in str(err.value)
    plan = make_plan(make_config(model, tmp_path, preprocess_in_model='auto'), on_gpu=True)
    assert plan.preprocess is None and plan.model_path == str(model)
    assert words in plan.preprocess_reason
    assert not (tmp_path / 'engines').exists()


def test_auto_wraps_for_tensorrt_and_cuda_only(tmp_path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    config = make_config(model, tmp_path, providers=('tensorrt', 'cuda', 'cpu'))
    assert preprocess_on_device(config, on_gpu=True)
    assert not preprocess_on_device(config, on_gpu=False)
    plan = make_plan(config, on_gpu=False)
    assert plan.preprocess is None and 'CPU provider' in plan.preprocess_reason
    assert make_plan(config, on_gpu=True).preprocess is not None
    cpu_only = make_config(model, tmp_path, providers=('cpu',))
    assert not preprocess_on_device(cpu_only)  # the CPU provider is first: no GPU to guess


def test_auto_falls_back_to_host_preprocessing_when_the_gpu_does_not_start(
    tmp_path, monkeypatch,
) -> None:
    """A machine whose GPU libraries load but whose provider then fails (version mismatch)."""
    from edge_infer_ros.engine import gpu

    monkeypatch.setattr(gpu, 'provider_problem', lambda *_: '')  # 'the libraries load'
    model = conv_model(tmp_path / 'm.onnx')
    config = make_config(model, tmp_path, providers=('tensorrt', 'cuda', 'cpu'),
                         fallback_policy='allow')
    assert make_plan(config).preprocess is not None  # the guess: TensorRT will run
    with create_engine(config) as engine:
        assert engine.status.active_providers == ('CPUExecutionProvider',)
        assert engine.preprocess is None and engine.inputs[0].dtype == np.float32
        assert engine.model_path == str(model)
        assert 'CPU provider' in engine.status.preprocess_reason
    with create_engine(make_config(model, tmp_path, providers=('tensorrt', 'cpu'),
                                   fallback_policy='allow', preprocess_in_model='true')) as forced:
        assert forced.preprocess is not None and forced.inputs[0].dtype == np.uint8


def test_auto_says_how_to_preprocess_in_the_model_when_a_gpu_runs_unexpectedly(tmp_path) -> None:
    """The other wrong guess: libraries that did not load for ctypes, yet TensorRT runs."""
    from edge_infer_ros.engine.engine import _check_preprocess_guess
    from edge_infer_ros.engine.session import SessionOutcome

    model = conv_model(tmp_path / 'm.onnx')
    plan = make_plan(make_config(model, tmp_path, providers=('tensorrt', 'cpu')), on_gpu=False)
    providers = ('TensorrtExecutionProvider', 'CPUExecutionProvider')
    session = ort.InferenceSession(str(model), providers=['CPUExecutionProvider'])
    outcome = SessionOutcome(session, providers, providers, (), '', 0.1)  # as TensorRT reports
    warnings: list[str] = []
    checked, same = _check_preprocess_guess(plan, outcome, warnings.append)
    assert same is outcome and checked.preprocess is None  # no second TensorRT build
    assert "TensorrtExecutionProvider runs; set preprocess_in_model to 'true'" in (
        checked.preprocess_reason)
    assert warnings == [f'preprocessing stays on the host ({checked.preprocess_reason})']


# --- engine cache, build_engine, EP context ----------------------------------------------------

def test_cache_key_covers_the_wrapped_graph(tmp_path) -> None:
    model = conv_model(tmp_path / 'm.onnx')

    def key(**kw: Any) -> str:
        return cache_key(make_config(model, tmp_path, providers=('tensorrt',), **kw))

    host = key(preprocess_in_model='false')
    wrapped = key(preprocess_in_model='true')
    assert host != wrapped and wrapped.startswith('m-fp16-')
    assert key(preprocess_in_model='true') == wrapped  # deterministic; the file is reused
    assert len(list((tmp_path / 'engines' / '_preprocess').iterdir())) == 1
    other = PreprocessConfig(mean=(0.5, 0.5, 0.5))
    assert key(preprocess_in_model='true', preprocess=other) != wrapped
    assert key(preprocess_in_model='true', preprocess=PreprocessConfig(channel_order='bgr')) \
        != wrapped
    plan = make_plan(make_config(model, tmp_path, preprocess_in_model='true'))
    assert plan.components['preprocess_in_model']['input'] == 'images_uint8'
    assert plan.shapes.shapes == {'images_uint8': (1, 16, 16, 3)}


def test_build_engine_reports_the_wrapped_model(tmp_path, capsys) -> None:
    from edge_infer_ros.tools.build_engine import main

    model = conv_model(tmp_path / 'm.onnx')
    argv = ['-p', f'model_path:={model}', '-p', f'engine_cache_path:={tmp_path / "engines"}',
            '-p', 'providers:=[tensorrt, cpu]', '--fallback-policy', 'allow']
    assert main([*argv, '-p', 'preprocess_in_model:=true']) == 0
    out = capsys.readouterr().out
    rows = dict(line.split(' : ', 1) for line in out.splitlines() if ' : ' in line)
    rows = {name.strip(): value for name, value in rows.items()}
    assert rows['preprocessing'] == 'in the model (preprocess_in_model true)'
    assert rows['wrapped model'].startswith(str(tmp_path / 'engines' / '_preprocess'))
    assert rows['cache key'] == cache_key(make_config(
        model, tmp_path, providers=('tensorrt', 'cpu'), preprocess_in_model='true'))


def test_a_wrapped_model_file_runs_as_the_model(tmp_path, photos) -> None:
    """What an EP-context model of a wrapped engine looks like: uint8 NHWC in, metadata kept."""
    model = tmp_path / 'yolov8.onnx'
    model.write_bytes(_yolov8())
    norm = PreprocessConfig(mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))
    wrapped = make_plan(make_config(model, tmp_path, preprocess_in_model='true',
                                    preprocess=norm)).model_path
    pipes = _pipelines(model, tmp_path, mean=list(norm.mean), std=list(norm.std))
    pipes['true'].close()
    pipes['true'] = DetectionPipeline(pipeline_config_from_params({
        'model_path': wrapped, 'providers': ['cpu'], 'preprocess_in_model': 'auto',
        'engine_cache_path': str(tmp_path / 'engines'), 'confidence_threshold': 0.05,
        'channel_order': 'rgb'}), log=lambda _: None)
    assert pipes['true'].report()['preprocess_in_model'].startswith('in the model (its input')
    assert _compare(pipes, photos, ('chelsea.png',)) > 0
    with pytest.raises(ConfigError, match="'images_uint8' is uint8, not a float32/float16"):
        make_plan(make_config(Path(wrapped), tmp_path, preprocess_in_model='true'))


def test_ep_context_export_names_a_file_in_the_wrapped_engines_folder(tmp_path) -> None:
    from edge_infer_ros.engine.engine import _trt_options
    from edge_infer_ros.engine.memory import Workspace

    model = conv_model(tmp_path / 'm.onnx')
    config = make_config(model, tmp_path, providers=('tensorrt',), export_ep_context=True,
                         preprocess_in_model='true')
    plan = make_plan(config)
    folder = tmp_path / 'engines' / plan.key
    options = _trt_options(plan, Workspace(1 << 30, 'test'), folder)
    assert options['trt_ep_context_file_path'] == str(folder / f'{plan.key}_ctx.onnx')
    assert 'trt_profile_min_shapes' not in options  # the wrapped model is static
    session = ort.InferenceSession(plan.model_path, providers=['CPUExecutionProvider'])
    assert [(i.name, i.type) for i in session.get_inputs()] == [('images_uint8', 'tensor(uint8)')]


# --- the node --------------------------------------------------------------------------------

def test_node_takes_an_unquoted_yaml_true_and_configures_the_wrapped_engine(tmp_path) -> None:
    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from edge_infer_ros.ros.node import DetectorNode

    params = tmp_path / 'p.yaml'
    params.write_text(
        '/detector:\n  ros__parameters:\n    preprocess_in_model: true\n'
        f'    model_path: {DEMO}\n    providers: [cpu]\n    engine_cache_path: {tmp_path}\n'
        '    warmup_iterations: 1\n')
    context = Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file', str(params)])
    try:
        node = DetectorNode(context=context)
        assert node.get_parameter('preprocess_in_model').value in (True, 'true')
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        report = node._pipeline.report()  # noqa: SLF001 - what /diagnostics publishes
        assert report['preprocess_in_model'] == 'in the model (preprocess_in_model true)'
        assert report['engine_input_bytes'] == str(384 * 384 * 3)
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        refused = node.set_parameters([Parameter('preprocess_in_model', value='sometimes')])
        assert not refused[0].successful and "use one of ['auto', 'true', 'false']" in (
            refused[0].reason)
        assert node.set_parameters([Parameter('preprocess_in_model', value=False)])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node._pipeline.report()['preprocess_in_model'].startswith('on the host')  # noqa: SLF001
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


# --- INT8 calibration ----------------------------------------------------------------------------

def test_calibration_sees_the_wrapped_model_and_keeps_the_original_ranges(
    tmp_path, photos,
) -> None:
    from onnxruntime.quantization.CalTableFlatBuffers import TrtTable

    from edge_infer_ros.eval.calibrate_int8 import calibrate

    folder = tmp_path / 'photos'
    folder.mkdir()
    for name in ('astronaut.png', 'coffee.png', 'chelsea.png'):
        cv2.imwrite(str(folder / name), photos[name])
    model = tmp_path / 'yolov8.onnx'
    model.write_bytes(_yolov8())
    tables = {}
    for mode in ('auto', 'false'):
        config = pipeline_config_from_params({
            'model_path': str(model), 'providers': ['tensorrt', 'cpu'],
            'engine_cache_path': str(tmp_path / 'engines'), 'preprocess_in_model': mode,
            'mean': [0.4, 0.45, 0.5], 'std': [0.25, 0.25, 0.25]})
        done = calibrate(config, [str(folder)], method='minmax', output=str(tmp_path / mode))
        assert done['preprocess_in_model'] is (mode == 'auto')  # auto: as TensorRT will run it
        data = Path(done['table']).read_bytes()
        table = TrtTable.TrtTable.GetRootAsTrtTable(data, 0)
        tables[mode] = {table.Dict(i).Key().decode(): float(table.Dict(i).Value())
                        for i in range(table.DictLength())}
    host, wrapped = tables['false'], tables['auto']
    assert {'images', 'signal_means', 'output0'} <= set(host)
    assert set(host) < set(wrapped)  # plus the ranges of the preprocessing nodes
    assert any(name.startswith('edge_infer_ros_preprocess/') for name in wrapped)
    for name, value in host.items():
        assert wrapped[name] == pytest.approx(value, rel=1e-5), name


def test_models_the_onnx_checker_rejects_are_wrapped_and_failures_explained(tmp_path) -> None:
    # Exporters write graph outputs without a shape; ONNX Runtime runs them, the checker does not.
    graph = helper.make_graph(
        [helper.make_node('Relu', ['images'], ['out'])], 'unshaped',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, None)])
    unshaped = save(graph, tmp_path / 'unshaped.onnx', check=False)
    with create_engine(make_config(unshaped, tmp_path, preprocess_in_model='true')) as engine:
        engine.input_buffer()[...] = 255
        np.testing.assert_allclose(engine.run()[0], 1.0, rtol=1e-6)
    # A tensor already named like the wrapper's input: onnx refuses to merge the graphs.
    graph = helper.make_graph(
        [helper.make_node('Relu', ['images'], ['images_uint8']),
         helper.make_node('Relu', ['images_uint8'], ['out'])], 'clash',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, [1, 3, 8, 8])])
    clash = save(graph, tmp_path / 'clash.onnx')
    with pytest.raises(ConfigError) as err:
        make_plan(make_config(clash, tmp_path, preprocess_in_model='true'))
    assert "preprocess_in_model cannot wrap '" in str(err.value)
    assert "images_uint8); set preprocess_in_model to 'false'" in str(err.value)
    plan = make_plan(make_config(clash, tmp_path, preprocess_in_model='auto'), on_gpu=True)
    assert plan.preprocess is None and plan.model_path == str(clash)
    assert plan.preprocess_reason == (
        'auto: the model cannot be wrapped (Cant merge two graphs with overlapping names. '
        'Found repeated edge names: images_uint8)')


def test_external_weights_are_inlined_into_the_wrapped_model(tmp_path) -> None:
    source = onnx.load(str(conv_model(tmp_path / 'inline.onnx')))
    onnx.save_model(source, str(tmp_path / 'split.onnx'), save_as_external_data=True,
                    all_tensors_to_one_file=True, location='split.data', size_threshold=0)
    assert (tmp_path / 'split.data').stat().st_size > 0
    results = {}
    for name in ('inline', 'split'):
        config = make_config(tmp_path / f'{name}.onnx', tmp_path, preprocess_in_model='true')
        with create_engine(config) as engine:
            assert Path(engine.model_path).parent == tmp_path / 'engines' / '_preprocess'
            engine.input_buffer()[...] = np.arange(16 * 16 * 3).reshape(1, 16, 16, 3) % 256
            results[name] = engine.run()[0].copy()
    np.testing.assert_array_equal(results['split'], results['inline'])
