"""Output decoders and class names, on tiny ONNX models run through the real ONNX Runtime."""

from __future__ import annotations

from dataclasses import replace
import json

from decoder_models import constant_model, rtdetr_official_model, run, session, session_io
import numpy as np
import pytest

from edge_infer_ros.config import OUTPUT_FORMATS, DecoderConfig, PreprocessConfig
from edge_infer_ros.decoders import select_decoder
from edge_infer_ros.decoders.labels import (
    ClassNames,
    class_names_from_metadata,
    resolve_class_names,
)
from edge_infer_ros.errors import ConfigError, DecoderError
from edge_infer_ros.imaging.preprocess import LetterboxTransform, Preprocessor

INPUT = 320
ANCHORS = 40 * 40 + 20 * 20 + 10 * 10  # YOLOv8 cells at 320x320 on strides 8/16/32.
NC = 3
ORIG_W, ORIG_H = 500, 300  # Non-square: letterboxed with 64 px bars top and bottom.
GT_BOXES = np.array(
    [[50, 40, 200, 160], [300, 100, 480, 290], [10, 10, 60, 50]], np.float32
)
GT_CLASSES = np.array([0, 2, 1], np.int32)
GT_SCORES = np.array([0.9, 0.8, 0.6], np.float32)
CFG = DecoderConfig()


def _transform(letterbox: bool = True) -> LetterboxTransform:
    pre = Preprocessor(PreprocessConfig(letterbox=letterbox), INPUT, INPUT)
    return pre.transform_for(ORIG_W, ORIG_H)


def _input_cxcywh(boxes: np.ndarray, transform: LetterboxTransform) -> np.ndarray:
    b = transform.boxes_to_input(boxes)
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape, dtype=np.float32) * 0.1).astype(np.float32)


def _yolov8(t: LetterboxTransform, batch: int = 1, extra: int = 0) -> np.ndarray:
    out = _noise((batch, 4 + NC + extra, ANCHORS))
    out[:, :4] = np.array([160, 160, 20, 20], np.float32)[:, None]
    cxcywh = _input_cxcywh(GT_BOXES, t)
    for i, (box, cls, score) in enumerate(zip(cxcywh, GT_CLASSES, GT_SCORES, strict=True)):
        for dup, (shift, factor) in enumerate(((0.0, 1.0), (2.0, 0.9), (-1.5, 0.8))):
            col = 100 + 300 * i + dup
            out[:, :4, col] = box + shift
            out[:, 4 + cls, col] = score * factor
    return out


def _yolov5(t: LetterboxTransform) -> np.ndarray:
    v8 = _yolov8(t)[0].T  # (anchors, 4 + nc)
    out = _noise((3 * ANCHORS, 5 + NC), 1)
    out[:ANCHORS, :4] = v8[:, :4]
    hit = v8[:, 4:].max(axis=1) > 0.2
    out[:ANCHORS, 4] = np.where(hit, 1.0, out[:ANCHORS, 4])
    out[:ANCHORS, 5:] = v8[:, 4:]
    return out[None]


def _end2end(t: LetterboxTransform) -> np.ndarray:
    out = np.zeros((1, 300, 6), np.float32)
    out[0, :3, :4] = t.boxes_to_input(GT_BOXES)
    out[0, :3, 4] = GT_SCORES
    out[0, :3, 5] = GT_CLASSES
    out[0, 3:, 4] = 0.01
    return out


def _rtdetr_ultralytics(t: LetterboxTransform) -> np.ndarray:
    out = _noise((1, 300, 4 + NC), 2)
    out[0, 10:13, :4] = _input_cxcywh(GT_BOXES, t) / INPUT
    out[0, 10:13, 4:] = 0.0
    out[0, 10 + np.arange(3), 4 + GT_CLASSES] = GT_SCORES
    return out


