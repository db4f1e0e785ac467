"""The shipped demo detector: loads on CPU, has the YOLOv8 layout and finds generated objects."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge_infer_ros.demo.scene import CLASS_NAMES, generate_scene

MODEL = Path(__file__).resolve().parent.parent / 'models' / 'demo_detector.onnx'
HELD_OUT_SEED = 424_242  # neither the training seed nor the model card's evaluation seed


@pytest.fixture(scope='module')
def session() -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(MODEL), opts, providers=['CPUExecutionProvider'])


def _imgsz(session: ort.InferenceSession) -> tuple[int, int]:
    h, w = ast.literal_eval(session.get_modelmeta().custom_metadata_map['imgsz'])
    return int(h), int(w)


def _letterbox(bgr: np.ndarray, h: int, w: int) -> tuple[np.ndarray, float, int, int]:
    """Aspect-preserving resize, centred pad of 114, RGB float [1, 3, h, w] in 0..1."""
    r = min(h / bgr.shape[0], w / bgr.shape[1])
    nh, nw = round(bgr.shape[0] * r), round(bgr.shape[1] * r)
    top, left = (h - nh) // 2, (w - nw) // 2
    canvas = np.full((h, w, 3), 114, np.uint8)
    canvas[top:top + nh, left:left + nw] = cv2.resize(bgr, (nw, nh))[..., ::-1]
    return canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255, r, left, top


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of x1y1x2y2 boxes (N, 4) x (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def _decode(out: np.ndarray, conf: float = 0.25, iou: float = 0.45
            ) -> tuple[np.ndarray, np.ndarray]:
    """[4 + nc, N] -> class-aware greedy NMS'd boxes (x1y1x2y2) and class ids."""
    cls = out[4:].argmax(0)
    score = out[4:].max(0)
    keep = score >= conf
    cx, cy, w, h = out[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    cls, score = cls[keep], score[keep]
    kept = []
    for i in np.argsort(-score):
        if all(cls[j] != cls[i] or _iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= iou
               for j in kept):
            kept.append(i)
    return boxes[kept].reshape(-1, 4), cls[kept]


def test_model_file_is_small_and_valid() -> None:
    assert MODEL.stat().st_size < 5_000_000
    model = onnx.load(str(MODEL))
    onnx.checker.check_model(model)
    assert model.ir_version <= 10
    assert max(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')) >= 17


def test_yolov8_layout(session: ort.InferenceSession) -> None:
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    h, w = _imgsz(session)
    assert inp.name == 'images'
    assert inp.shape == [1, 3, h, w]
    assert inp.type == 'tensor(float)'
    assert out.shape[:2] == [1, 4 + len(CLASS_NAMES)]
    y = session.run(None, {'images': np.zeros((1, 3, h, w), np.float32)})[0]
    assert y.shape[:2] == (1, 4 + len(CLASS_NAMES))
    assert np.all((y[0, 4:] >= 0) & (y[0, 4:] <= 1))


def test_metadata_names_match_class_names(session: ort.InferenceSession) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta['names']) == dict(enumerate(CLASS_NAMES))
    assert meta['author'] == 'edge_infer_ros'
    assert int(meta['stride']) > 0
    assert meta['description']


def test_detects_held_out_generated_objects(session: ort.InferenceSession) -> None:
    h, w = _imgsz(session)
    rng = np.random.default_rng(HELD_OUT_SEED)
    n_gt = n_det = n_hit = 0
    for _ in range(24):
        scene = generate_scene(rng, 640, 480)
        x, r, left, top = _letterbox(scene.image, h, w)
        boxes, cls = _decode(session.run(None, {'images': x})[0][0])
        boxes = (boxes - [left, top, left, top]) / r  # back to camera pixels
        n_gt += len(scene.class_ids)
        n_det += len(cls)
        if len(cls) and len(scene.class_ids):
            ious = _iou(scene.boxes, boxes)
            ious[scene.class_ids[:, None] != cls[None, :]] = 0
            taken: set[int] = set()
            for g in range(len(scene.class_ids)):
                for d in np.argsort(-ious[g]):
                    if ious[g, d] < 0.5:
                        break
                    if d not in taken:
                        taken.add(int(d))
                        n_hit += 1
                        break
    assert n_gt >= 40
    recall, precision = n_hit / n_gt, n_hit / max(n_det, 1)
    assert recall >= 0.8, (recall, precision)
    assert precision >= 0.75, (recall, precision)
