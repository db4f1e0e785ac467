"""The report folder of an evaluation: metrics.json, PNG plots and a Markdown summary.

Plots use matplotlib's object API (``Figure``, Agg canvas) rather than ``pyplot``, so nothing
depends on a display or on global figure state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import csv
import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.eval.compare import Comparison
from edge_infer_ros.eval.metrics import LATENCY_STAGES, CocoResult

__all__ = ['write_report']

_MAX_CURVES = 20
_MAX_ROWS = 15
_MAX_PROBLEMS = 5
_FRAME_KINDS = ('undeserialisable', 'undecodable', 'inference_errors')
_SKIP_KINDS = ('undeserialisable', 'undecodable', 'inference_errors', 'read_errors',
               'unreadable_topics', 'ground_truth_undecodable', 'recorded_undecodable')


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _latency_plot(path: Path, samples: Mapping[str, NDArray[np.float64]]) -> None:
    stages = [s for s in LATENCY_STAGES if len(samples.get(s, ())) > 0]
    fig = Figure(figsize=(4.0 * len(stages), 3.2), layout='constrained')
    for ax, stage in zip(fig.subplots(1, len(stages), squeeze=False)[0], stages, strict=True):
        values = np.asarray(samples[stage], np.float64)
        ax.hist(values, bins=min(50, max(5, values.size // 4)), color='tab:blue')
        ax.axvline(float(np.percentile(values, 50)), color='k', linestyle='--', label='p50')
        ax.axvline(float(np.percentile(values, 99)), color='tab:red', linestyle=':', label='p99')
        ax.set_title(stage)
        ax.set_xlabel('ms')
    fig.axes[0].set_ylabel('frames')
    fig.axes[0].legend()
    fig.savefig(path, dpi=100)


def _pr_plot(path: Path, coco: CocoResult) -> None:
    fig = Figure(figsize=(6.4, 4.8), layout='constrained')
    ax = fig.subplots()
    ranked = sorted(coco.pr_curves, key=lambda n: -coco.per_class[n]['ground_truth'])
    for name in ranked[:_MAX_CURVES]:
        recall, precision = coco.pr_curves[name]
        ap = coco.per_class[name]['ap50']
        ax.plot(recall, precision, label=f'{name} (AP50 {ap:.3f})' if ap is not None else name)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_title('Precision/recall at IoU 0.5 (COCO interpolated)')
    ax.legend(fontsize='small', loc='lower left')
    fig.savefig(path, dpi=100)


def _agreement_plot(path: Path, comparisons: Sequence[Comparison]) -> None:
    fig = Figure(figsize=(11.0, 3.2 * len(comparisons)), layout='constrained')
    axes = fig.subplots(len(comparisons), 2, squeeze=False)
    for (left, right), cmp in zip(axes, comparisons, strict=True):
        left.plot(cmp.per_frame_agreement, '.', markersize=3)
        left.set_ylim(-0.05, 1.05)
        left.set_xlabel('frame (by stamp)')
        left.set_ylabel('agreement')
        value = 'no common frames' if cmp.agreement is None else f'{cmp.agreement:.3f}'
        left.set_title(f'{cmp.name_b} vs {cmp.name_a}: {value}')
        if cmp.score_deltas:
            right.hist(cmp.score_deltas, bins=40, color='tab:orange')
        right.set_xlabel(f'score delta ({cmp.name_b} - {cmp.name_a}), matched pairs')
        right.set_ylabel('detections')
    fig.savefig(path, dpi=100)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def _summary(metrics: Mapping[str, Any], files: Mapping[str, str]) -> str:
    lines = ['# Offline evaluation', '']
    pipe = metrics.get('pipeline', {})
    if pipe:
        lines += [f"Model `{pipe.get('model', '?')}` on {pipe.get('active_providers', '?')} "
                  f"(precision {pipe.get('precision_effective', '?')}, input "
                  f"{pipe.get('input', '?')}, format {pipe.get('output_format', '?')}).", '']
    lines += ['| bag | images | processed | frames skipped | output | error |',
              '|---|---|---|---|---|---|']
    problems = []
    for bag in metrics.get('bags', []):
        counts = bag.get('counts', {})
        skipped = {k: v for k, v in counts.items() if k in _SKIP_KINDS and v}
        lines.append(f"| `{bag['bag']}` | {counts.get('images', 0)} | "
                     f"{counts.get('processed', 0)} | "
                     f"{sum(v for k, v in skipped.items() if k in _FRAME_KINDS)} | "
                     f"`{bag.get('output') or '-'}` | {bag.get('error') or ''} |")
        if skipped:
            kinds = ', '.join(f'{k.replace("_", " ")}: {v}' for k, v in skipped.items())
            problems.append(f"- `{bag['bag']}`: {kinds}")
            problems += [f'  - {text}' for text in bag.get('problems', [])[:_MAX_PROBLEMS]]
    if problems:
        lines += ['', '## Skipped records', '', *problems]
    latency = metrics.get('latency')
    if latency and latency.get('stages'):
        lines += ['', '## Latency (ms)', '', '| stage | mean | p50 | p90 | p99 | max |',
                  '|---|---|---|---|---|---|']
        for stage, s in latency['stages'].items():
            lines.append(f"| {stage} | {s['mean']:.2f} | {s['p50']:.2f} | {s['p90']:.2f} | "
                         f"{s['p99']:.2f} | {s['max']:.2f} |")
        lines += ['', f"{latency['frames']} frames; {latency['throughput_fps']:.1f} frames/s "
                  f"end to end over {latency['wall_seconds']:.1f} s of processing, "
                  f"{latency['pipeline_fps']:.1f} frames/s for the pipeline alone."]
    counts = metrics.get('class_counts', {})
    if counts:
        top = ', '.join(f'{k}: {v}' for k, v in list(counts.items())[:_MAX_ROWS])
        lines += ['', '## Detections per class', '', top]
    acc = metrics.get('accuracy')
    if acc:
        lines += ['', '## Accuracy (COCO bbox)', '',
                  f"mAP@0.5 **{_fmt(acc['map50'])}**, mAP@0.5:0.95 **{_fmt(acc['map50_95'])}** "
                  f"over {acc['images']} annotated frames "
                  f"({acc.get('frames_without_ground_truth', 0)} frames had no ground truth"
                  + (f"; {acc['images_over_detection_cap']} frames had more than COCO's 100 "
                     'detections, only their best 100 were scored'
                     if acc.get('images_over_detection_cap') else '') + ').',
                  '', '| class | AP50 | AP50:95 | ground truth | detections |',
                  '|---|---|---|---|---|']
        ranked = sorted(acc['per_class'].items(), key=lambda kv: -kv[1]['ground_truth'])
        for name, c in ranked[:_MAX_ROWS]:
            lines.append(f"| {name} | {_fmt(c['ap50'])} | {_fmt(c['ap50_95'])} | "
                         f"{c['ground_truth']} | {c['detections']} |")
    lines += _identity_lines(metrics.get('identity'))
    for cmp in metrics.get('comparisons', []):
        if cmp['agreement'] is None:
            lines += ['', f"## {cmp['name_b']} vs {cmp['name_a']}", '',
                      f"**No common frames**: nothing was compared ({cmp['frames_only_a']} "
                      f"frames only in {cmp['name_a']}, {cmp['frames_only_b']} only in "
                      f"{cmp['name_b']}; frames pair by header stamp and frame_id)."]
            continue
        lines += ['', f"## {cmp['name_b']} vs {cmp['name_a']}", '',
                  f"Agreement **{cmp['agreement']:.3f}** (same class, IoU >= "
                  f"{cmp.get('iou_threshold', 0.5)}): {cmp['matched']} matched of "
                  f"{cmp['detections_a']} / {cmp['detections_b']} detections over "
                  f"{cmp['frames']} common frames; {cmp['disagreeing_frames']} frames disagree; "
                  f"{cmp['frames_only_a']} frames only in {cmp['name_a']}, "
                  f"{cmp['frames_only_b']} only in {cmp['name_b']}. "
                  f"Score delta {_fmt(cmp['score_delta'].get('mean'))} mean, "
                  f"{_fmt(cmp['score_delta'].get('max_abs'))} max abs; box edges "
                  f"{_fmt(cmp['box_delta_px'].get('mean_abs'), 2)} px mean abs."]
        for diff in cmp['disagreements'][:5]:
            lines.append(f"- frame {diff['key']}: {diff['count_a']} vs {diff['count_b']}, "
                         f"{diff['matched']} matched")
    if files:
        lines += ['', '## Files', ''] + [f'- [{name}]({name})' for name in sorted(files)]
    return '\n'.join(lines) + '\n'


def _identity_lines(ident: dict[str, Any] | None) -> list[str]:
    """The tracking section of summary.md (nothing without a tracker and ground-truth IDs)."""
    if not ident:
        return []
    figures = (f"IDF1 **{_fmt(ident['idf1'])}**, ID switches **{ident['id_switches']}**, "
               f"MOTA **{_fmt(ident['mota'])}** (IDP {_fmt(ident['idp'])}, IDR "
               f"{_fmt(ident['idr'])})")
    return ['', '## Tracking (identity)', '',
            f"{figures} over {ident['objects']} ground-truth objects in {ident['frames']} "
            f"frames of {len(ident['sequences'])} sequence(s): {ident['false_positives']} false, "
            f"{ident['misses']} missed, {ident['mostly_tracked']} mostly tracked, "
            f"{ident['mostly_lost']} mostly lost, {ident['fragmentations']} fragmentations "
            '(motmetrics; same class, IoU >= 0.5; detections without a track ID left out).']


def write_report(
    folder: str | Path,
    metrics: Mapping[str, Any],
    *,
    latency: Mapping[str, NDArray[np.float64]] | None = None,
    coco: CocoResult | None = None,
    comparisons: Sequence[Comparison] = (),
    class_name: Callable[[int], str] = str,
) -> dict[str, str]:
    """Write the report files into ``folder`` (created); return name -> path of each.

    ``class_name`` turns the class ids of disagreeing detections into readable names.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if latency and any(len(v) for v in latency.values()):
        _latency_plot(out / 'latency_histogram.png', latency)
        files['latency_histogram.png'] = str(out / 'latency_histogram.png')
    if coco is not None and coco.pr_curves:
        _pr_plot(out / 'precision_recall.png', coco)
        files['precision_recall.png'] = str(out / 'precision_recall.png')
    if comparisons:
        _agreement_plot(out / 'agreement.png', comparisons)
        files['agreement.png'] = str(out / 'agreement.png')
        with (out / 'disagreements.csv').open('w', newline='', encoding='utf-8') as handle:
            writer = csv.writer(handle)
            writer.writerow(['source_a', 'source_b', 'frame', 'count_a', 'count_b', 'matched',
                             'only_a_classes', 'only_b_classes'])
            for cmp in comparisons:
                for d in cmp.disagreements:
                    writer.writerow([cmp.name_a, cmp.name_b, d.key, d.count_a, d.count_b,
                                     d.matched, ' '.join(map(class_name, d.only_a)),
                                     ' '.join(map(class_name, d.only_b))])
        files['disagreements.csv'] = str(out / 'disagreements.csv')
    files['metrics.json'] = str(out / 'metrics.json')
    files['summary.md'] = str(out / 'summary.md')
    (out / 'metrics.json').write_text(
        json.dumps(metrics, indent=2, default=_json_default) + '\n', encoding='utf-8')
    (out / 'summary.md').write_text(_summary(metrics, files), encoding='utf-8')
    return files