def _efficient_nms(t: LetterboxTransform) -> dict[str, np.ndarray]:
    boxes = np.zeros((1, 100, 4), np.float32)
    boxes[0, :3] = t.boxes_to_input(GT_BOXES)
    scores = np.zeros((1, 100), np.float32)
    scores[0, :3] = GT_SCORES
    scores[0, 3:6] = 0.99  # Past num_dets: must be ignored.
    classes = np.zeros((1, 100), np.int32)
    classes[0, :3] = GT_CLASSES
    return {
        'num_dets': np.array([[3]], np.int32), 'det_boxes': boxes,
        'det_scores': scores, 'det_classes': classes,
    }


def _torchvision(t: LetterboxTransform) -> dict[str, np.ndarray]:
    return {
        'boxes': t.boxes_to_input(GT_BOXES), 'labels': GT_CLASSES.astype(np.int64),
        'scores': GT_SCORES.copy(),
    }


def _model(fmt: str, t: LetterboxTransform) -> bytes:
    single = {'yolov8': _yolov8, 'yolov5': _yolov5, 'end2end': _end2end,
              'rtdetr_ultralytics': _rtdetr_ultralytics}
    if fmt in single:
        return constant_model({'output0': single[fmt](t)})
    if fmt == 'efficient_nms':
        return constant_model(_efficient_nms(t))
    shapes = {'boxes': ['N', 4], 'labels': ['N'], 'scores': ['N']}
    return constant_model(_torchvision(t), output_shapes=shapes)


def _check_gt(dets, atol: float = 0.05, score_tol: float = 1e-6) -> None:
    order = np.argsort(-GT_SCORES)
    np.testing.assert_allclose(dets.boxes, GT_BOXES[order], atol=atol)
    np.testing.assert_array_equal(dets.class_ids, GT_CLASSES[order])
    np.testing.assert_allclose(dets.scores, GT_SCORES[order], rtol=score_tol)
    assert dets.boxes.dtype == np.float32 and dets.class_ids.dtype == np.int32


FORMATS = ['yolov8', 'yolov5', 'end2end', 'rtdetr_ultralytics', 'efficient_nms', 'torchvision']


@pytest.mark.parametrize('fmt', FORMATS)
def test_auto_selects_and_decodes_to_original_pixels(fmt: str) -> None:
    t = _transform()
    sess = session(_model(fmt, t))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == fmt, reason
    assert reason
    _check_gt(decoder.decode(run(sess), t, CFG))


@pytest.mark.parametrize('fmt', FORMATS)
def test_explicit_format_decodes_the_same(fmt: str) -> None:
    t = _transform()
    sess = session(_model(fmt, t))
    decoder, reason = select_decoder(fmt, *session_io(sess))
    assert 'configured' in reason
    _check_gt(decoder.decode(run(sess), t, CFG))


@pytest.mark.parametrize('letterbox', [False, True])
def test_rtdetr_official_feeds_original_size_and_skips_remapping(letterbox: bool) -> None:
    t = _transform(letterbox)
    k = 300
    norm = np.zeros((1, k, 4), np.float32)
    norm[0, :3] = t.boxes_to_input(GT_BOXES) / INPUT  # What the network predicts.
    scores = np.full((1, k), 0.01, np.float32)
    scores[0, :3] = GT_SCORES
    labels = np.zeros((1, k), np.int64)
    labels[0, :3] = GT_CLASSES
    sess = session(rtdetr_official_model(norm, scores, labels, INPUT))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == 'rtdetr_official', reason
    extra = decoder.extra_inputs(t)
    assert set(extra) == set(decoder.extra_input_names) == {'orig_target_sizes'}
    assert extra['orig_target_sizes'].dtype == np.int64
    if not letterbox:
        assert extra['orig_target_sizes'].tolist() == [[ORIG_W, ORIG_H]]
    _check_gt(decoder.decode(run(sess, extra), t, CFG))
    assert decoder.extra_inputs(t, batch_size=2)['orig_target_sizes'].shape == (2, 2)


