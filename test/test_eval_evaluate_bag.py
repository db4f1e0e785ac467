"""``evaluate_bag`` end to end through ``main(argv)`` on bags the tests write."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
import re
from typing import Any

from bag_fixtures import FrameSpec, pixel_detector, random_frames, write_bag, write_params
import numpy as np
import pytest

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.eval.bag_io import BagReader
from edge_infer_ros.eval.evaluate_bag import main
from edge_infer_ros.eval.messages import frame_key


@pytest.fixture(scope='module')
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('model')
    return write_params(root / 'params.yaml', pixel_detector(root / 'pixel.onnx'), root / 'cache')


def _run(params: Path, report: Path, *args: str) -> tuple[int, dict[str, Any]]:
    rc = main([*args, '--params-file', str(params), '--report', str(report), '--no-progress'])
    metrics = report / 'metrics.json'
    return rc, json.loads(metrics.read_text()) if metrics.exists() else {}


def _headers(bag: Path, topic: str) -> list[tuple[int, tuple[int, str]]]:
    with BagReader(bag) as reader:
        return [(stamp, frame_key(reader.deserialize(t, raw).header))
                for t, stamp, raw in reader.messages([topic])]


@pytest.mark.parametrize(('storage', 'compressed'), [('mcap', False), ('sqlite3', True)])
def test_perfect_detections_and_output_bag(params: Path, tmp_path: Path, storage: str,
                                           compressed: bool) -> None:
    frames = random_frames(8)
    topic = '/front/image_raw/compressed' if compressed else '/front/image_raw'
    bag = write_bag(tmp_path / 'bag', frames, storage=storage, image_topic=topic,
                    compressed=compressed)
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag), '--gt-topic', '/ground_truth',
                       '--storage', storage)
    assert rc == 0
    assert metrics['accuracy']['map50'] == pytest.approx(1.0)
    assert metrics['accuracy']['map50_95'] == pytest.approx(1.0)
    assert metrics['latency']['frames'] == 8
    assert set(metrics['latency']['stages']) == {'decode', 'preprocess', 'inference',
                                                 'postprocess', 'total'}
    assert sum(metrics['class_counts'].values()) == sum(len(f.truth) for f in frames)
    out = report / 'bags' / 'bag'
    assert next(out.glob('*.mcap' if storage == 'mcap' else '*.db3'))
    assert _headers(out, '/front/detections') == _headers(bag, topic)  # stamps and frame ids
    for name in ('summary.md', 'latency_histogram.png', 'precision_recall.png'):
        assert (report / name).stat().st_size > 0
    assert 'mAP@0.5 **1.000**' in (report / 'summary.md').read_text()


def test_perturbed_ground_truth_lowers_map(params: Path, tmp_path: Path) -> None:
    frames = random_frames(8)
    moved = [replace(f, annotated=Detections(f.truth.boxes + 4.0, f.truth.scores,
                                             f.truth.class_ids)) if i % 2 else f
             for i, f in enumerate(frames)]
    bag = write_bag(tmp_path / 'bag', moved)
    rc, metrics = _run(params, tmp_path / 'report', str(bag), '--gt-topic', 'ground_truth',
                       '--no-output-bag')
    assert rc == 0
    assert metrics['accuracy']['map50_95'] < 0.9
    assert metrics['accuracy']['map50'] < 1.0


def test_corrupt_frames_are_counted_and_skipped(params: Path, tmp_path: Path) -> None:
    frames = random_frames(6)
    frames[1] = replace(frames[1], corrupt='cdr')
    frames[4] = replace(frames[4], corrupt='pixels')
    bag = write_bag(tmp_path / 'bag', frames, unknown_topic=True)
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag))
    assert rc == 0
    counts = metrics['bags'][0]['counts']
    assert counts['images'] == 6 and counts['processed'] == 4
    assert counts['undeserialisable'] == 1 and counts['undecodable'] == 1
    assert counts['unreadable_topics'] == 1
    assert len(_headers(report / 'bags' / 'bag', '/front/detections')) == 4
    summary = (report / 'summary.md').read_text()
    assert 'undeserialisable: 1, undecodable: 1' in summary and '/weird' in summary


def test_compare_with_recorded_detections(params: Path, tmp_path: Path) -> None:
    frames = random_frames(8)
    planted = {2, 6}
    frames = [replace(f, recorded=f.truth.select(slice(1, None))) if i in planted else f
              for i, f in enumerate(frames)]
    bag = write_bag(tmp_path / 'bag', frames, recorded_topic='/front/detections')
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag), '--compare-with', 'recorded')
    assert rc == 0
    [cmp] = metrics['comparisons']
    assert cmp['name_a'] == 'recorded' and cmp['name_b'] == 'rerun'
    assert cmp['frames'] == 8 and cmp['disagreeing_frames'] == 2
    assert {d['key'][1] for d in cmp['disagreements']} == {frames[i].stamp_ns for i in planted}
    assert (report / 'agreement.png').exists()
    assert (report / 'disagreements.csv').read_text().count('\n') == 3
    rc, metrics = _run(params, tmp_path / 'by_topic', str(bag), '--compare-with',
                       '/front/detections', '--no-output-bag')
    assert rc == 0 and metrics['comparisons'][0]['disagreeing_frames'] == 2


def test_node_names_and_remaps_name_outputs_like_the_live_node(params: Path,
                                                                 tmp_path: Path) -> None:
    """The README's launch pattern: `namespace:=front image_topic:=/cam/image_raw`."""
    frames = random_frames(6)
    bag = write_bag(tmp_path / 'bag', frames, image_topic='/cam/image_raw',
                    recorded_topic='/front/detections')
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag), '--node-name', '/front/detector',
                       '-r', 'image_raw:=/cam/image_raw', '--compare-with', 'recorded')
    assert rc == 0
    [camera] = metrics['bags'][0]['cameras']
    assert (camera['image_topic'], camera['detections_topic']) == (
        '/cam/image_raw', '/front/detections')
    assert len(_headers(report / 'bags' / 'bag', '/front/detections')) == 6
    [cmp] = metrics['comparisons']
    assert cmp['frames'] == 6 and cmp['agreement'] == 1.0


