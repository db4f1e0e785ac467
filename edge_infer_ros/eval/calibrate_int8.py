"""``calibrate_int8``: a TensorRT INT8 calibration table from recorded frames.

Samples frames from bags (or an image folder), turns them into model inputs exactly as the node
does (the pipeline's decode, letterbox, normalisation and extra inputs, on a throw-away CPU
session), lets ONNX Runtime's own calibrators (minmax, entropy or percentile) collect activation
ranges, and writes the table with ``onnxruntime.quantization.write_calibration_table``. The node
reads ``calibration.flatbuffers`` (ORT's format, ``trt_int8_use_native_calibration_table``
false): its engine copies the file into the engine's cache folder under that same name and
hands the name to TensorRT. The table is checked through that engine path before the command
prints the two parameters to set. Q/DQ models carry their own scales and are refused.

Calibration sees what the TensorRT engine will see: where ``preprocess_in_model`` wraps the model
on TensorRT (``auto`` or ``true``), the wrapped model is calibrated on the same uint8 pixels the
node hands it, so the table also holds the ranges of the preprocessing nodes. The original
model's tensors keep their names inside the wrapper and receive the same values either way, so
their ranges equal those of an unwrapped calibration (the tests check this); an unwrapped engine
simply ignores the extra entries.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import replace
import datetime
import json
import os
from pathlib import Path
import sys
import tempfile
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    create_calibrator,
    write_calibration_table,
)

from edge_infer_ros.config import PipelineConfig
from edge_infer_ros.engine import cache_key, preprocess_on_device
from edge_infer_ros.engine.model import read_model_info
from edge_infer_ros.errors import BagError, CalibrationError, EdgeInferError, ImageDecodeError
from edge_infer_ros.eval.bag_io import IMAGE_TYPES, BagReader
from edge_infer_ros.parameters import pipeline_config_from_params
from edge_infer_ros.pipeline import DecodedImage, DetectionPipeline
from edge_infer_ros.tools.cli_params import add_params_arguments, load_params
from edge_infer_ros.tools.outputs import claim, mark

__all__ = ['TABLE_NAME', 'main', 'sample_indices']

PROG = 'calibrate_int8'
TABLE_NAME = 'calibration.flatbuffers'  # what ORT writes and the TensorRT EP reads (non-native)
METHODS = {'minmax': CalibrationMethod.MinMax, 'entropy': CalibrationMethod.Entropy,
           'percentile': CalibrationMethod.Percentile}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.pgm', '.ppm')


def sample_indices(total: int, count: int, sampling: str, seed: int) -> NDArray[np.int64]:
    """Sorted frame indices: ``count`` evenly spaced over ``total``, or a seeded random draw."""
    count = min(count, total)
    if count <= 0:
        return np.zeros(0, np.int64)
    if sampling == 'random':
        return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))
    return np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))


def _is_image_folder(path: Path) -> bool:
    return path.is_dir() and not (path / 'metadata.yaml').exists() and not any(
        p.suffix in ('.mcap', '.db3') for p in path.iterdir())


class _Frames:
    """Every candidate frame of the sources, in order, and a way to read chosen ones."""

    def __init__(self, sources: Sequence[str], topics: Sequence[str]) -> None:
        self.items: list[tuple[str, list[Any]]] = []  # (source, [topics] or [files])
        for source in sources:
            path = Path(source)
            if _is_image_folder(path):
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                self.items.append((source, files))
                continue
            with BagReader(path) as reader:
                wanted = {t if t.startswith('/') else f'/{t}' for t in topics}
                chosen = [t for t in reader.topics.values() if t.msgtype in IMAGE_TYPES
                          and not t.problem and (not wanted or t.name in wanted)]
            self.items.append((source, chosen))
        self.total = sum(self._count(entries) for _, entries in self.items)

    @staticmethod
    def _count(entries: list[Any]) -> int:
        return sum(getattr(e, 'count', 1) for e in entries)

    def images(self, chosen: NDArray[np.int64], pipeline: DetectionPipeline,
               problems: Counter[str]) -> Iterator[DecodedImage]:
        """Yield (decoded image, channel order) of the frames whose index is in ``chosen``."""
        wanted = set(chosen.tolist())
        offset = 0
        for source, entries in self.items:
            if entries and isinstance(entries[0], Path):
                for i, file in enumerate(entries):
                    if offset + i in wanted:
                        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
                        if image is None:
                            problems['undecodable'] += 1
                        else:
                            yield DecodedImage.full(image, 'bgr')
                offset += len(entries)
                continue
            yield from self._bag_images(source, entries, offset, wanted, pipeline, problems)
            offset += self._count(entries)

    @staticmethod
    def _bag_images(source: str, entries: list[Any], offset: int, wanted: set[int],
                    pipeline: DetectionPipeline, problems: Counter[str],
                    ) -> Iterator[DecodedImage]:
        with BagReader(source) as reader:
            compressed = {t.name: IMAGE_TYPES[t.msgtype] for t in entries}
            for index, (topic, _, raw) in enumerate(reader.messages(compressed), start=offset):
                if index not in wanted:
                    continue
                try:
                    msg = reader.deserialize(topic, raw)
                    image = pipeline.decode_message(msg, compressed[topic])
                except (BagError, ImageDecodeError):
                    problems['undecodable'] += 1
                    continue
                yield image
            if reader.read_error:
                problems['read_errors'] += 1


# onnxruntime ships no type information, so mypy sees its base class as Any.
class _Reader(CalibrationDataReader):  # type: ignore[misc]
    """Feeds ORT's calibrator one model input at a time, preprocessed by the node's pipeline."""

    def __init__(self, images: Iterator[DecodedImage],
                 pipeline: DetectionPipeline) -> None:
        self._images = images
        self._pipeline = pipeline
        self.used = 0

    def get_next(self) -> dict[str, NDArray[Any]] | None:
        item = next(self._images, None)
        if item is None:
            return None
        pipe = self._pipeline
        transform = pipe.preprocessor(item.pixels, item.order, source_size=item.source_size)
        feed = {pipe.input_name: pipe.engine.input_buffer(pipe.input_name).copy()}
        extra = pipe.decoder.extra_inputs(transform)
        feed |= {name: np.array(value, copy=True) for name, value in extra.items()}
        self.used += 1
        return feed


def _cpu_config(config: PipelineConfig) -> PipelineConfig:
    """A CPU session over the model exactly as the TensorRT engine will run it (wrapped or not)."""
    wrapped = preprocess_on_device(config.engine, on_gpu=True)
    engine = replace(config.engine, providers=('cpu',), precision='fp32',
                     int8_calibration_table='', warmup_iterations=0, fallback_policy='allow',
                     cuda_graph=False, preprocess_in_model='true' if wrapped else 'false')
    return replace(config, engine=engine)


def calibrate(
    config: PipelineConfig, sources: Sequence[str], *, topics: Sequence[str] = (),
    frames: int = 200, sampling: str = 'even', seed: int = 0, method: str = 'entropy',
    percentile: float = 99.999, output: str = '', overwrite: bool = False,
) -> dict[str, Any]:
    """Write the calibration table; return what was done (paths, counts, cache key).

    The output folder follows the offline tools' rules (``tools.outputs``): never an input, an
    earlier table replaced only with ``overwrite`` and only when calibrate_int8 wrote it.

    Raises:
        CalibrationError: Q/DQ model, no usable frames, or the calibrator failed.
        BagError, ConfigError, EngineError: unusable sources or configuration.
    """
    model = config.engine.model_path
    info, sha = read_model_info(model)
    if info.has_qdq:
        msg = (f'model {model!r} is Q/DQ-quantised and carries its own scales, so it needs no '
               'calibration table; run it with precision int8 and int8_calibration_table empty')
        raise CalibrationError(msg)
    candidates = _Frames(sources, topics)
    chosen = sample_indices(candidates.total, frames, sampling, seed)
    if chosen.size == 0:
        msg = f'no image frames found in {list(sources)!r} to calibrate with'
        raise CalibrationError(msg)
    folder = Path(output) if output else (
        Path(config.engine.engine_cache_path).expanduser() / 'calibration'
        / f'{Path(model).stem}-{sha[:12]}-{method}')
    folder = claim(folder, PROG, [*sources, model], overwrite=overwrite,
                   option='--output').apply()
    folder.mkdir(parents=True, exist_ok=True)
    mark(folder, PROG, 'partial')
    before = set(os.listdir(folder))
    problems: Counter[str] = Counter()
    pipeline = DetectionPipeline(_cpu_config(config), log=lambda _: None)
    try:
        reader = _Reader(candidates.images(chosen, pipeline, problems), pipeline)
        options = {'percentile': percentile} if method == 'percentile' else {}
        with tempfile.TemporaryDirectory(prefix='calib-') as tmp:
            try:
                calibrator = create_calibrator(
                    pipeline.engine.model_path,
                    augmented_model_path=str(Path(tmp) / 'augmented.onnx'),
                    calibrate_method=METHODS[method], extra_options=options,
                    providers=['CPUExecutionProvider'])
                with contextlib.redirect_stdout(sys.stderr):  # ORT prints progress
                    calibrator.collect_data(reader)
                    ranges = calibrator.compute_data()
            except Exception as err:  # noqa: BLE001 - ORT raises its own pybind types
                if reader.used == 0:
                    msg = f'none of the {chosen.size} sampled frames could be decoded'
                    raise CalibrationError(msg) from err
                msg = f'ONNX Runtime calibration of {model!r} failed: {err}'
                raise CalibrationError(msg) from err
        calibrated = pipeline.engine.model_path
    finally:
        pipeline.close()
    write_calibration_table(ranges.data, dir=str(folder))
    table = folder / TABLE_NAME
    key = cache_key(replace(config.engine, precision='int8', int8_calibration_table=str(table)))
    summary = {
        'table': str(table.resolve()), 'model': model, 'model_sha256': sha, 'method': method,
        'sampling': sampling, 'seed': seed, 'frames_sampled': int(chosen.size),
        'frames_used': reader.used, 'frames_available': candidates.total,
        'problems': dict(problems), 'tensors': len(ranges.data), 'engine_cache_key': key,
        'sources': list(sources), 'created': datetime.datetime.now().astimezone().isoformat(),
        'calibrated_model': calibrated, 'preprocess_in_model': calibrated != model,
    }
    (folder / 'calibration_info.json').write_text(json.dumps(summary, indent=2) + '\n',
                                                  encoding='utf-8')
    mark(folder, PROG, 'complete', sorted(set(os.listdir(folder)) - before))
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0].replace('``', ''),
                                epilog='See docs/evaluation.md.')
    p.add_argument('sources', nargs='+', help='rosbag2 folders, .mcap/.db3/.bag files or image '
                   'folders')
    add_params_arguments(p)
    p.add_argument('--image-topic', action='append', default=[],
                   help='image topic to sample (repeatable); default: every image topic')
    p.add_argument('--frames', type=int, default=200, help='frames to sample (default 200)')
    p.add_argument('--sampling', choices=('even', 'random'), default='even',
                   help='evenly spaced over all frames, or a seeded random draw (default even)')
    p.add_argument('--seed', type=int, default=0, help='seed of --sampling random')
    p.add_argument('--method', choices=sorted(METHODS), default='entropy',
                   help="ORT calibrator (default entropy, as TensorRT's own)")
    p.add_argument('--percentile', type=float, default=99.999,
                   help='percentile of --method percentile (default 99.999)')
    p.add_argument('--output', default='', help='folder for the table (default: '
                   '<engine_cache_path>/calibration/<model>-<sha>-<method>)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the table of an earlier calibrate_int8 run in that folder')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.frames <= 0:
            msg = f'--frames is {args.frames!r}; it must be positive'
            raise CalibrationError(msg)
        config = pipeline_config_from_params(load_params(args))
        done = calibrate(config, args.sources, topics=args.image_topic, frames=args.frames,
                         sampling=args.sampling, seed=args.seed, method=args.method,
                         percentile=args.percentile, output=args.output,
                         overwrite=args.overwrite)
    except EdgeInferError as err:
        print(f'{PROG}: error: {err}', file=sys.stderr)
        return 1
    skipped = sum(done['problems'].values())
    print(f'{PROG}: {done["method"]} ranges of {done["tensors"]} tensors from '
          f'{done["frames_used"]} of {done["frames_available"]} frames ({skipped} unreadable)')
    if done['preprocess_in_model']:
        print(f'{PROG}: calibrated the model wrapped with its preprocessing '
              '(preprocess_in_model), as TensorRT will run it')
    print(f'{PROG}: wrote {done["table"]}')
    print("Set these in the node's parameters file:")
    print('    precision: int8')
    print(f'    int8_calibration_table: {done["table"]}')
    print(f'(engine cache key on this machine: {done["engine_cache_key"]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