def test_nms_suppresses_duplicates_class_aware_or_agnostic() -> None:
    t = _transform()
    out = _yolov8(t)
    # A second class on top of GT box 0: class-aware NMS keeps it, agnostic drops it.
    col = 2000
    out[0, :4, col] = _input_cxcywh(GT_BOXES[:1], t)[0]
    out[0, 4:4 + NC, col] = [0.0, 0.7, 0.0]
    sess = session(constant_model({'output0': out}))
    decoder, _ = select_decoder('yolov8', *session_io(sess))
    aware = decoder.decode(run(sess), t, CFG)
    agnostic = decoder.decode(run(sess), t, replace(CFG, class_agnostic_nms=True))
    assert len(aware) == 4 and len(agnostic) == 3
    assert 1 in aware.class_ids[aware.scores == np.float32(0.7)]
    _check_gt(agnostic)


def test_threshold_class_filter_top_k_and_max_detections() -> None:
    t = _transform()
    sess = session(constant_model({'output0': _yolov8(t)}))
    decoder, _ = select_decoder('auto', *session_io(sess))
    outputs = run(sess)
    assert decoder.decode(outputs, t, replace(CFG, confidence_threshold=0.7)).scores.tolist() == (
        pytest.approx([0.9, 0.8]))
    only = decoder.decode(outputs, t, replace(CFG, class_filter=(1,)))
    assert only.class_ids.tolist() == [1]
    assert len(decoder.decode(outputs, t, replace(CFG, max_detections=2))) == 2
    # Top-1 before NMS leaves only the best duplicate of the best box.
    assert len(decoder.decode(outputs, t, replace(CFG, pre_nms_top_k=1))) == 1
    with pytest.raises(DecoderError, match=r'class_filter \(7,\) is out of range .* 3'):
        decoder.decode(outputs, t, replace(CFG, class_filter=(7,)))


def test_class_filter_is_applied_before_the_best_class() -> None:
    t = _transform()
    out = _yolov8(t)
    out[0, 4 + 1, 100] = 0.95  # Class 1 beats GT class 0 at the first GT box.
    sess = session(constant_model({'output0': out}))
    decoder, _ = select_decoder('yolov8', *session_io(sess))
    dets = decoder.decode(run(sess), t, replace(CFG, class_filter=(0,)))
    assert dets.class_ids.tolist() == [0]
    np.testing.assert_allclose(dets.scores, [0.9])


def test_batch_index_and_float16_outputs() -> None:
    t = _transform()
    out = _yolov8(t, batch=2)
    out[0, 4:] = 0.0  # Image 0 is empty, image 1 has the objects.
    sess = session(constant_model({'output0': out.astype(np.float16)},
                                  input_shape=(2, 3, INPUT, INPUT)))
    decoder, _ = select_decoder('auto', *session_io(sess))
    outputs = run(sess)
    assert outputs[0].dtype == np.float16
    assert len(decoder.decode(outputs, t, CFG, batch_index=0)) == 0
    _check_gt(decoder.decode(outputs, t, CFG, batch_index=1), atol=0.3, score_tol=1e-3)
    with pytest.raises(DecoderError, match='batch_index 2 is out of range'):
        decoder.decode(outputs, t, CFG, batch_index=2)


def test_metadata_class_count_ignores_mask_coefficients() -> None:
    t = _transform()
    out = _yolov8(t, extra=32)
    out[0, 4 + NC:] = 5.0  # Mask coefficients are not scores.
    names = repr({0: 'person', 1: 'car', 2: 'dog'})
    sess = session(constant_model(
        {'output0': out, 'output1': np.zeros((1, 32, 80, 80), np.float32)},
        metadata={'names': names, 'task': 'segment'},
    ))
    decoder, _ = select_decoder('auto', *session_io(sess))
    _check_gt(decoder.decode(run(sess), t, CFG))


def test_metadata_breaks_shape_ties() -> None:
    images = [('images', [1, 3, INPUT, INPUT])]
    rows6 = [('output0', [1, 300, 6])]
    assert select_decoder('auto', images, rows6)[0].name == 'end2end'
    meta = {'description': 'Ultralytics rtdetr-l model trained on coco.yaml'}
    assert select_decoder('auto', images, rows6, meta)[0].name == 'rtdetr_ultralytics'
    meta = {'args': "{'batch': 1, 'nms': True}"}
    assert select_decoder('auto', images, [('output0', [1, 100, 6])], meta)[0].name == 'end2end'


