"""COCO mAP through faster-coco-eval, latency summaries, COCO JSON ground truth, comparison."""

from __future__ import annotations

import json
from pathlib import Path

from bag_fixtures import LABELS, random_frames
import numpy as np
import pytest

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import BagError
from edge_infer_ros.eval.compare import compare_sources
from edge_infer_ros.eval.ground_truth import load_coco_json
from edge_infer_ros.eval.messages import ClassIndex
from edge_infer_ros.eval.metrics import EvalImage, coco_map, latency_summary


def _images(truths: list[Detections], dets: list[Detections]) -> list[EvalImage]:
    return [EvalImage(64, 64, t, d) for t, d in zip(truths, dets, strict=True)]


def test_perfect_detections_score_one() -> None:
    truths = [f.truth for f in random_frames(8)]
    result = coco_map(_images(truths, truths), ClassIndex(LABELS))
    assert result.map50 == pytest.approx(1.0)
    assert result.map50_95 == pytest.approx(1.0)
    assert set(result.per_class) <= set(LABELS)
    for stats in result.per_class.values():
        assert stats['ap50'] == pytest.approx(1.0)
        assert stats['ground_truth'] == stats['detections']
    recall, precision = next(iter(result.pr_curves.values()))
    assert len(recall) == len(precision) == 101


def test_perturbations_lower_the_score() -> None:
    truths = [f.truth for f in random_frames(8)]
    index = ClassIndex(LABELS)
    shifted = [Detections(t.boxes + 3.0, t.scores, t.class_ids) for t in truths]
    result = coco_map(_images(truths, shifted), index)
    assert result.map50_95 < 0.9  # 3 px off on 8..24 px boxes fails the strict IoUs
    missing = [t.select(slice(1, None)) for t in truths]  # drop the best box of every frame
    assert coco_map(_images(truths, missing), index).map50 < 1.0
    wrong = [Detections(t.boxes, t.scores, (t.class_ids + 1) % 3) for t in truths]
    assert coco_map(_images(truths, wrong), index).map50 < 0.5


def test_no_detections_score_zero_and_no_truth_scores_none() -> None:
    truths = [f.truth for f in random_frames(3)]
    empty = [Detections.empty()] * 3
    assert coco_map(_images(truths, empty), ClassIndex(LABELS)).map50 == 0.0
    result = coco_map(_images(empty, truths), ClassIndex(LABELS))
    assert result.map50 is None
    assert coco_map([], ClassIndex(LABELS)).map50 is None


def test_latency_summary() -> None:
    samples = {'total': np.arange(1, 101, dtype=float), 'inference': np.full(100, 0.5)}
    out = latency_summary(samples, wall_seconds=2.0)
    assert out['frames'] == 100
    assert out['throughput_fps'] == pytest.approx(50.0)
    assert out['stages']['total']['p50'] == pytest.approx(50.5)
    assert out['stages']['inference']['max'] == 0.5
    assert out['pipeline_fps'] == pytest.approx(1000.0 / 50.5)


def _coco_file(tmp_path: Path, images: list[dict], annotations: list[dict]) -> Path:
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps({'images': images, 'annotations': annotations,
                                'categories': [{'id': 3, 'name': 'car'}]}))
    return path


def test_coco_json_matches_by_stamp_field_or_file_name(tmp_path: Path) -> None:
    path = _coco_file(tmp_path, [
        {'id': 1, 'file_name': '1700000000000000123.png'},
        {'id': 2, 'file_name': 'x.png', 'stamp': {'sec': 5, 'nanosec': 6}, 'frame_id': 'rear'},
    ], [{'id': 1, 'image_id': 1, 'category_id': 3, 'bbox': [10, 20, 5, 5]},
        {'id': 2, 'image_id': 2, 'category_id': 3, 'bbox': [0, 0, 1, 2]}])
    truth = load_coco_json(path)
    first = truth.lookup((1_700_000_000_000_000_123, 'any camera'))
    assert first is not None and first.names == ('car',)
    np.testing.assert_allclose(first.boxes, [[10, 20, 15, 25]])
    assert truth.lookup((5_000_000_006, 'front')) is None  # frame_id given: must match
    assert truth.lookup((5_000_000_006, 'rear')) is not None
    assert truth.unmatched == 0


