"""``evaluate_bag``: run the detector over recorded bags offline, score it, compare runs.

Reads the node's parameters file (plus ``-p name:=value`` overrides) so the offline run uses
the robot's exact settings, writes the detections to a new bag whose headers equal the images'
headers, and writes a report folder (metrics.json, plots, summary.md). Exit status: 0 when every
bag was evaluated, 1 when a bag or the configuration was unusable (the report still lists what
worked), 2 for bad command-line usage.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
import logging
from pathlib import Path
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from edge_infer_ros.errors import BagError, ConfigError, EdgeInferError
from edge_infer_ros.eval.bag_io import IMAGE_TYPES, STORAGES, BagReader
from edge_infer_ros.eval.compare import Comparison, compare_sources
from edge_infer_ros.eval.ground_truth import GroundTruth, load_coco_json
from edge_infer_ros.eval.identity import IdentityResult, TrackedFrame, identity_metrics
from edge_infer_ros.eval.messages import ClassIndex
from edge_infer_ros.eval.metrics import (
    CocoResult,
    EvalImage,
    class_counts,
    coco_map,
    latency_summary,
)
from edge_infer_ros.eval.report import write_report
from edge_infer_ros.eval.run import (
    BagJob,
    BagResult,
    Frame,
    evaluate_bags,
    plan_node_cameras,
    read_detections,
)
from edge_infer_ros.tools.cli_params import (
    add_naming_arguments,
    add_params_arguments,
    load_params,
    node_names,
)
from edge_infer_ros.tools.outputs import Claim, claim, mark

__all__ = ['main']

PROG = 'evaluate_bag'


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0].replace('``', ''),
                                epilog='See docs/evaluation.md.')
    p.add_argument('bags', nargs='*', help='rosbag2 folders, .mcap/.db3 files or ROS 1 .bag files')
    add_params_arguments(p)
    add_naming_arguments(p)
    p.add_argument('--image-topic', action='append', default=[],
                   help="image topic to run (repeatable), as the node's image_topics; default: "
                        "the node's image_topics with --node-name/-r, else every image topic")
    p.add_argument('--gt-topic', action='append', default=[],
                   help='ground-truth Detection2DArray topic in the bag (repeatable)')
    p.add_argument('--gt-json', help='ground truth as a COCO-style JSON file (see docs)')
    p.add_argument('--compare-with', metavar='SOURCE',
                   help="compare the rerun with 'recorded' (the node's detections topics in "
                        'the bag), one Detection2DArray topic, or the output bag of another run')
    p.add_argument('--compare', nargs=2, metavar=('BAG_A', 'BAG_B'),
                   help='only compare the Detection2DArray topics of two bags (no inference)')
    p.add_argument('--iou-threshold', type=float, default=0.5,
                   help='IoU for two detections to agree in comparisons (default 0.5)')
    p.add_argument('--report', default='eval_report', help='report folder (default eval_report)')
    p.add_argument('--output-bag', help='output bag path (one input bag); default '
                   '<report>/bags/<bag name>')
    p.add_argument('--no-output-bag', action='store_true', help='do not write detections')
    p.add_argument('--storage', choices=sorted(STORAGES), default='mcap',
                   help='output bag storage (default mcap)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the report and output bags of an earlier evaluate_bag run '
                        '(only what it wrote; inputs and other folders are never touched)')
    p.add_argument('--workers', type=int, default=1,
                   help='processes for several bags, one pipeline each (default 1)')
    p.add_argument('--max-frames', type=int, default=0, help='stop each bag after N images')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def _inputs(args: argparse.Namespace, params: dict[str, Any]) -> list[str]:
    """Every path the run reads: no output may be, hold or lie inside one of them."""
    named = [*args.bags, *(args.compare or []), args.gt_json, args.params_file,
             params.get('model_path'), params.get('labels_path')]
    if args.compare_with and Path(args.compare_with).exists():
        named.append(args.compare_with)
    return [str(p) for p in named if p]


def _claim_outputs(args: argparse.Namespace, inputs: list[str],
                   bags: bool = True) -> tuple[Path, list[str]]:
    """The report folder and output bags, all checked before any is cleared or created.

    Returns:
        The report folder (created, marked as this run's partial output) and the output bag
        paths ('' for none).
    """
    report = claim(args.report, PROG, inputs, overwrite=args.overwrite, option='--report')
    outputs = _output_paths(args, inputs) if bags else []
    for item in (report, *outputs):
        if item is not None:
            item.apply()
    report.path.mkdir(parents=True, exist_ok=True)
    mark(report.path, PROG, 'partial')
    return report.path, [str(o.path) if o is not None else '' for o in outputs]


def _output_paths(args: argparse.Namespace, inputs: list[str]) -> list[Claim | None]:
    if args.no_output_bag:
        return [None] * len(args.bags)
    if args.output_bag:
        if len(args.bags) != 1:
            raise ConfigError('--output-bag names one bag; with several inputs leave it out')
        paths = [Path(args.output_bag)]
    else:
        names: Counter[str] = Counter()
        paths = []
        for bag in args.bags:
            stem = Path(bag).resolve().name.removesuffix(Path(bag).suffix) or 'bag'
            names[stem] += 1
            suffix = f'_{names[stem]}' if names[stem] > 1 else ''
            paths.append(Path(args.report) / 'bags' / f'{stem}{suffix}')
    option = '--output-bag' if args.output_bag else 'output bag'
    return [claim(path, PROG, inputs, overwrite=args.overwrite, option=option, whole=True)
            for path in paths]


def _in_report(report: Path, paths: Sequence[str]) -> list[str]:
    """``paths`` that lie in ``report``, relative to it (what its marker lists)."""
    root = report.resolve()
    return [str(Path(p).resolve().relative_to(root)) for p in paths
            if p and root in Path(p).resolve().parents]


def _mark_interrupted(report: Path, outputs: Sequence[str]) -> None:
    """Leave a report folder that says the run stopped early and which bags are partial."""
    partial = [p for p in outputs if p and Path(p).exists()]
    lines = ['# Offline evaluation (interrupted)', '',
             'The run was interrupted before it finished; no metrics were computed.']
    if partial:
        lines += ['', 'Partial output bags (readable, marked partial):', '',
                  *[f'- `{p}`' for p in partial]]
    (report / 'summary.md').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    mark(report, PROG, 'partial', ['summary.md', *_in_report(report, partial)])
    for path in partial:
        print(f'{PROG}: partial output bag kept: {path}', file=sys.stderr)


def _image_count(bags: Sequence[str], names: set[str], max_frames: int) -> int:
    total = 0
    for bag in bags:
        try:
            with BagReader(bag) as reader:
                count = sum(t.count for t in reader.topics.values()
                            if t.msgtype in IMAGE_TYPES and (not names or t.name in names))
        except BagError:
            count = 0  # the run reports it
        total += min(count, max_frames) if max_frames else count
    return total


def _latency(results: Sequence[BagResult]) -> tuple[dict[str, NDArray[np.float64]], float]:
    stages = {k for r in results for k in r.times}
    samples = {k: np.concatenate([np.asarray(r.times.get(k, []), np.float64) for r in results])
               for k in stages}
    return samples, sum(r.wall_seconds for r in results)


def _accuracy(
    frames: list[Frame], truth: GroundTruth, index: ClassIndex,
) -> tuple[CocoResult | None, dict[str, Any] | None]:
    if not len(truth):
        return None, None
    images, missing = [], 0
    for frame in frames:
        gt = truth.lookup(frame.key)
        if gt is None:
            missing += 1
            continue
        images.append(EvalImage(frame.width, frame.height, index.detections(gt),
                                frame.detections))
    coco = coco_map(images, index)
    out = coco.as_dict() | {'frames_without_ground_truth': missing,
                            'ground_truth_without_frame': truth.unmatched}
    return coco, out


def _identity(
    results: Sequence[BagResult], truth: GroundTruth, index: ClassIndex,
) -> IdentityResult | None:
    """Identity figures per image topic of each bag, where a tracker ran and truth has IDs."""
    sequences = []
    for result in results:
        per_camera: dict[str, list[TrackedFrame]] = {}
        for frame in result.frames:
            gt = truth.lookup(frame.key)
            if frame.detections.track_ids is not None and gt is not None:
                per_camera.setdefault(frame.camera, []).append(TrackedFrame(frame.detections, gt))
        sequences += [(f'{result.bag}:{camera}', frames) for camera, frames in per_camera.items()]
    return identity_metrics(sequences, index)


def _pair_topics(a: dict[str, Any], b: dict[str, Any], where: str) -> list[tuple[str, str]]:
    common = sorted(set(a) & set(b))
    if common:
        return [(t, t) for t in common]
    if len(a) == 1 and len(b) == 1:
        return [(next(iter(a)), next(iter(b)))]
    msg = f'no Detection2DArray topics to pair in {where}: {sorted(a)!r} vs {sorted(b)!r}'
    raise BagError(msg)


def _compare_bags(path_a: str, path_b: str, index: ClassIndex, iou: float,
                  problems: list[str]) -> Comparison:
    a, problems_a = read_detections(path_a)
    b, problems_b = read_detections(path_b)
    problems += problems_a + problems_b
    pairs = _pair_topics(a, b, f'{path_a!r} and {path_b!r}')
    src_a = {(ta, *k): index.detections(v) for ta, _ in pairs for k, v in a[ta].items()}
    src_b = {(ta, *k): index.detections(v) for ta, tb in pairs for k, v in b[tb].items()}
    return compare_sources(src_a, src_b, names=(path_a, path_b), iou_threshold=iou)


def _rerun_comparison(
    args: argparse.Namespace, results: list[BagResult], index: ClassIndex,
    problems: list[str],
) -> Comparison | None:
    if not args.compare_with:
        return None
    rerun = {(f.camera, *f.key): f.detections for r in results for f in r.frames}
    if Path(args.compare_with).exists():
        other, found = read_detections(args.compare_with)
        problems += found
        cameras = sorted({c.detections_topic for r in results for c in r.cameras})
        pairs = _pair_topics(dict.fromkeys(cameras), other, f'{args.compare_with!r}')
        ref = {(mine, *k): index.detections(v) for mine, theirs in pairs
               for k, v in other[theirs].items()}
        name = args.compare_with
    else:
        ref = {k: index.detections(v) for r in results for k, v in r.recorded.items()}
        name = 'recorded'
    return compare_sources(ref, rerun, names=(name, 'rerun'), iou_threshold=args.iou_threshold)


def _run_compare(args: argparse.Namespace) -> int:
    index = ClassIndex()
    problems: list[str] = []
    path_a, path_b = args.compare
    report, _ = _claim_outputs(args, _inputs(args, {}), bags=False)
    cmp = _compare_bags(path_a, path_b, index, args.iou_threshold, problems)
    metrics = {'comparisons': [cmp.as_dict(index.name)], 'problems': problems}
    files = write_report(report, metrics, comparisons=[cmp], class_name=index.name)
    mark(report, PROG, 'complete', list(files))
    print(f'{PROG}: {cmp.summary()}; report {files["summary.md"]}')
    return 0 if cmp.frames else 1


def _run(args: argparse.Namespace) -> int:
    if args.compare:
        return _run_compare(args)
    if not args.bags:
        raise ConfigError('give at least one bag, or --compare BAG_A BAG_B')
    params = load_params(args)
    cameras = plan_node_cameras(params, args.image_topic, node_names(args))
    truth_json = load_coco_json(args.gt_json) if args.gt_json else None
    recorded = ''
    if args.compare_with and not Path(args.compare_with).exists():
        recorded = args.compare_with
    report, outputs = _claim_outputs(args, _inputs(args, params))
    jobs = [BagJob(bag, out, args.storage, cameras, tuple(args.gt_topic), recorded,
                   args.max_frames)
            for bag, out in zip(args.bags, outputs, strict=True)]
    total = _image_count(args.bags, {c.image_topic for c in cameras}, args.max_frames)
    started = time.perf_counter()
    try:
        with tqdm(total=total, unit='frame', disable=args.no_progress, desc=PROG) as bar:
            results, pipeline, labels = evaluate_bags(params, jobs, args.workers, bar.update,
                                                      log=tqdm.write)
    except KeyboardInterrupt:
        _mark_interrupted(report, outputs)
        raise
    elapsed = time.perf_counter() - started
    ok = [r for r in results if not r.error]
    index = ClassIndex(labels)
    frames = [f for r in ok for f in r.frames]
    truth = GroundTruth()
    for r in ok:
        truth.update(r.ground_truth)
    if truth_json is not None:
        truth.update(truth_json)
    samples, loop_seconds = _latency(ok)
    coco, accuracy = _accuracy(frames, truth, index)
    identity = _identity(ok, truth, index)
    problems: list[str] = []
    cmp = _rerun_comparison(args, ok, index, problems)
    metrics = {
        'pipeline': pipeline,
        'params': params,
        'bags': [{'bag': r.bag, 'output': r.output, 'error': r.error, 'counts': dict(r.counts),
                  'problems': r.problems, 'cameras': [vars(c) for c in r.cameras]}
                 for r in results],
        'latency': latency_summary(samples, loop_seconds) | {
            'elapsed_seconds': elapsed, 'overall_fps': len(frames) / elapsed if elapsed else 0},
        'class_counts': class_counts((f.detections for f in frames), index),
        'accuracy': accuracy,
        'identity': identity.as_dict() if identity else None,
        'comparisons': [cmp.as_dict(index.name)] if cmp else [],
        'problems': problems,
    }
    files = write_report(report, metrics, latency=samples, coco=coco,
                         comparisons=[cmp] if cmp else [], class_name=index.name)
    mark(report, PROG, 'complete', [*files, *_in_report(report, [r.output for r in results])])
    skipped = sum(sum(v for k, v in r.counts.items() if k in (
        'undeserialisable', 'undecodable', 'inference_errors')) for r in ok)
    print(f'{PROG}: {len(frames)} frames from {len(ok)} of {len(results)} bags, '
          f'{skipped} skipped; report {files["summary.md"]}')
    if accuracy:
        print(f'{PROG}: mAP@0.5 {accuracy["map50"]}, mAP@0.5:0.95 {accuracy["map50_95"]}')
    if identity:
        print(f'{PROG}: tracking {identity.line()}')
    if cmp:
        print(f'{PROG}: {cmp.summary()}', file=sys.stdout if cmp.frames else sys.stderr)
    for r in results:
        if r.error:
            print(f'{PROG}: error: {r.error}', file=sys.stderr)
    if ok and not frames:
        print(f'{PROG}: error: no image could be processed; see {files["summary.md"]}',
              file=sys.stderr)
    compared_nothing = cmp is not None and not cmp.frames
    return 1 if len(ok) < len(results) or not frames or compared_nothing else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(name)s: %(message)s')
    try:
        return _run(args)
    except EdgeInferError as err:
        print(f'{PROG}: error: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'{PROG}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