def test_dynamic_and_transposed_shapes() -> None:
    dynamic = [('images', ['batch', 3, 'height', 'width'])]
    assert select_decoder('auto', dynamic, [('output0', ['batch', 84, 'anchors'])])[0].name == (
        'yolov8')
    assert select_decoder('auto', dynamic, [('output0', ['batch', 'n', 85])])[0].name == 'yolov5'
    images = [('images', [1, 3, INPUT, INPUT])]
    decoder, reason = select_decoder('auto', images, [('output0', [1, ANCHORS, 4 + NC])])
    assert decoder.name == 'yolov8' and 'channels-last' in reason
    t = _transform()
    _check_gt(decoder.decode([np.ascontiguousarray(_yolov8(t).transpose(0, 2, 1))], t, CFG))


def test_errors_name_outputs_and_formats() -> None:
    images = [('images', [1, 3, INPUT, INPUT])]
    with pytest.raises(DecoderError,
                       match=r"'out' \[1, 1000\].*yolov8, yolov5, yolox, boxes_scores, rfdetr"):
        select_decoder('auto', images, [('out', [1, 1000])])
    with pytest.raises(ConfigError, match="output_format 'yolov9' is not one of auto"):
        select_decoder('yolov9', images, [('output0', [1, 84, ANCHORS])])
    with pytest.raises(DecoderError, match='efficient_nms needs outputs named'):
        select_decoder('efficient_nms', images, [('output0', [1, 84, ANCHORS])])
    with pytest.raises(DecoderError, match='rtdetr_official needs an orig_target_sizes input'):
        select_decoder('rtdetr_official', images, [('boxes', [1, 9, 4]), ('scores', [1, 9]),
                                                   ('labels', [1, 9])])
    decoder, _ = select_decoder('yolov8', images, [('output0', [1, 84, ANCHORS])])
    with pytest.raises(DecoderError, match='must have 3 dimensions'):
        decoder.decode([np.zeros((84, ANCHORS), np.float32)], _transform(), CFG)
    with pytest.raises(DecoderError, match='fewer than the 5 needed'):
        decoder.decode([np.zeros((1, 4, 9), np.float32)], _transform(), CFG)
    others = {'auto', 'rtdetr_official', 'yolox', 'tf_object_detection', 'boxes_scores', 'rfdetr'}
    assert set(FORMATS) | others == set(OUTPUT_FORMATS)


def test_non_finite_values_never_reach_the_output() -> None:
    t = _transform()
    out = _end2end(t)
    out[0, 0, 0] = np.nan  # Box of the best detection broken.
    out[0, 1, 4] = np.nan  # Score of the second broken.
    out[0, 2, 5] = 1.0000001  # Float class id, rounds to 1.
    decoder, _ = select_decoder('end2end', [], [('output0', out.shape)])
    dets = decoder.decode([out], t, CFG)
    assert dets.class_ids.tolist() == [1]
    np.testing.assert_allclose(dets.boxes, GT_BOXES[2:], atol=0.05)


def test_empty_outputs_give_empty_detections() -> None:
    t = _transform()
    for fmt, outputs in (
        ('yolov8', [np.zeros((1, 84, ANCHORS), np.float32)]),
        ('yolov5', [np.zeros((1, 3 * ANCHORS, 85), np.float32)]),
        ('end2end', [np.zeros((1, 300, 6), np.float32)]),
    ):
        decoder, _ = select_decoder(fmt, [], [('output0', outputs[0].shape)])
        dets = decoder.decode(outputs, t, CFG)
        assert len(dets) == 0 and dets.boxes.shape == (0, 4)


# --- class names --------------------------------------------------------------------------------