@pytest.mark.parametrize(('images', 'annotations', 'match'), [
    ([{'id': 1, 'file_name': 'a.png'}], [], 'no stamp field'),
    ([{'id': 1, 'stamp': 3}], [{'id': 9, 'image_id': 2, 'bbox': [0, 0, 1, 1]}],
     'annotation 9 .* no valid image_id'),
])
def test_coco_json_errors(tmp_path: Path, images: list, annotations: list, match: str) -> None:
    with pytest.raises(BagError, match=match):
        load_coco_json(_coco_file(tmp_path, images, annotations))
    (tmp_path / 'bad.json').write_text('{"images": 3}')
    with pytest.raises(BagError, match='not a readable COCO JSON file'):
        load_coco_json(tmp_path / 'bad.json')


def test_comparison_finds_planted_disagreements() -> None:
    frames = random_frames(10)
    a = {(f.stamp_ns, 'front'): f.truth for f in frames}
    b = dict(a)
    k2, k5, k7 = (frames[i].stamp_ns for i in (2, 5, 7))
    b[(k2, 'front')] = a[(k2, 'front')].select(slice(1, None))  # a detection lost
    t5 = a[(k5, 'front')]
    b[(k5, 'front')] = Detections(t5.boxes, t5.scores, (t5.class_ids + 1) % 3)  # class flip
    t7 = a[(k7, 'front')]
    b[(k7, 'front')] = Detections(t7.boxes + 0.5, t7.scores - 0.1, t7.class_ids)  # agrees
    del b[(frames[9].stamp_ns, 'front')]
    cmp = compare_sources(a, b, names=('fp32', 'int8'))
    flagged = {d.key[0] for d in cmp.disagreements}
    assert flagged == {k2, k5}
    assert cmp.frames == 9 and cmp.frames_only_a == 1 and cmp.frames_only_b == 0
    assert cmp.matched == cmp.detections_a - len(t5) - 1  # over the common frames
    assert 0.0 < cmp.agreement < 1.0
    assert cmp.frame_agreement == pytest.approx(7 / 9)
    assert cmp.score_delta['max_abs'] == pytest.approx(0.1, abs=1e-6)
    assert cmp.box_delta_px['max_abs'] == pytest.approx(0.5)
    as_dict = cmp.as_dict(ClassIndex(LABELS).name)
    assert as_dict['disagreeing_frames'] == 2
    assert all(isinstance(c, str) for d in as_dict['disagreements'] for c in d['only_a'])


def test_identical_sources_agree_fully() -> None:
    a = {(f.stamp_ns, ''): f.truth for f in random_frames(4)}
    cmp = compare_sources(a, a)
    assert cmp.agreement == 1.0 and cmp.frame_agreement == 1.0 and not cmp.disagreements


def test_coco_caps_detections_at_100_per_image_like_pycocotools() -> None:
    """150 exact detections of 150 objects: only the best 100 count (pycocotools: 0.663)."""
    grid = np.array([[x * 10, y * 10, x * 10 + 8, y * 10 + 8]
                     for y in range(10) for x in range(15)], np.float32)
    truth = Detections(grid, np.ones(150), np.zeros(150))
    dets = Detections(grid, np.linspace(1.0, 0.5, 150), np.zeros(150))
    result = coco_map([EvalImage(160, 110, truth, dets)], ClassIndex(LABELS))
    assert result.map50 == pytest.approx(67 / 101, abs=1e-3)  # recall 2/3: 67 of 101 points
    assert result.map50_95 == pytest.approx(67 / 101, abs=1e-3)
    assert result.images_over_cap == 1
    assert result.as_dict()['images_over_detection_cap'] == 1
