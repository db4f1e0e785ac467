"""``build_engine``: build and warm the TensorRT engine offline, into the node's cache.

Reads the same parameters YAML file as the node, so the engine it builds has the node's cache key
and the node starts from a cache hit. Exit status: 0 built (or fell back as the policy allows),
1 on any error (including a missing provider under ``fallback_policy: error``), 2 bad usage.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
import contextlib
import logging
from pathlib import Path
import sys
import threading
import time
from typing import TextIO

from edge_infer_ros.config import FALLBACK_POLICIES, PRECISIONS
from edge_infer_ros.engine import Engine, cache_key, create_engine
from edge_infer_ros.engine.cache import engine_files
from edge_infer_ros.errors import EdgeInferError
from edge_infer_ros.parameters import load_pipeline_config
from edge_infer_ros.tools.cli_params import add_params_arguments, parse_overrides

__all__ = ['main']

TICK_SECONDS = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='build_engine',
        description='Build and warm the TensorRT engine of a detector into the engine cache.',
    )
    add_params_arguments(parser)
    parser.add_argument('--model-path', help='override model_path')
    parser.add_argument('--precision', choices=PRECISIONS, help='override precision')
    parser.add_argument('--engine-cache-path', help='override engine_cache_path')
    parser.add_argument('--int8-calibration-table', help='override int8_calibration_table')
    parser.add_argument(
        '--fallback-policy', choices=FALLBACK_POLICIES,
        help='override fallback_policy (error makes a missing TensorRT exit non-zero)',
    )
    return parser


@contextlib.contextmanager
def _ticker(stream: TextIO, interval: float = TICK_SECONDS) -> Iterator[None]:
    """Print a progress line every ``interval`` seconds while the body runs (builds are slow)."""
    done = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        while not done.wait(interval):
            print(f'  ... building, {time.monotonic() - start:.0f} s elapsed', file=stream,
                  flush=True)

    thread = threading.Thread(target=tick, name='build_engine-ticker', daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _report(engine: Engine, elapsed: float, out: TextIO) -> None:
    status = engine.status
    verdict = {None: 'not used (TensorRT not active)', True: 'hit (engine reused)',
               False: 'miss (engine built)'}[status.cache_hit]
    rows = [
        ('provider used', ', '.join(status.active_providers)),
        ('requested', ', '.join(status.requested_providers)),
        ('precision', f'{status.precision} (running as {status.effective_precision})'),
        ('cache key', status.cache_key),
        ('cache folder', status.cache_dir or '-'),
        ('cache', verdict),
        ('engine files', ', '.join(engine_files(Path(status.cache_dir))) or '-'
         if status.cache_dir else '-'),
        ('preprocessing', status.preprocessing),
        ('session created', f'{status.build_seconds:.2f} s'),
    ]
    if engine.preprocess is not None:
        rows.insert(-1, ('wrapped model', engine.model_path))
    if status.warmup is not None:
        rows.append(('first inference', f'{status.warmup.first_run_s * 1e3:.1f} ms'))
        if status.warmup.steady_mean_s is not None:
            rows.append(('steady inference', f'{status.warmup.steady_mean_s * 1e3:.2f} ms'))
    if status.ep_context_model:
        rows.append(('EP-context model', status.ep_context_model))
    if status.fallback:
        rows.append(('FALLBACK', status.fallback_reason))
    rows.append(('elapsed', f'{elapsed:.2f} s'))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f'{name:<{width}} : {value}', file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``build_engine`` console command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        overrides = parse_overrides(args.param)
    except EdgeInferError as err:
        print(f'build_engine: error: {err}', file=sys.stderr)
        return 2
    overrides.update({
        name: value
        for name, value in (
            ('model_path', args.model_path),
            ('precision', args.precision),
            ('engine_cache_path', args.engine_cache_path),
            ('int8_calibration_table', args.int8_calibration_table),
            ('fallback_policy', args.fallback_policy),
        )
        if value is not None
    })
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(levelname)s %(name)s: %(message)s'))
    logger = logging.getLogger('edge_infer_ros')
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    start = time.monotonic()
    try:
        config = load_pipeline_config(args.params_file, args.node_name, overrides).engine
        print(f'model     : {config.model_path}', flush=True)
        print(f'cache key : {cache_key(config)}', flush=True)
        with _ticker(sys.stderr):
            engine = create_engine(
                config, log=lambda message: print(f'WARNING: {message}', file=sys.stderr)
            )
    except EdgeInferError as err:
        print(f'build_engine: error: {err}', file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
    try:
        _report(engine, time.monotonic() - start, sys.stdout)
    finally:
        engine.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
