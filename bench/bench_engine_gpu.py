"""Benchmark TensorRT engine builds and cache reuse on a machine with an NVIDIA GPU.

For each precision (fp32, fp16, and int8 when a calibration table is given) and each place of
preprocessing (``host``: float NCHW input normalised on the CPU; ``in model``:
``preprocess_in_model``, uint8 NHWC input normalised by the engine) it starts the engine twice on
a fresh cache folder: the first start builds the engine, the second must load it from the cache
(start-up time drops). It then times, in alternating rounds, the host preprocessing of a
1920x1080 frame into the engine's input buffer and the inference (which includes the copy of
that buffer to the GPU: 4x fewer bytes in model), and prints a table with the in-model/host
ratios. Where TensorRT is not active it says why and exits 0, so it is safe to run anywhere.

    python bench/bench_engine_gpu.py [--model yolo.onnx --input-shape 1x3x640x640]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
import statistics
import sys
import tempfile
import time

import numpy as np

from edge_infer_ros.config import EngineConfig, PreprocessConfig
from edge_infer_ros.engine import Engine, create_engine
from edge_infer_ros.engine.gpu import diagnose_provider
from edge_infer_ros.imaging.preprocess import Preprocessor

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


def _preprocessor(engine: Engine) -> Preprocessor:
    """The node's preprocessing into this engine's input: float NCHW, or uint8 NHWC pixels."""
    spec = engine.inputs[0]
    if engine.preprocess is None:
        return Preprocessor(PreprocessConfig(), spec.shape[2], spec.shape[3], spec.dtype,
                            out=engine.input_buffer())
    order = engine.preprocess.describe()['channel_order']
    return Preprocessor(replace(engine.preprocess.preprocess, channel_order=order),
                        spec.shape[1], spec.shape[2], np.uint8, out=engine.input_buffer(),
                        layout='NHWC')


def _timings(engines: dict[str, Engine], iterations: int) -> dict[str, tuple[list[float], ...]]:
    """Host preprocessing and inference seconds per path, in rounds alternating the paths."""
    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), np.uint8)
    pres = {path: _preprocessor(engine) for path, engine in engines.items()}
    times: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in engines}
    paths = list(engines)
    for index in range(iterations):
        for path in paths if index % 2 == 0 else paths[::-1]:
            start = time.perf_counter()
            pres[path](frame, 'bgr')
            middle = time.perf_counter()
            engines[path].run()
            end = time.perf_counter()
            times[path][0].append(middle - start)
            times[path][1].append(end - middle)
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
            engines = {}
            for path, mode in (('host', 'false'), ('in model', 'true')):
                config = EngineConfig(
                    model_path=str(model), providers=('tensorrt', 'cuda', 'cpu'),
                    precision=precision, int8_calibration_table=args.calibration_table,
                    engine_cache_path=str(root / f'cache-{precision}'), fallback_policy='allow',
                    input_shape=_shape(args.input_shape), device_id=args.device_id,
                    warmup_iterations=3, preprocess_in_model=mode,
                )
                cold, cold_s = _timed_start(config)
                if TRT not in cold.status.active_providers:
                    cold.close()
                    reason = cold.status.fallback_reason or diagnose_provider(TRT, args.device_id)
                    print('TensorRT is not active on this machine, nothing to benchmark: '
                          f'{reason}')
                    return 0
                cold.close()
                engines[path], warm_s = _timed_start(config)
                rows.append([precision, path, cold_s, warm_s, engines[path].status])
            timings = _timings(engines, args.iterations)
            nbytes = {path: engine.input_buffer().nbytes for path, engine in engines.items()}
            for engine in engines.values():
                engine.close()
            for row in rows[-2:]:
                host, infer = (sorted(t) for t in timings[row[1]])
                row += [statistics.median(host) * 1e3, statistics.median(infer) * 1e3,
                        infer[min(len(infer) - 1, int(len(infer) * 0.99))] * 1e3,
                        nbytes[row[1]]]
        status = rows[-1][4]
        print(f'model {model} on {status.active_providers[0]}, {args.iterations} iterations per '
              'path (alternating), 1920x1080 bgr8 frame; infer = H2D copy + engine')
        print(f'{"precision":>9} {"preprocess":>10} {"cold start s":>12} {"cached start s":>14} '
              f'{"cache hit":>9} {"first ms":>9} {"host ms":>8} {"infer p50":>9} '
              f'{"infer p99":>9} {"total p50":>9} {"fps":>7} {"input bytes":>11}')
        for precision, path, cold_s, warm_s, st, host, p50, p99, nbytes in rows:
            first = st.warmup.first_run_s * 1e3 if st.warmup else float('nan')
            print(f'{precision:>9} {path:>10} {cold_s:>12.2f} {warm_s:>14.2f} '
                  f'{st.cache_hit!s:>9} {first:>9.2f} {host:>8.3f} {p50:>9.3f} {p99:>9.3f} '
                  f'{host + p50:>9.3f} {1e3 / (host + p50):>7.1f} {nbytes:>11d}')
        for index in range(0, len(rows), 2):
            host_row, model_row = rows[index], rows[index + 1]
            ratio = [model_row[i] / host_row[i] for i in (5, 6)]
            total = (model_row[5] + model_row[6]) / (host_row[5] + host_row[6])
            print(f'{host_row[0]}: in model / host: host preprocessing {ratio[0]:.2f}x, '
                  f'inference {ratio[1]:.2f}x, total {total:.2f}x')
        failed = [f'{row[0]} {row[1]}' for row in rows if row[4].cache_hit is not True]
        if failed:
            print(f'cache was NOT reused for {failed}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
