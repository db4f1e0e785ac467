"""Generate a benchmark ONNX detector with YOLOv8n-class compute and the YOLOv8 output layout.

Benchmarks of the engine (ONNX Runtime CPU/CUDA/TensorRT, fp16/int8) need a model as heavy as a
real YOLOv8n (~8.7 GFLOPs at 640x640) without shipping third-party weights or needing torch.
This builds one with ``onnx.helper`` and numpy only: a CSP backbone with split-concat blocks and
spatial pyramid pooling, a two-way feature pyramid, decoupled heads with 16-bin distribution box
regression, and an in-graph decode to ``[1, 4 + nc, N]`` (``cx cy w h`` in input pixels, sigmoid
scores; N = 8400 at 640). Weights are random (seeded); class biases start at a 1 % prior, so few
boxes pass a 0.25 threshold and NMS costs stay realistic.

    python tools/make_bench_model.py --out build/bench/bench_yolov8n_640.onnx
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10  # ONNX Runtime 1.31 refuses the newer IR versions onnx >= 1.20 writes
STRIDES = (8, 16, 32)
REG_BINS = 16


@dataclass
class GraphBuilder:
    """Accumulates nodes and initialisers, and counts FLOPs (2 per multiply-add) of convs."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    flops: int = 0
    params: int = 0
    _n: int = 0

    def name(self, prefix: str) -> str:
        """Return a fresh tensor name."""
        self._n += 1
        return f'{prefix}_{self._n}'

    def const(self, value: np.ndarray, prefix: str = 'c') -> str:
        """Add an initialiser and return its name."""
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: object) -> list[str]:
        """Add one node; returns its output names."""
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def conv(self, x: str, shape: tuple[int, int, int], c_out: int, k: int = 3, s: int = 1,
             act: bool = True, bias: float = 0.0) -> tuple[str, tuple[int, int, int]]:
        """Conv (batch norm already folded into the bias) + SiLU; tracks the output shape."""
        c_in, h, w = shape
        ho, wo = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
        fan_in = c_in * k * k
        wgt = self.rng.standard_normal((c_out, c_in, k, k), dtype=np.float32)
        wgt *= np.float32(np.sqrt(1.0 / fan_in))
        b = np.full(c_out, bias, np.float32)
        (y,) = self.op('Conv', [x, self.const(wgt, 'w'), self.const(b, 'b')],
                       kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        self.flops += 2 * c_out * fan_in * ho * wo
        self.params += wgt.size + b.size
        if act:
            (sig,) = self.op('Sigmoid', [y])
            (y,) = self.op('Mul', [y, sig])
        return y, (c_out, ho, wo)

    def split_concat_block(self, x: str, shape: tuple[int, int, int], c_out: int, n: int,
                           shortcut: bool = True) -> tuple[str, tuple[int, int, int]]:
        """Cross-stage block: 1x1 expand, split, ``n`` residual 3x3 pairs, concat all, 1x1."""
        h = c_out // 2
        y, (_, hh, ww) = self.conv(x, shape, 2 * h, 1)
        parts = self.op('Split', [y, self.const(np.array([h, h], np.int64), 'split')], 2,
                        axis=1)
        last = parts[1]
        for _ in range(n):
            a, _ = self.conv(last, (h, hh, ww), h)
            a, _ = self.conv(a, (h, hh, ww), h)
            last = self.op('Add', [last, a])[0] if shortcut else a
            parts.append(last)
        (cat,) = self.op('Concat', parts, axis=1)
        return self.conv(cat, ((2 + n) * h, hh, ww), c_out, 1)

    def sppf(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        """Spatial pyramid pooling: three chained 5x5 max pools, concatenated."""
        c, h, w = shape
        y, _ = self.conv(x, shape, c // 2, 1)
        pools = [y]
        for _ in range(3):
            pools.append(self.op('MaxPool', [pools[-1]], kernel_shape=[5, 5], strides=[1, 1],
                                 pads=[2, 2, 2, 2])[0])
        (cat,) = self.op('Concat', pools, axis=1)
        return self.conv(cat, (2 * c, h, w), c, 1)

    def upsample(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        """Nearest-neighbour 2x upsampling."""
        scales = self.const(np.array([1, 1, 2, 2], np.float32), 'scales')
        (y,) = self.op('Resize', [x, '', scales], mode='nearest')
        return y, (shape[0], shape[1] * 2, shape[2] * 2)

    def concat(self, a: tuple[str, tuple[int, int, int]], b: tuple[str, tuple[int, int, int]]
               ) -> tuple[str, tuple[int, int, int]]:
        """Concatenate two feature maps along channels."""
        (y,) = self.op('Concat', [a[0], b[0]], axis=1)
        return y, (a[1][0] + b[1][0], a[1][1], a[1][2])


def build(imgsz: int, nc: int, seed: int) -> tuple[onnx.ModelProto, int, int]:
    """Build the model; returns it with its FLOPs and parameter counts."""
    g = GraphBuilder(np.random.default_rng(seed))
    x = ('images', (3, imgsz, imgsz))
    x = g.conv(*x, 16, 3, 2)
    x = g.conv(*x, 32, 3, 2)
    x = g.split_concat_block(*x, 32, 1)
    x = g.conv(*x, 64, 3, 2)
    p3 = g.split_concat_block(*x, 64, 2)
    x = g.conv(*p3, 128, 3, 2)
    p4 = g.split_concat_block(*x, 128, 2)
    x = g.conv(*p4, 256, 3, 2)
    x = g.split_concat_block(*x, 256, 1)
    p5 = g.sppf(*x)
    n4 = g.split_concat_block(*g.concat(g.upsample(*p5), p4), 128, 1, shortcut=False)
    o3 = g.split_concat_block(*g.concat(g.upsample(*n4), p3), 64, 1, shortcut=False)
    o4 = g.split_concat_block(*g.concat(g.conv(*o3, 64, 3, 2), n4), 128, 1, shortcut=False)
    o5 = g.split_concat_block(*g.concat(g.conv(*o4, 128, 3, 2), p5), 256, 1, shortcut=False)

    c_box, c_cls = max(16, 64 // 4, 4 * REG_BINS), max(64, min(nc, 100))
    prior = float(-np.log((1 - 0.01) / 0.01))
    box_maps, cls_maps, anchors, strides = [], [], [], []
    for (feat, shape), s in zip((o3, o4, o5), STRIDES, strict=True):
        _, h, w = shape
        b, bs = g.conv(feat, shape, c_box)
        b, bs = g.conv(b, bs, c_box)
        b, _ = g.conv(b, bs, 4 * REG_BINS, 1, act=False)
        c, cs = g.conv(feat, shape, c_cls)
        c, cs = g.conv(c, cs, c_cls)
        c, _ = g.conv(c, cs, nc, 1, act=False, bias=prior)
        flat = g.const(np.array([1, -1, h * w], np.int64), 'shape')
        box_maps.append(g.op('Reshape', [b, flat])[0])
        cls_maps.append(g.op('Reshape', [c, flat])[0])
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        anchors.append(np.stack([xs.ravel(), ys.ravel()]).astype(np.float32) + 0.5)
        strides.append(np.full(h * w, s, np.float32))
    n = sum(a.shape[1] for a in anchors)
    (box,) = g.op('Concat', box_maps, axis=2)  # [1, 4 * bins, N]
    (cls,) = g.op('Concat', cls_maps, axis=2)  # [1, nc, N]
    # Distribution regression: softmax over bins, expectation -> l t r b in strides.
    (box,) = g.op('Reshape', [box, g.const(np.array([1, 4, REG_BINS, n], np.int64), 'shape')])
    (prob,) = g.op('Softmax', [box], axis=2)
    bins = g.const(np.arange(REG_BINS, dtype=np.float32).reshape(1, 1, REG_BINS, 1), 'bins')
    (dist,) = g.op('ReduceSum', [g.op('Mul', [prob, bins])[0],
                                 g.const(np.array([2], np.int64), 'axes')], keepdims=0)
    lt, rb = g.op('Split', [dist, g.const(np.array([2, 2], np.int64), 'split')], 2, axis=1)
    anchor = g.const(np.concatenate(anchors, 1)[None], 'anchors')
    stride = g.const(np.concatenate(strides)[None, None], 'strides')
    (half,) = g.op('Mul', [g.op('Sub', [rb, lt])[0], g.const(np.float32(0.5), 'half')])
    (centre,) = g.op('Mul', [g.op('Add', [anchor, half])[0], stride])
    (size,) = g.op('Mul', [g.op('Add', [lt, rb])[0], stride])
    (scores,) = g.op('Sigmoid', [cls])
    g.nodes.append(helper.make_node('Concat', [centre, size, scores], ['output0'], axis=1))

    graph = helper.make_graph(
        g.nodes, 'bench_detector',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT, [1, 4 + nc, n])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='edge_infer_ros')
    model.ir_version = IR_VERSION
    meta = {'description': 'edge_infer_ros benchmark model (random weights, YOLOv8n-class)',
            'author': 'edge_infer_ros', 'task': 'detect', 'stride': str(max(STRIDES)),
            'imgsz': str([imgsz, imgsz]), 'names': str({i: f'class{i}' for i in range(nc)})}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    return model, g.flops, g.params


def main() -> None:
    """Parse the command line, build, save and report the model."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='build/bench/bench_yolov8n_640.onnx')
    p.add_argument('--imgsz', type=int, default=640, help='square input size, multiple of 32')
    p.add_argument('--nc', type=int, default=80, help='number of classes')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    if args.imgsz % 32:
        p.error(f'--imgsz must be a multiple of 32, got {args.imgsz!r}')
    model, flops, params = build(args.imgsz, args.nc, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    n = model.graph.output[0].type.tensor_type.shape.dim[2].dim_value
    print(f'wrote {out}: input [1, 3, {args.imgsz}, {args.imgsz}], output [1, {4 + args.nc}, '
          f'{n}], {params / 1e6:.2f} M params, {flops / 1e9:.2f} GFLOPs (conv multiply-adds x2)')


if __name__ == '__main__':
    main()
