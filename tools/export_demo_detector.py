"""Export the demo detector to ONNX and measure it the way the package will run it.

Subcommands:

* ``export``: trained checkpoint -> ``models/demo_detector.onnx`` in the Ultralytics YOLOv8
  layout (input ``images`` [1, 3, S, S] RGB 0..1 letterboxed, output [1, 4 + nc, N] with
  ``cx cy w h`` in input pixels and sigmoid class scores), IR version 10, Ultralytics-style
  metadata. Needs torch (tools/requirements-train.txt).
* ``eval``: mAP@0.5 and mAP@0.5:0.95 (faster-coco-eval) of an ONNX model on held-out generated
  scenes, plus single-thread CPU latency. Needs no torch.

The data helpers (letterbox, sample rendering, decoding, NMS, COCO scoring) come from
``demo_detector_data.py`` and the architecture from ``demo_detector_model.py``, shared with
``train_demo_detector.py`` so that training, evaluation and the shipped model agree.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
import time

import demo_detector_data as data
import numpy as np


def cmd_eval(args: argparse.Namespace) -> None:
    """Evaluate an ONNX model on held-out scenes and time it on one CPU thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, opts, providers=['CPUExecutionProvider'])
    inp = sess.get_inputs()[0]
    name, size = inp.name, int(inp.shape[-1])
    samples = data.eval_samples(args.n, args.seed, size)
    gts, dets, times = [], [], []
    for s in samples:
        x = (s.image.transpose(2, 0, 1)[None].astype(np.float32)) / 255.0
        t = time.perf_counter()
        out = sess.run(None, {name: x})[0][0]
        times.append(time.perf_counter() - t)
        gts.append((s.boxes, s.class_ids))
        dets.append(data.decode(out, args.conf, args.iou))
    per_class: dict[str, float] = {}
    m50, m5095 = data.coco_map(gts, dets, per_class)
    n_obj = sum(len(g[1]) for g in gts)
    ms = np.asarray(times[5:]) * 1000
    print(f'{args.model}: input {size}x{size}, {len(samples)} images (seed {args.seed}), '
          f'{n_obj} objects, conf {args.conf}, iou {args.iou}')
    print(f'mAP@0.5 {m50:.4f}  mAP@0.5:0.95 {m5095:.4f}')
    print('AP@0.5 per class: ' + ', '.join(f'{k} {v:.3f}' for k, v in per_class.items()))
    print(f'CPU 1 thread latency ms: median {np.median(ms):.2f} p90 {np.percentile(ms, 90):.2f}')


def cmd_export(args: argparse.Namespace) -> None:
    """Export the EMA weights of a checkpoint to ONNX with metadata, then check it in ORT."""
    from demo_detector_model import ExportWrapper, load_model
    import onnx
    import onnxruntime as ort
    import torch

    net, info = load_model(args.ckpt)
    wrapper = ExportWrapper(net, args.imgsz).eval()
    x = torch.rand(1, 3, args.imgsz, args.imgsz)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        ref = wrapper(x).numpy()
        torch.onnx.export(wrapper, (x,), str(out_path), dynamo=False, opset_version=17,
                          input_names=['images'], output_names=['output0'],
                          do_constant_folding=True)
    model = onnx.load(str(out_path))
    model.ir_version = 10
    names = dict(enumerate(data.CLASS_NAMES))
    meta = {
        'description': 'edge_infer_ros demo detector (procedural robotics scenes)',
        'author': 'edge_infer_ros',
        'license': 'Apache-2.0',
        'task': 'detect',
        'stride': '32',
        'imgsz': str([args.imgsz, args.imgsz]),
        'names': str(names),
        'train_steps': str(info.get('step', '')),
        'train_seed': str(info.get('seed', '')),
        'train_imgsz': str([data.IMGSZ, data.IMGSZ]),
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = 'edge_infer_ros'
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    sess = ort.InferenceSession(str(out_path), providers=['CPUExecutionProvider'])
    got = sess.run(None, {'images': x.numpy()})[0]
    err = float(np.abs(got - ref).max())
    parsed = ast.literal_eval(sess.get_modelmeta().custom_metadata_map['names'])
    print(f'wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB) output {got.shape} '
          f'max |ort - torch| {err:.2e} names {parsed}')


def main() -> None:
    """Parse the command line and run a subcommand."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('export', help='checkpoint -> ONNX')
    e.add_argument('--ckpt', default=str(data.ROOT / 'build' / 'train' / 'ckpt.pt'))
    e.add_argument('--out', default=str(data.ROOT / 'models' / 'demo_detector.onnx'))
    e.add_argument('--imgsz', type=int, default=data.EXPORT_IMGSZ)
    v = sub.add_parser('eval', help='mAP and latency of an ONNX model')
    v.add_argument('--model', default=str(data.ROOT / 'models' / 'demo_detector.onnx'))
    v.add_argument('--n', type=int, default=1000)
    v.add_argument('--seed', type=int, default=data.EVAL_SEED)
    v.add_argument('--conf', type=float, default=data.CONF)
    v.add_argument('--iou', type=float, default=data.IOU)
    args = p.parse_args()
    {'export': cmd_export, 'eval': cmd_eval}[args.cmd](args)


if __name__ == '__main__':
    main()
