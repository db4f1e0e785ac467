"""Benchmark TensorRT engine builds and cache reuse on a machine with an NVIDIA GPU.

For each precision (fp32, fp16, and int8 when a calibration table is given) it starts the engine
twice on a fresh cache folder: the first start builds the engine, the second must load it from
the cache (start-up time drops). It then times steady-state inference and prints a table.
Where TensorRT is not active it says why and exits 0, so it is safe to run anywhere.

    python bench/bench_engine_gpu.py [--model yolo.onnx --input-shape 1x3x640x640]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time

from edge_infer_ros.config import EngineConfig
from edge_infer_ros.engine import Engine, create_engine
from edge_infer_ros.engine.gpu import diagnose_provider

TRT = 'TensorrtExecutionProvider'


def _demo_model(folder: Path) -> Path:
    """A small strided conv net at 640x640, heavy enough for the build time to show."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev, channels = [], [], 'images', 3
    for index, width in enumerate((16, 32, 64, 128)):
        weight = rng.normal(0, 0.1, (width, channels, 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f'w{index}'))
        nodes.append(helper.make_node('Conv', [prev, f'w{index}'], [f'c{index}'],
                                      pads=[1, 1, 1, 1], strides=[2, 2]))
        nodes.append(helper.make_node('Relu', [f'c{index}'], [f'r{index}']))
        prev, channels = f'r{index}', width
    graph = helper.make_graph(
        nodes, 'bench', [helper.make_tensor_value_info('images', TensorProto.FLOAT,
                                                       [1, 3, 640, 640])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 10
    path = folder / 'bench_convnet.onnx'
    onnx.save(model, str(path))
    return path


def _timed_start(config: EngineConfig) -> tuple[Engine, float]:
    start = time.perf_counter()
    engine = create_engine(config)
    return engine, time.perf_counter() - start


def _latency(engine: Engine, iterations: int) -> list[float]:
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        engine.run()
        times.append(time.perf_counter() - start)
    return times


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.lower().split('x')) if text else ()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', help='ONNX model (default: a generated conv net)')
    parser.add_argument('--input-shape', default='', help='for dynamic models, e.g. 1x3x640x640')
    parser.add_argument('--calibration-table', default='', help='adds an int8 row')
    parser.add_argument('--iterations', type=int, default=200)
    parser.add_argument('--device-id', type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix='bench_engine_') as scratch:
        root = Path(scratch)
        model = Path(args.model) if args.model else _demo_model(root)
        precisions = ['fp32', 'fp16'] + (['int8'] if args.calibration_table else [])
        rows = []
        for precision in precisions:
            config = EngineConfig(
                model_path=str(model), providers=('tensorrt', 'cuda', 'cpu'),
                precision=precision, int8_calibration_table=args.calibration_table,
                engine_cache_path=str(root / f'cache-{precision}'), fallback_policy='allow',
                input_shape=_shape(args.input_shape), device_id=args.device_id,
                warmup_iterations=3,
            )
            cold, cold_s = _timed_start(config)
            if TRT not in cold.status.active_providers:
                cold.close()
                reason = cold.status.fallback_reason or diagnose_provider(TRT, args.device_id)
                print(f'TensorRT is not active on this machine, nothing to benchmark: {reason}')
                return 0
            cold.close()
            warm, warm_s = _timed_start(config)
            times = sorted(_latency(warm, args.iterations))
            status = warm.status
            warm.close()
            first = status.warmup.first_run_s * 1e3 if status.warmup else float('nan')
            p50 = statistics.median(times) * 1e3
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3
            rows.append((precision, cold_s, warm_s, status.cache_hit, first, p50, p99,
                         1e3 / p50))
        print(f'model {model} on {status.active_providers[0]}, {args.iterations} iterations')
        print(f'{"precision":>9} {"cold start s":>12} {"cached start s":>14} {"cache hit":>9} '
              f'{"first ms":>9} {"p50 ms":>8} {"p99 ms":>8} {"fps":>8}')
        for precision, cold_s, warm_s, hit, first, p50, p99, fps in rows:
            print(f'{precision:>9} {cold_s:>12.2f} {warm_s:>14.2f} {hit!s:>9} {first:>9.2f} '
                  f'{p50:>8.3f} {p99:>8.3f} {fps:>8.1f}')
        failed = [row[0] for row in rows if row[3] is not True]
        if failed:
            print(f'cache was NOT reused for {failed}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