def test_class_names_from_files(tmp_path) -> None:
    txt = tmp_path / 'coco.names'
    txt.write_text('person\n\nbicycle\n car \n')
    assert load(txt) == ['person', 'bicycle', 'car']
    yml = tmp_path / 'data.yaml'
    yml.write_text('path: ../datasets\nnames:\n  0: cone\n  2: ball\n')
    assert resolve_class_names(str(yml)).to_list(4) == ['cone', '1', 'ball', '3']
    js = tmp_path / 'labels.json'
    js.write_text(json.dumps(['a', 'b']))
    assert load(js) == ['a', 'b']
    bad = tmp_path / 'bad.json'
    bad.write_text('{"x": "y"}')
    with pytest.raises(ConfigError, match="Class id 'x' in .*bad.json.* is not an integer"):
        resolve_class_names(str(bad))
    with pytest.raises(ConfigError, match='Cannot read labels file'):
        resolve_class_names(str(tmp_path / 'missing.txt'))
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n')
    with pytest.raises(ConfigError, match='holds no class names'):
        resolve_class_names(str(empty))


def load(path) -> list[str]:
    return resolve_class_names(str(path)).to_list()


def test_class_names_from_metadata_are_parsed_safely() -> None:
    meta = {'names': "{0: 'person', 1: 'bicycle'}"}
    names = class_names_from_metadata(meta)
    assert names is not None and names.to_list() == ['person', 'bicycle']
    assert names.name(7) == '7' and names.source == 'metadata'
    assert class_names_from_metadata({'names': '["a", "b"]'}).to_list() == ['a', 'b']
    # Never evaluated: a call is not a literal.
    assert class_names_from_metadata({'names': "__import__('os').getcwd()"}) is None
    assert class_names_from_metadata({}) is None
    assert resolve_class_names('', meta).to_list() == ['person', 'bicycle']
    assert resolve_class_names('', None) == ClassNames()
    assert resolve_class_names('', None).name(3) == '3'


# --- a forced output_format on the wrong head (issue 13, item 4) ------------------------------

COCO_NAMES = {'names': str({i: f'class{i}' for i in range(80)})}


@pytest.mark.parametrize('fmt', ['yolov5', 'end2end', 'rtdetr_ultralytics'])
@pytest.mark.parametrize('image', [[1, 3, 640, 640], ['batch', 3, 'height', 'width']],
                         ids=['static', 'dynamic'])
def test_a_layout_that_does_not_fit_fails_naming_those_that_do(fmt: str, image: list) -> None:
    yolov8 = [('output0', [1, 84, 8400 if image[2] == 640 else 'anchors'])]
    with pytest.raises(DecoderError, match=rf"output_format '{fmt}' does not fit this model: "
                                           r"output 'output0' \[1, 84, .*formats that fit: "
                                           r'yolov8 \(or auto\)'):
        select_decoder(fmt, [('images', image)], yolov8, COCO_NAMES)


@pytest.mark.parametrize(('fmt', 'output'), [
    ('yolov8', [1, 8400, 84]), ('yolov5', [1, 25200, 85]), ('end2end', [1, 300, 6]),
    ('end2end', [1, 300, 38]), ('rtdetr_ultralytics', [1, 300, 84]),
    ('rtdetr_ultralytics', [1, 300, 6]),
])
def test_forced_layouts_that_fit_are_taken(fmt: str, output: list) -> None:
    images = [('images', [1, 3, 640, 640])]
    assert select_decoder(fmt, images, [('output0', output)], COCO_NAMES)[0].name == fmt
    wrong = [f for f in ('yolov8', 'yolov5', 'end2end', 'rtdetr_ultralytics')
             if f != fmt and (fmt, f) not in {('end2end', 'rtdetr_ultralytics'),
                                              ('rtdetr_ultralytics', 'end2end')}]
    for other in wrong:
        with pytest.raises(DecoderError, match=f'formats that fit: .*{fmt}'):
            select_decoder(other, images, [('output0', output)], COCO_NAMES)


