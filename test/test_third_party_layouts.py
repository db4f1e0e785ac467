"""Interfaces of real third-party exports, reproduced by tiny constant ONNX models.

Each case below copies the graph interface (input/output names, ranks, symbolic dims) and the
metadata strings that Ultralytics 8.4.190 wrote when exporting models built from its YAML files
(random weights, ``imgsz=320``; YOLOv8n/YOLO11n/YOLOv10n/YOLO26n/RT-DETR-l/YOLOv8n-seg with
``dynamic``, ``nms=True`` and ``nms=False``). The outputs are constants, so decoding is checked
against known boxes; no exported model or Ultralytics code is part of the tests.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from decoder_models import constant_model, run, session, session_io
import numpy as np
import onnx
import pytest

from edge_infer_ros.config import DecoderConfig, PreprocessConfig
from edge_infer_ros.decoders import select_decoder
from edge_infer_ros.errors import ConfigError, EngineError
from edge_infer_ros.imaging.preprocess import LetterboxTransform, Preprocessor
from edge_infer_ros.parameters import pipeline_config_from_params
from edge_infer_ros.pipeline import DetectionPipeline

INPUT = 320
ORIG_W, ORIG_H = 500, 300
GT_BOXES = np.array([[50, 40, 200, 160], [300, 100, 480, 290], [10, 10, 60, 50]], np.float32)
GT_CLASSES = np.array([0, 79, 17], np.int32)
GT_SCORES = np.array([0.9, 0.8, 0.6], np.float32)
NAMES = {i: f'class_{i}' for i in range(80)} | {0: 'person', 17: 'horse', 79: 'toothbrush'}
STATIC = ['images', [1, 3, INPUT, INPUT]]
DYNAMIC = ['images', ['batch', 3, 'height', 'width']]
PROTO = ('output1', [1, 32, 80, 80])


def _meta(
    description: str, head: str, *, task: str = 'detect', end2end: bool = False,
    nms: bool | None = None, dynamic: bool = False, imgsz: tuple[int, int] = (INPUT, INPUT),
) -> dict[str, str]:
    """Metadata exactly as Ultralytics 8.4 writes it (``str()`` of each Python value)."""
    args = {'data': None, 'batch': 1, 'fraction': 1.0, 'quantize': None, 'nms': nms,
            'dynamic': dynamic, 'simplify': True, 'opset': None}
    return {
        'description': description, 'author': 'Ultralytics', 'date': '2026-11-25T13:00:00+00:00',
        'version': '8.4.190', 'license': 'AGPL-3.0 License (https://ultralytics.com/license)',
        'docs': 'https://docs.ultralytics.com', 'stride': '32', 'task': task, 'head': head,
        'batch': '1', 'imgsz': str(list(imgsz)), 'names': str(NAMES), 'args': str(args),
        'channels': '3', 'end2end': str(end2end),
    }


V8 = 'Ultralytics YOLOv8n model '
V26 = 'Ultralytics YOLO26n model '
V10 = 'Ultralytics YOLOv10n model '
SEG = 'Ultralytics YOLOv8n-seg model '
RTDETR = 'Ultralytics rtdetr-l model '

# name: (input, outputs, metadata, expected format, words the reason must contain)
INTERFACES = {
    'yolov8n': (STATIC, [('output0', [1, 84, 2100])], _meta(V8, 'Detect'), 'yolov8',
                '80 classes, 2100 anchors'),
    'yolov8n-480x640': (['images', [1, 3, 480, 640]], [('output0', [1, 84, 6300])],
                        _meta(V8, 'Detect', imgsz=(480, 640)), 'yolov8', '6300 anchors'),
    'yolov8n-dynamic': (DYNAMIC, [('output0', ['batch', 84, 'anchors'])],
                        _meta(V8, 'Detect', dynamic=True), 'yolov8', 'dynamic anchors'),
    'yolov8n-nms': (STATIC, [('output0', [1, 300, 6])], _meta(V8, 'Detect', nms=True),
                    'end2end', 'end-to-end'),
    'yolov8n-nms-dynamic': (DYNAMIC, [('output0', ['batch', 300, 6])],
                            _meta(V8, 'Detect', nms=True, dynamic=True), 'end2end', 'end-to-end'),
    'yolo26n': (STATIC, [('output0', [1, 84, 2100])], _meta(V26, 'Detect'), 'yolov8',
                'channels-first'),
    'yolo26n-e2e': (STATIC, [('output0', [1, 300, 6])],
                    _meta(V26, 'Detect', end2end=True, nms=False), 'end2end', 'end-to-end'),
    'yolo26n-e2e-dynamic': (DYNAMIC, [('output0', ['batch', 300, 6])],
                            _meta(V26, 'Detect', end2end=True, nms=False, dynamic=True),
                            'end2end', 'end-to-end'),
    'yolov10n': (STATIC, [('output0', [1, 84, 2100])], _meta(V10, 'v10Detect'), 'yolov8',
                 'channels-first'),
    'yolov10n-e2e': (STATIC, [('output0', [1, 300, 6])],
                     _meta(V10, 'v10Detect', end2end=True, nms=False), 'end2end', 'end-to-end'),
    'yolov8n-seg': (STATIC, [('output0', [1, 116, 2100]), PROTO],
                    _meta(SEG, 'Segment', task='segment'), 'yolov8',
                    '80 classes + 32 extra channels'),
    'yolov8n-seg-nms': (STATIC, [('output0', [1, 300, 38]), PROTO],
                        _meta(SEG, 'Segment', task='segment', nms=True), 'end2end',
                        '32 extra values per row ignored'),
    'rtdetr-l': (STATIC, [('output0', [1, 300, 6])], _meta(RTDETR, 'RTDETRDecoder'),
                 'rtdetr_ultralytics', 'cx cy w h score class'),
    'rtdetr-l-dynamic': (DYNAMIC, [('output0', ['batch', 'Concatoutput0_dim_1', 6])],
                         _meta(RTDETR, 'RTDETRDecoder', dynamic=True), 'rtdetr_ultralytics',
                         'cx cy w h score class'),
}


@pytest.mark.parametrize('name', sorted(INTERFACES))
def test_auto_picks_the_format_of_each_real_export(name: str) -> None:
    image, outputs, meta, fmt, words = INTERFACES[name]
    decoder, reason = select_decoder('auto', [tuple(image)], outputs, meta)
    assert decoder.name == fmt, reason
    assert words in reason, reason


def _transform(letterbox: bool = True) -> LetterboxTransform:
    pre = Preprocessor(PreprocessConfig(letterbox=letterbox), INPUT, INPUT)
    return pre.transform_for(ORIG_W, ORIG_H)


def _check(dets, order: np.ndarray | None = None) -> None:
    order = np.argsort(-GT_SCORES) if order is None else order
    np.testing.assert_allclose(dets.boxes, GT_BOXES[order], atol=0.05)
    np.testing.assert_array_equal(dets.class_ids, GT_CLASSES[order])
    np.testing.assert_allclose(dets.scores, GT_SCORES[order], rtol=1e-6)


def _rtdetr_rows(t: LetterboxTransform, rows: int = 300) -> np.ndarray:
    """Ultralytics >= 8.4 RT-DETR: top-k rows of normalised cx cy w h, score, class (float)."""
    out = np.zeros((1, rows, 6), np.float32)
    b = t.boxes_to_input(GT_BOXES)
    out[0, :, :4] = [0.5, 0.5, 0.1, 0.1]
    out[0, :3, 0:2] = (b[:, :2] + b[:, 2:]) / 2 / INPUT
    out[0, :3, 2:4] = (b[:, 2:] - b[:, :2]) / INPUT
    out[0, :3, 4] = GT_SCORES
    out[0, :3, 5] = GT_CLASSES
    out[0, 3:, 4] = 0.02  # Low-scoring queries that still carry a class.
    out[0, 3:, 5] = 48.0
    return out


def _end2end_rows(t: LetterboxTransform, extra: int = 0) -> np.ndarray:
    """Ultralytics ``nms=True``: xyxy input pixels, score, class, then zero padding rows."""
    out = np.zeros((1, 300, 6 + extra), np.float32)
    out[0, :3, :4] = t.boxes_to_input(GT_BOXES)
    out[0, :3, 4] = GT_SCORES
    out[0, :3, 5] = GT_CLASSES
    out[0, :3, 6:] = 7.0  # Mask coefficients: never scores or classes.
    return out


@pytest.mark.parametrize('letterbox', [True, False])
def test_rtdetr_84_rows_of_score_and_class_decode_to_original_pixels(letterbox: bool) -> None:
    t = _transform(letterbox)
    image, outputs, meta, _, _ = INTERFACES['rtdetr-l']
    sess = session(constant_model({'output0': _rtdetr_rows(t)}, metadata=meta))
    assert session_io(sess)[1] == outputs
    decoder, _ = select_decoder('auto', *session_io(sess))
    cfg = DecoderConfig(confidence_threshold=0.25)
    _check(decoder.decode(run(sess), t, cfg))
    only = decoder.decode(run(sess), t, replace(cfg, class_filter=(79,)))
    assert only.class_ids.tolist() == [79]


@pytest.mark.parametrize('scored', [True, False])
def test_rtdetr_two_class_six_channel_outputs_are_told_apart_by_the_data(scored: bool) -> None:
    """A 2-class model's old per-class layout is also 6 wide; the class column decides."""
    t = _transform()
    meta = _meta(RTDETR, 'RTDETRDecoder') | {'names': str({0: 'cat', 1: 'dog'})}
    classes = np.array([0, 1, 1], np.int32)
    if scored:
        out = _rtdetr_rows(t)
        out[0, :3, 5] = classes
        out[0, 3:, 5] = 0.0
    else:  # Ultralytics < 8.4: [B, Q, 4 + nc] sigmoid scores per class.
        out = _rtdetr_rows(t)
        out[0, :, 4:] = 0.01
        out[0, np.arange(3), 4 + classes] = GT_SCORES
    sess = session(constant_model({'output0': out}, metadata=meta))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == 'rtdetr_ultralytics' and 'told apart by the data' in reason
    dets = decoder.decode(run(sess), t, DecoderConfig(confidence_threshold=0.25))
    np.testing.assert_allclose(dets.boxes, GT_BOXES, atol=0.05)
    np.testing.assert_array_equal(dets.class_ids, classes)
    np.testing.assert_allclose(dets.scores, GT_SCORES, rtol=1e-6)


