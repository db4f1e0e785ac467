"""Demo-detector data shared by training, export and evaluation (numpy and OpenCV only).

Held-out and training scenes, the letterbox the package uses, the export's decoding, NMS and COCO
scoring live here once, so ``train_demo_detector.py`` and ``export_demo_detector.py`` agree with
each other and with the shipped model without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import sys

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_infer_ros.demo.scene import CLASS_NAMES, generate_scene  # noqa: E402

IMGSZ = 320  # training input size
EXPORT_IMGSZ = 384  # shipped input size, see models/README.md
PAD_VALUE = 114
EVAL_SEED = 20_251_125  # held-out scenes; training uses other seeds
EVAL_SIZE = (640, 480)  # the synthetic camera's default resolution
CONF, IOU = 0.25, 0.45


@dataclass(frozen=True)
class Sample:
    """A model-ready training or evaluation sample.

    Attributes:
        image: (S, S, 3) uint8 RGB, letterboxed.
        boxes: (N, 4) float32 ``x1 y1 x2 y2`` in letterboxed input pixels.
        class_ids: (N,) int64.
    """

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray


def letterbox(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping aspect ratio and pad centred with 114, as the package's preprocessing does.

    Returns:
        RGB (size, size, 3) uint8, the scale factor and the (left, top) padding.
    """
    h, w = bgr.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    left, top = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    resized = bgr if (nw, nh) == (w, h) else cv2.resize(bgr, (nw, nh),
                                                       interpolation=cv2.INTER_LINEAR)
    out[top:top + nh, left:left + nw] = resized[..., ::-1]
    return out, r, (left, top)


def render_sample(seed: list[int], size: int = IMGSZ, camera: tuple[int, int] | None = None
                  ) -> Sample:
    """Render one scene and letterbox it.

    Training (``camera`` None) mixes 640x480 camera frames scaled down with scenes rendered
    directly at the input resolution in several aspect ratios, so the model sees both smooth
    downscaled and crisp pixels.
    """
    rng = np.random.default_rng(seed)
    if camera is None:
        if rng.random() < 0.35:
            camera = EVAL_SIZE
        else:
            aw, ah = [(4, 3), (16, 9), (1, 1), (3, 4), (16, 10)][int(rng.integers(5))]
            k = size / max(aw, ah)
            camera = (max(16, round(aw * k)), max(16, round(ah * k)))
    scene = generate_scene(rng, *camera)
    img, r, (left, top) = letterbox(scene.image, size)
    boxes = scene.boxes * r + np.array([left, top, left, top], np.float32)
    return Sample(img, boxes.astype(np.float32), scene.class_ids.astype(np.int64))


def decode(output: np.ndarray, conf: float = CONF, iou: float = IOU
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YOLOv8-layout output [4 + nc, N] -> NMS'd boxes (x1y1x2y2), scores and class ids."""
    scores_all = output[4:]
    cls = scores_all.argmax(0)
    scores = scores_all[cls, np.arange(scores_all.shape[1])]
    keep = scores >= conf
    cx, cy, w, h = output[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    scores, cls = scores[keep], cls[keep]
    idx = nms(boxes, scores, cls, iou)
    return boxes[idx], scores[idx], cls[idx]


def nms(boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, iou: float) -> np.ndarray:
    """Class-aware greedy NMS; returns kept indices, best first."""
    offset = boxes + (cls.astype(np.float32) * 4096.0)[:, None]  # separate classes spatially
    order = np.argsort(-scores)
    keep = []
    area = (offset[:, 2] - offset[:, 0]) * (offset[:, 3] - offset[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(offset[i, 0], offset[rest, 0])
        yy1 = np.maximum(offset[i, 1], offset[rest, 1])
        xx2 = np.minimum(offset[i, 2], offset[rest, 2])
        yy2 = np.minimum(offset[i, 3], offset[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        ov = inter / (area[i] + area[rest] - inter + 1e-9)
        order = rest[ov <= iou]
    return np.asarray(keep, np.int64)


def coco_map(gts: list[tuple[np.ndarray, np.ndarray]],
             dets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             per_class: dict[str, float] | None = None) -> tuple[float, float]:
    """Score detections with faster-coco-eval; returns (mAP@0.5, mAP@0.5:0.95).

    If ``per_class`` is given it receives each class's AP@0.5.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    images, anns, results = [], [], []
    for img_id, ((gb, gc), (db, ds, dc)) in enumerate(zip(gts, dets, strict=True)):
        images.append({'id': img_id, 'width': 0, 'height': 0})  # unused by bbox scoring
        for b, c in zip(gb, gc, strict=True):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({'id': len(anns) + 1, 'image_id': img_id, 'category_id': int(c),
                         'bbox': [float(b[0]), float(b[1]), w, h], 'area': w * h, 'iscrowd': 0})
        for b, s, c in zip(db, ds, dc, strict=True):
            results.append({'image_id': img_id, 'category_id': int(c), 'score': float(s),
                            'bbox': [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                     float(b[3] - b[1])]})
    cats = [{'id': i, 'name': n} for i, n in enumerate(CLASS_NAMES)]
    gt = COCO({'images': images, 'annotations': anns, 'categories': cats})
    if not results:
        return 0.0, 0.0
    ev = COCOeval_faster(gt, gt.loadRes(results), 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    if per_class is not None:
        prec = ev.eval['precision'][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes, all areas
        for k, name in enumerate(CLASS_NAMES):
            valid = prec[:, k][prec[:, k] > -1]
            per_class[name] = float(valid.mean()) if valid.size else float('nan')
    return float(ev.stats[1]), float(ev.stats[0])


def eval_samples(n: int, seed: int = EVAL_SEED, size: int = IMGSZ) -> list[Sample]:
    """The held-out set: ``n`` 640x480 camera frames from a seed training never uses."""
    return [render_sample([seed, i], size, EVAL_SIZE) for i in range(n)]
