"""End-to-end cost split of the detection pipeline on a YOLOv8n-class model (not a test).

Runs 1920x1080 bgr8 frames through exactly the node's path (DetectionPipeline.process_message)
with a generated model of YOLOv8n compute, and prints each stage's median and the share of
decode + preprocess + postprocess relative to inference. Use --providers tensorrt,cuda,cpu on a
GPU machine.

    python bench/bench_detector.py [--imgsz 640] [--frames 50] [--providers cpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'tools'))

from edge_infer_ros.parameters import pipeline_config_from_params  # noqa: E402
from edge_infer_ros.pipeline import DetectionPipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--imgsz', type=int, default=640)
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--providers', default='cpu')
    parser.add_argument('--precision', default='fp16')
    args = parser.parse_args()

    from make_bench_model import build
    import onnx

    work = Path(tempfile.mkdtemp(prefix='edge_bench_'))
    model_path = work / f'bench_yolov8n_{args.imgsz}.onnx'
    model, flops, _params = build(args.imgsz, 80, 0)
    onnx.save(model, model_path)
    cfg = pipeline_config_from_params({
        'model_path': str(model_path), 'providers': args.providers.split(','),
        'precision': args.precision, 'engine_cache_path': str(work / 'cache'),
        'warmup_iterations': 5, 'fallback_policy': 'allow',
    })
    pipeline = DetectionPipeline(cfg, log=lambda _m: None)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (1080, 1920, 3), np.uint8)
    msg = SimpleNamespace(encoding='bgr8', height=1080, width=1920, step=1920 * 3,
                          is_bigendian=0, data=frame.tobytes())
    rows = []
    for _ in range(args.frames):
        _image, _dets, t = pipeline.process_message(msg, compressed=False)
        rows.append((t.decode, t.preprocess, t.inference, t.postprocess))
    med = np.median(np.array(rows), axis=0)
    decode, pre, infer, post = (float(v) for v in med)
    print(f'model: YOLOv8n-class, {flops / 1e9:.1f} GFLOPs at {args.imgsz}x{args.imgsz}; '
          f'provider {pipeline.report()["active_provider"]}')
    print(f'{"stage":<14}{"median ms":>10}')
    for name, value in (('decode', decode), ('preprocess', pre), ('inference', infer),
                        ('postprocess', post)):
        print(f'{name:<14}{value:>10.2f}')
    overhead = decode + pre + post
    print(f'decode+pre+post = {overhead:.2f} ms = {100 * overhead / infer:.1f} % of inference '
          f'(goal: under 10 %)')
    pipeline.close()


if __name__ == '__main__':
    main()