def test_without_the_remap_the_missing_topic_is_named_with_the_fix(
        params: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(2), image_topic='/cam/image_raw')
    rc, _ = _run(params, tmp_path / 'report', str(bag), '--node-name', '/front/detector')
    assert rc == 1
    err = capsys.readouterr().err
    assert "image topic '/front/image_raw'" in err and '-r image_raw:=' in err


def test_no_common_frames_is_no_agreement_and_fails(params: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Recorded detections whose headers match no image compare nothing: never 1.000."""
    frames = random_frames(4)
    bag = write_bag(tmp_path / 'bag', frames)
    other = write_bag(tmp_path / 'other', random_frames(4, start_ns=1))
    report = tmp_path / 'report'
    assert _run(params, tmp_path / 'first', str(other))[0] == 0
    rc, metrics = _run(params, report, str(bag), '--no-output-bag', '--compare-with',
                       str(tmp_path / 'first' / 'bags' / 'other'))
    assert rc == 1
    [cmp] = metrics['comparisons']
    assert cmp['frames'] == 0 and cmp['agreement'] is None
    out = capsys.readouterr()
    assert 'no common frames' in out.err and '1.000' not in out.out + out.err
    assert '**No common frames**' in (report / 'summary.md').read_text()


def test_compare_two_runs(params: Path, tmp_path: Path) -> None:
    frames = random_frames(10)
    bag = write_bag(tmp_path / 'bag', frames)
    assert _run(params, tmp_path / 'loose', str(bag))[0] == 0
    assert _run(params, tmp_path / 'strict', str(bag), '-p', 'confidence_threshold:=0.8')[0] == 0
    report = tmp_path / 'cmp'
    rc = main(['--compare', str(tmp_path / 'loose' / 'bags' / 'bag'),
               str(tmp_path / 'strict' / 'bags' / 'bag'), '--report', str(report)])
    assert rc == 0
    cmp = json.loads((report / 'metrics.json').read_text())['comparisons'][0]
    expected = sum(bool((f.truth.scores < 0.8).any()) for f in frames)
    assert cmp['disagreeing_frames'] == expected > 0
    assert cmp['detections_b'] == sum(int((f.truth.scores >= 0.8).sum()) for f in frames)
    rc, metrics = _run(params, tmp_path / 'rerun', str(bag), '--compare-with',
                       str(tmp_path / 'strict' / 'bags' / 'bag'), '--no-output-bag')
    assert rc == 0
    [rerun] = metrics['comparisons']
    assert rerun['disagreeing_frames'] == expected and rerun['name_b'] == 'rerun'


def test_coco_json_ground_truth(params: Path, tmp_path: Path) -> None:
    frames = random_frames(5)
    bag = write_bag(tmp_path / 'bag', frames, gt_topic='')
    images, annotations = [], []
    for i, spec in enumerate(frames, start=1):
        images.append({'id': i, 'file_name': f'{spec.stamp_ns}.png', 'width': 64, 'height': 64})
        for box, cid in zip(spec.truth.boxes.tolist(), spec.truth.class_ids.tolist(),
                            strict=True):
            annotations.append({'id': len(annotations) + 1, 'image_id': i, 'category_id': cid + 1,
                                'bbox': [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    categories = [{'id': 1, 'name': 'person'}, {'id': 2, 'name': 'car'}, {'id': 3, 'name': 'dog'}]
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps({'images': images, 'annotations': annotations,
                              'categories': categories}))
    rc, metrics = _run(params, tmp_path / 'report', str(bag), '--gt-json', str(gt),
                       '--no-output-bag')
    assert rc == 0
    assert metrics['accuracy']['map50_95'] == pytest.approx(1.0)
    assert metrics['accuracy']['images'] == 5


def test_several_bags_in_a_process_pool(params: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    first = write_bag(tmp_path / 'a.mcap_bag', random_frames(4, seed=1))
    second = write_bag(tmp_path / 'b', random_frames(3, seed=2, start_ns=2_000_000_000),
                       storage='sqlite3')
    (tmp_path / 'junk.txt').write_text('not a bag')
    rc, metrics = _run(params, tmp_path / 'report', str(first), str(second),
                       str(tmp_path / 'junk.txt'), '--workers', '2', '--gt-topic', 'ground_truth')
    assert rc == 1  # one input was unusable; the others still count
    assert 'junk.txt' in capsys.readouterr().err
    assert [b['counts'].get('processed', 0) for b in metrics['bags']] == [4, 3, 0]
    assert 'neither a rosbag2 folder' in metrics['bags'][2]['error']
    assert metrics['accuracy']['map50'] == pytest.approx(1.0)
    assert len(_headers(tmp_path / 'report' / 'bags' / 'b', '/front/detections')) == 3


@pytest.mark.parametrize(('args', 'match'), [
    (['missing_bag'], 'does not exist'),
    (['BAG', '-p', 'confidence_treshold:=0.3'], "did you mean 'confidence_threshold'"),
    (['BAG', '--image-topic', '/nope'], "image topic '/nope' of bag .* is not in it"),
    (['BAG', '--gt-topic', '/front/image_raw'], 'is not a readable Detection2DArray topic'),
    ([], 'give at least one bag'),
])
def test_errors_exit_non_zero_with_a_message(
    params: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    match: str,
) -> None:
    bag = write_bag(tmp_path / 'bag', [FrameSpec(1, Detections.empty())])
    argv = [str(bag) if a == 'BAG' else str(tmp_path / a) if a == 'missing_bag' else a
            for a in args]
    rc, _ = _run(params, tmp_path / 'report', *argv)
    assert rc == 1
    err = capsys.readouterr().err
    assert 'evaluate_bag: error:' in err
    assert any(re.search(match, line) for line in err.splitlines())


def test_existing_output_needs_overwrite(params: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(2))
    report = tmp_path / 'report'
    assert _run(params, report, str(bag))[0] == 0
    assert _run(params, report, str(bag))[0] == 1
    assert 'pass --overwrite' in capsys.readouterr().err
    rc, metrics = _run(params, report, str(bag), '--overwrite')
    assert rc == 0 and metrics['bags'][0]['counts']['processed'] == 2
    assert np.isfinite(metrics['latency']['throughput_fps'])


def _crossing(count: int, start_ns: int = 1_700_000_000_000_000_000) -> list[FrameSpec]:
    """Two boxes passing each other in a 64x64 image, 100 ms apart; ground-truth IDs 7 and 9."""
    frames = []
    for i in range(count):
        boxes = [[4 + 2 * i, 8, 20 + 2 * i, 24], [44 - 2 * i, 30, 60 - 2 * i, 46]]
        truth = Detections(boxes, [0.9, 0.8], [0, 1], track_ids=[7, 9])
        frames.append(FrameSpec(start_ns + i * 100_000_000, truth))
    return frames


def _track_ids(bag: Path) -> list[list[str]]:
    with BagReader(bag) as reader:
        return [[d.id for d in reader.deserialize(t, raw).detections]
                for t, _, raw in reader.messages(['/front/detections'])]


def test_tracking_ids_in_the_output_bag_and_identity_figures(
    params: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    bag = write_bag(tmp_path / 'bag', _crossing(15))
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag), '--gt-topic', '/ground_truth',
                       '-p', 'tracker:=bytetrack')
    assert rc == 0
    assert _track_ids(report / 'bags' / 'bag') == [['1', '2']] * 15
    identity = metrics['identity']
    assert identity['idf1'] == pytest.approx(1.0)
    assert identity['mota'] == pytest.approx(1.0)
    assert (identity['id_switches'], identity['objects'], identity['frames']) == (0, 2, 15)
    assert identity['sequences'] == [f'{bag}:/front/detections']
    assert 'IDF1 **1.000**, ID switches **0**' in (report / 'summary.md').read_text()
    assert 'evaluate_bag: tracking IDF1 1.000, ID switches 0, MOTA 1.000' in (
        capsys.readouterr().out)


def test_without_a_tracker_ids_stay_empty_and_no_identity_is_reported(
    params: Path, tmp_path: Path,
) -> None:
    bag = write_bag(tmp_path / 'bag', _crossing(3))
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(bag), '--gt-topic', '/ground_truth')
    assert rc == 0
    assert _track_ids(report / 'bags' / 'bag') == [['', '']] * 3
    assert metrics['identity'] is None


def test_each_bag_is_tracked_from_scratch_and_ids_stay_unique(params: Path,
                                                              tmp_path: Path) -> None:
    """Two recordings of the same stamps (a replayed bag): tracks restart, IDs do not repeat."""
    first = write_bag(tmp_path / 'a', _crossing(5))
    second = write_bag(tmp_path / 'b', _crossing(5))
    report = tmp_path / 'report'
    rc, metrics = _run(params, report, str(first), str(second), '--gt-topic', '/ground_truth',
                       '-p', 'tracker:=bytetrack')
    assert rc == 0
    assert _track_ids(report / 'bags' / 'a') == [['1', '2']] * 5
    assert _track_ids(report / 'bags' / 'b') == [['3', '4']] * 5
    assert metrics['identity']['id_switches'] == 0
    assert len(metrics['identity']['sequences']) == 2
