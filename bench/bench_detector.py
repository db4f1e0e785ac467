"""End-to-end cost split of the detection pipeline on a YOLOv8n-class model (not a test).

Runs 1920x1080 bgr8 frames through exactly the node's path (DetectionPipeline.process_message)
with a generated model of YOLOv8n compute, twice side by side: preprocessing on the host (float
NCHW input) and inside the model (``preprocess_in_model: true``, uint8 NHWC input). Frames
alternate between the two pipelines, so a shared machine's load drifts evenly over both; it
prints each stage's median, the ratio of the two paths, and the share of decode + preprocess +
postprocess relative to inference. Use --providers tensorrt,cuda,cpu on a GPU machine.

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

STAGES = ('decode', 'preprocess', 'inference', 'postprocess')


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
    pipelines = {}
    for mode in ('false', 'true'):
        cfg = pipeline_config_from_params({
            'model_path': str(model_path), 'providers': args.providers.split(','),
            'precision': args.precision, 'engine_cache_path': str(work / 'cache'),
            'warmup_iterations': 5, 'fallback_policy': 'allow', 'preprocess_in_model': mode,
        })
        pipelines[mode] = DetectionPipeline(cfg, log=lambda _m: None)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (1080, 1920, 3), np.uint8)
    msg = SimpleNamespace(encoding='bgr8', height=1080, width=1920, step=1920 * 3,
                          is_bigendian=0, data=frame.tobytes())
    rows: dict[str, list[tuple[float, ...]]] = {mode: [] for mode in pipelines}
    for index in range(args.frames):
        order = ('false', 'true') if index % 2 == 0 else ('true', 'false')
        for mode in order:
            _image, _dets, t = pipelines[mode].process_message(msg, compressed=False)
            rows[mode].append((t.decode, t.preprocess, t.inference, t.postprocess))
    med = {mode: [float(v) for v in np.median(np.array(r), axis=0)] for mode, r in rows.items()}
    report = pipelines['true'].report()
    print(f'model: YOLOv8n-class, {flops / 1e9:.1f} GFLOPs at {args.imgsz}x{args.imgsz}; '
          f'provider {report["active_provider"]}; median of {args.frames} frames per path, '
          'frames alternating between the paths')
    print(f'{"stage":<14}{"host (ms)":>11}{"in model (ms)":>15}{"host/in model":>15}')
    for i, name in enumerate((*STAGES, 'total')):
        host = sum(med['false']) if name == 'total' else med['false'][i]
        device = sum(med['true']) if name == 'total' else med['true'][i]
        print(f'{name:<14}{host:>11.2f}{device:>15.2f}{host / device:>14.2f}x')
    for mode, label in (('false', 'host'), ('true', 'in model')):
        decode, pre, infer, post = med[mode]
        overhead = decode + pre + post
        nbytes = pipelines[mode].report()['engine_input_bytes']
        print(f'{label:<9}: decode+pre+post = {overhead:.2f} ms = '
              f'{100 * overhead / infer:.1f} % of inference (goal: under 10 %); '
              f'{nbytes} bytes to the engine per frame')
    for pipeline in pipelines.values():
        pipeline.close()


if __name__ == '__main__':
    main()