def test_impossible_scores_and_classes_are_dropped_and_counted(tmp_path) -> None:
    from edge_infer_ros.parameters import pipeline_config_from_params
    from edge_infer_ros.pipeline import DetectionPipeline

    rows = np.zeros((1, 5, 6), np.float32)
    rows[0, :, :4] = [10, 10, 40, 40]
    rows[0, :, 4:] = [[0.9, 0], [2735.0, 1], [0.8, 9], [0.7, -1], [0.6, 2]]  # 3 names
    names = {'names': "{0: 'a', 1: 'b', 2: 'c'}"}
    (tmp_path / 'm.onnx').write_bytes(
        constant_model({'output0': rows}, input_shape=(1, 3, 64, 64), metadata=names))
    config = pipeline_config_from_params({
        'model_path': str(tmp_path / 'm.onnx'), 'providers': ['cpu'], 'precision': 'fp32',
        'output_format': 'end2end', 'warmup_iterations': 0, 'engine_cache_path': str(tmp_path)})
    warnings: list[str] = []
    pipe = DetectionPipeline(config, log=lambda _: None, warn=warnings.append)
    try:
        dets, _ = pipe.process_image(np.zeros((64, 64, 3), np.uint8))
        assert dets.class_ids.tolist() == [0, 2] and dets.scores.max() <= 1.0
        dets, _ = pipe.process_image(np.zeros((64, 64, 3), np.uint8))
        assert pipe.report()['invalid_detections_dropped'] == '6'
        assert len([w for w in warnings if 'invalid_detections_dropped' in w]) == 1
    finally:
        pipe.close()


# --- YOLOX / YOLOv6: rows over the anchor-free cells with objectness ---------------------------

NAMES3 = {'names': str({i: f'class{i}' for i in range(NC)})}