@pytest.mark.parametrize(('name', 'extra'), [('yolov8n-nms', 0), ('yolov8n-seg-nms', 32)])
def test_in_graph_nms_padding_never_becomes_detections(name: str, extra: int) -> None:
    t = _transform()
    _, outputs, meta, _, _ = INTERFACES[name]
    arrays = {'output0': _end2end_rows(t, extra)}
    if len(outputs) > 1:
        arrays['output1'] = np.zeros(PROTO[1], np.float32)
    sess = session(constant_model(arrays, metadata=meta))
    assert session_io(sess)[1] == outputs
    decoder, _ = select_decoder('auto', *session_io(sess))
    _check(decoder.decode(run(sess), t, DecoderConfig(confidence_threshold=0.0)))


def _pipeline(tmp_path: Path, model: bytes, **params: object) -> DetectionPipeline:
    path = tmp_path / 'model.onnx'
    path.write_bytes(model)
    config = pipeline_config_from_params({
        'model_path': str(path), 'providers': ['cpu'], 'precision': 'fp32',
        'engine_cache_path': str(tmp_path / 'cache'), 'warmup_iterations': 1, **params,
    })
    return DetectionPipeline(config, log=lambda _: None)


@pytest.mark.parametrize('name', ['rtdetr-l-dynamic', 'yolov8n-nms-dynamic'])
def test_dynamic_exports_run_through_the_pipeline_at_their_imgsz(tmp_path, name: str) -> None:
    _, outputs, meta, fmt, _ = INTERFACES[name]
    t = _transform()
    array = _rtdetr_rows(t) if fmt == 'rtdetr_ultralytics' else _end2end_rows(t)
    model = constant_model({'output0': array}, input_shape=DYNAMIC[1],
                           output_shapes={'output0': outputs[0][1]}, metadata=meta)
    pipe = _pipeline(tmp_path, model, confidence_threshold=0.0)
    try:
        assert pipe.input_size == (INPUT, INPUT)
        assert pipe.decoder.name == fmt
        assert len(pipe.labels) == 80 and pipe.class_names.source == 'metadata'
        assert pipe.labels[79] == 'toothbrush'
        dets, _ = pipe.process_image(np.zeros((ORIG_H, ORIG_W, 3), np.uint8))
    finally:
        pipe.close()
    top = dets.scores > 0.5
    assert top.sum() == 3
    order = np.argsort(-GT_SCORES)
    np.testing.assert_allclose(dets.boxes[top], GT_BOXES[order], atol=0.05)
    assert (dets.boxes[:, [0, 2]] <= ORIG_W).all() and (dets.boxes[:, [1, 3]] <= ORIG_H).all()
    assert (dets.boxes >= 0).all()


def test_model_newer_than_onnx_runtime_is_refused_with_the_fix(tmp_path) -> None:
    model = onnx.load_from_string(constant_model({'output0': np.zeros((1, 84, 2100), np.float32)}))
    model.ir_version = 99  # onnx >= 1.20 writes 13+ by default; ORT 1.31 reads at most 13.
    with pytest.raises(EngineError) as err:
        _pipeline(tmp_path, model.SerializeToString())
    text = str(err.value)
    assert 'IR version 99' in text and 'm.ir_version = ' in text and 'older onnx' in text


def test_static_batch_above_one_is_refused_with_what_to_do(tmp_path) -> None:
    from engine_models import conv_model

    from edge_infer_ros.parameters import pipeline_config_from_params
    from edge_infer_ros.pipeline import DetectionPipeline

    model = conv_model(tmp_path / 'b2.onnx', (2, 3, 16, 16))
    cfg = pipeline_config_from_params({'model_path': str(model), 'providers': ['cpu'],
                                       'engine_cache_path': str(tmp_path / 'c')})
    with pytest.raises(ConfigError, match='fixed batch of 2.*re-export with batch 1'):
        DetectionPipeline(cfg)