def _yolox(t: LetterboxTransform, *, raw: bool) -> np.ndarray:
    """``[1, cells, 5 + nc]`` as YOLOX exports it: raw grid regressions, or decoded pixels."""
    strides = np.concatenate([np.full((INPUT // s) ** 2, s) for s in (8, 16, 32)])
    cells = np.concatenate([np.stack(np.mgrid[0:INPUT // s, 0:INPUT // s][::-1], -1).reshape(-1, 2)
                            for s in (8, 16, 32)]).astype(np.float32)
    out = _noise((ANCHORS, 5 + NC), 3)  # objectness below 0.1: background
    out[:, 2:4] -= 0.05  # raw log sizes around 0, some negative
    if not raw:
        out[:, :2] = (cells + 0.5) * strides[:, None]
        out[:, 2:4] = strides[:, None] * 2.0
    for box, cls, score in zip(_input_cxcywh(GT_BOXES, t), GT_CLASSES, GT_SCORES, strict=True):
        level = 1 if box[2] > 64 else 0  # the stride a trained head would use for this size
        s = (8, 16)[level]
        cell = np.floor(box[:2] / s)
        row = (0 if level == 0 else (INPUT // 8) ** 2) + int(cell[1]) * (INPUT // s) + int(cell[0])
        assert strides[row] == s and np.array_equal(cells[row], cell)
        out[row, :4] = np.r_[box[:2] / s - cell, np.log(box[2:] / s)] if raw else box
        out[row, 4] = 1.0
        out[row, 5:] = 0.0
        out[row, 5 + cls] = score
        near = row + 1  # a weaker duplicate in the next cell: NMS removes it
        out[near] = out[row]
        if raw:
            out[near, 0] -= 1.0 - 0.02
        out[near, 5 + cls] = score * 0.9
    return out[None]


@pytest.mark.parametrize('raw', [True, False], ids=['raw_grid', 'decoded'])
def test_yolox_rows_are_recognised_and_their_grid_boxes_decoded(raw: bool) -> None:
    """YOLOX's default export leaves boxes as grid offsets and log sizes.

    Read as YOLOv8 rows (what ``auto`` picked before), objectness became class 0 and every box a
    speck at the image's top-left corner.
    """
    t = _transform()
    sess = session(constant_model({'output': _yolox(t, raw=raw)}, metadata=NAMES3))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == 'yolox', reason
    assert 'objectness' in reason
    _check_gt(decoder.decode(run(sess), t, CFG), atol=0.05, score_tol=1e-5)
    forced, _ = select_decoder('yolox', *session_io(sess))
    _check_gt(forced.decode(run(sess), t, CFG), atol=0.05, score_tol=1e-5)


def test_yolox_layout_is_told_from_yolov8_rows_by_the_class_count() -> None:
    images = [('images', [1, 3, 640, 640])]
    assert select_decoder('auto', images, [('output', [1, 8400, 85])])[0].name == 'yolox'
    assert select_decoder('auto', images, [('output', [1, 8400, 85])],
                          COCO_NAMES)[0].name == 'yolox'
    assert select_decoder('auto', images, [('output', [1, 8400, 84])],
                          COCO_NAMES)[0].name == 'yolov8'
    assert select_decoder('auto', images, [('output', [1, 8400, 84])])[0].name == 'yolov8'
    p6 = [('images', [1, 3, 1280, 1280])]
    assert select_decoder('auto', p6, [('output', [1, 34000, 85])])[0].name == 'yolox'
    with pytest.raises(DecoderError, match=r"output_format 'yolox' does not fit .*25200 rows"):
        select_decoder('yolox', images, [('output', [1, 25200, 85])], COCO_NAMES)
    with pytest.raises(DecoderError, match='formats that fit: .*yolox'):
        select_decoder('yolov5', images, [('output', [1, 8400, 85])], COCO_NAMES)


# --- TensorFlow Object Detection API exports (tf2onnx): NHWC uint8 in, normalised yx boxes out --


def _tf_detection_model(t: LetterboxTransform, k: int = 100) -> bytes:
    """An SSD-style export: ``image_tensor:0`` [N, H, W, 3] uint8 of any size, named outputs."""
    from decoder_models import _finish, _value_info
    from onnx import TensorProto, helper, numpy_helper

    xyxy = t.boxes_to_input(GT_BOXES)
    boxes = np.zeros((1, k, 4), np.float32)
    h, w = t.input_height, t.input_width
    boxes[0, :3] = xyxy[:, [1, 0, 3, 2]] / np.array([h, w, h, w], np.float32)  # ymin xmin ...
    scores = np.zeros((1, k), np.float32)
    scores[0, :3] = GT_SCORES
    scores[0, 3:6] = 0.99  # past num_detections: never read
    classes = np.zeros((1, k), np.float32)
    classes[0, :3] = GT_CLASSES + 1  # label map ids start at 1
    values = {'detection_boxes:0': boxes, 'detection_scores:0': scores,
              'detection_classes:0': classes, 'num_detections:0': np.array([3.0], np.float32)}
    nodes = [helper.make_node('Constant', [], [name], value=numpy_helper.from_array(v, name))
             for name, v in values.items()]
    graph = helper.make_graph(
        nodes, 'ssd', [_value_info('image_tensor:0', ['N', 'H', 'W', 3], TensorProto.UINT8)],
        [_value_info(n, ['N', *v.shape[1:]], TensorProto.FLOAT) for n, v in values.items()])
    return _finish(graph, None)


def test_tensorflow_detection_exports_get_their_yx_normalised_boxes(tmp_path) -> None:
    """Named like EfficientNMS outputs, these were read as pixel boxes: all within 1 px of 0,0."""
    from edge_infer_ros.parameters import pipeline_config_from_params
    from edge_infer_ros.pipeline import DetectionPipeline

    size = 300
    t = Preprocessor(PreprocessConfig(), size, size).transform_for(ORIG_W, ORIG_H)
    (tmp_path / 'ssd.onnx').write_bytes(_tf_detection_model(t))
    config = pipeline_config_from_params({
        'model_path': str(tmp_path / 'ssd.onnx'), 'providers': ['cpu'], 'precision': 'fp32',
        'input_shape': f'{size}x{size}', 'warmup_iterations': 0,
        'engine_cache_path': str(tmp_path)})
    pipe = DetectionPipeline(config, log=lambda _: None)
    try:
        assert pipe.decoder.name == 'tf_object_detection', pipe.decoder_reason
        assert pipe.preprocessor.layout == 'NHWC'
        dets, _ = pipe.process_image(np.zeros((ORIG_H, ORIG_W, 3), np.uint8))
    finally:
        pipe.close()
    order = np.argsort(-GT_SCORES)
    np.testing.assert_allclose(dets.boxes, GT_BOXES[order], atol=0.05)
    np.testing.assert_array_equal(dets.class_ids, GT_CLASSES[order] + 1)
    images = [('image_tensor:0', [1, size, size, 3])]
    outputs = [('detection_boxes:0', [1, 100, 4]), ('detection_scores:0', [1, 100]),
               ('detection_classes:0', [1, 100]), ('num_detections:0', [1])]
    assert select_decoder('auto', [('images', [1, 3, size, size])], outputs)[0].name == (
        'efficient_nms')
    assert select_decoder('auto', images, outputs)[0].name == 'tf_object_detection'


# --- two outputs: boxes [B, N, 4] and scores of the same N (YOLO-NAS, DAMO-YOLO) ----------------


def _boxes_scores(t: LetterboxTransform, *, channels_first: bool) -> dict[str, np.ndarray]:
    v8 = _yolov8(t)[0]  # (4 + nc, anchors): the same candidates, duplicates included
    cx, cy, w, h = v8[:4]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)[None]
    scores = v8[4:][None] if channels_first else v8[4:].T[None].copy()
    return {'bboxes': boxes.astype(np.float32), 'class_scores': scores}


@pytest.mark.parametrize('channels_first', [False, True], ids=['scores_nc_last', 'nc_first'])
def test_split_boxes_and_scores_outputs_are_paired(channels_first: bool) -> None:
    """The old ``auto`` read the scores tensor as a YOLOv8 head: class scores became boxes."""
    t = _transform()
    sess = session(constant_model(_boxes_scores(t, channels_first=channels_first)))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == 'boxes_scores', reason
    _check_gt(decoder.decode(run(sess), t, CFG))
    forced, _ = select_decoder('boxes_scores', *session_io(sess))
    _check_gt(forced.decode(run(sess), t, CFG))


def test_boxes_scores_pairing_needs_matching_candidates() -> None:
    images = [('images', [1, 3, 640, 640])]
    four = [('scores', [1, 8400, 4]), ('boxes', [1, 8400, 4])]  # a 4-class model: names decide
    decoder, _ = select_decoder('auto', images, four)
    assert (decoder.name, decoder.boxes_index, decoder.scores_index) == ('boxes_scores', 1, 0)
    with pytest.raises(DecoderError, match='boxes_scores configured, but it needs two 3-D'):
        select_decoder('boxes_scores', images, [('boxes', [1, 8400, 4]), ('s', [1, 2100, 80])])
    with pytest.raises(DecoderError, match='boxes_scores configured'):
        select_decoder('boxes_scores', images, [('output0', [1, 84, 8400])])


def _rfdetr(t: LetterboxTransform, queries: int = 300, nc: int = 91) -> dict[str, np.ndarray]:
    logits = np.full((1, queries, nc), -6.0, np.float32)  # sigmoid 0.0025: background
    dets = np.tile(np.array([0.5, 0.5, 0.1, 0.1], np.float32), (1, queries, 1))
    for q, (box, cls, score) in enumerate(
            zip(_input_cxcywh(GT_BOXES, t), GT_CLASSES, GT_SCORES, strict=True), start=7):
        dets[0, q] = box / INPUT
        logits[0, q, cls + 1] = np.log(score / (1 - score))
    return {'dets': dets, 'labels': logits}


def test_rfdetr_queries_get_sigmoid_scores_and_normalised_boxes() -> None:
    """Paired by shape as dense boxes/scores, RF-DETR's logits and fractions would be garbage."""
    t = _transform()
    sess = session(constant_model(_rfdetr(t)))
    decoder, reason = select_decoder('auto', *session_io(sess))
    assert decoder.name == 'rfdetr', reason
    dets = decoder.decode(run(sess), t, CFG)
    order = np.argsort(-GT_SCORES)
    np.testing.assert_allclose(dets.boxes, GT_BOXES[order], atol=0.05)
    np.testing.assert_array_equal(dets.class_ids, GT_CLASSES[order] + 1)
    np.testing.assert_allclose(dets.scores, GT_SCORES[order], rtol=1e-5)
    images = [('images', [1, 3, 560, 560])]
    detr = [('logits', [1, 300, 92]), ('pred_boxes', [1, 300, 4])]
    with pytest.raises(DecoderError, match='a few hundred queries.*output_format rfdetr'):
        select_decoder('auto', images, detr)
    assert select_decoder('rfdetr', images, detr)[0].name == 'rfdetr'
