"""Track IDs: what they mean per camera (unit) and how well they hold on real detections.

The real-data tests render moving scenes with the demo's scene generator, run every frame
through the real pipeline (ONNX Runtime, the shipped demo detector) and the real tracking
library, and score the IDs against the scenes' ground-truth object IDs with motmetrics.
"""

from __future__ import annotations

from pathlib import Path
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from edge_infer_ros.config import TrackerConfig
from edge_infer_ros.decoders.detections import Detections, track_id_strings
from edge_infer_ros.demo.motion import ObjectPath, SceneSequence
from edge_infer_ros.demo.scene import CLASS_NAMES
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.eval.identity import IdentityResult, TrackedFrame, identity_metrics
from edge_infer_ros.eval.matching import box_iou
from edge_infer_ros.eval.messages import ClassIndex, NamedBoxes
from edge_infer_ros.parameters import load_pipeline_config
from edge_infer_ros.pipeline import DetectionPipeline
from edge_infer_ros.tracking import Tracking

MODEL = Path(__file__).resolve().parent.parent / 'models' / 'demo_detector.onnx'
RATE_NS = 100_000_000  # 10 Hz, the demo camera's rate


def _boxes(*xyxy: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    boxes = np.array(xyxy, np.float32).reshape(-1, 4)
    return Detections(boxes, np.full(len(boxes), score, np.float32),
                      np.zeros(len(boxes), np.int32))


def _moving(frame: int, *offsets: float) -> Detections:
    """Boxes 80 px wide moving right 5 px per frame, one per vertical offset."""
    x = 100 + 5 * frame
    return _boxes(*[(x, y, x + 80, y + 80) for y in offsets])


def _bytetrack(**kw: float) -> Tracking:
    return Tracking(TrackerConfig(tracker='bytetrack', **kw))


# ------------------------------------------------------------------------ ID semantics (unit)
def test_tracker_none_passes_detections_through_without_ids() -> None:
    tracking = Tracking(TrackerConfig())
    dets = _moving(0, 50)
    assert not tracking.enabled
    assert tracking.update('cam', dets, 1) is dets
    assert dets.track_ids is None
    assert track_id_strings(dets) == ['']


def test_moving_boxes_keep_small_ids_counted_per_camera() -> None:
    tracking = _bytetrack()
    for frame in range(20):
        front = tracking.update('front', _moving(frame, 50, 300), frame * RATE_NS)
        rear = tracking.update('rear', _moving(frame, 200), frame * RATE_NS)
        assert front.track_ids.tolist() == [1, 2]
        assert rear.track_ids.tolist() == [1]
    assert track_id_strings(front) == ['1', '2']
    assert tracking.counts() == {'front': (2, 0), 'rear': (1, 0)}


def test_stamps_going_back_reset_the_tracks_and_ids_are_never_reused() -> None:
    warnings: list[str] = []
    tracking = Tracking(TrackerConfig(tracker='bytetrack'), warnings.append)
    for frame in range(5):
        first = tracking.update('cam', _moving(frame, 50), 10 * 10**9 + frame * RATE_NS)
    assert first.track_ids.tolist() == [1]
    # The recording loops: the same object, stamps from the start again.
    for frame in range(5):
        again = tracking.update('cam', _moving(frame, 50), 10 * 10**9 + frame * RATE_NS)
        assert again.track_ids.tolist() == [2]
    assert tracking.counts() == {'cam': (2, 1)}
    assert len(warnings) == 1
    assert 'cam: image stamps went back' in warnings[0]


def test_equal_stamps_are_one_instant_not_a_jump_back() -> None:
    tracking = _bytetrack()
    for _ in range(3):
        out = tracking.update('cam', _moving(0, 50), 5 * RATE_NS)
    assert out.track_ids.tolist() == [1]
    assert tracking.counts() == {'cam': (1, 0)}


def test_reset_starts_new_tracks_with_fresh_ids() -> None:
    tracking = _bytetrack()
    for frame in range(3):
        tracking.update('cam', _moving(frame, 50), frame * RATE_NS)
    tracking.reset()
    out = tracking.update('cam', _moving(3, 50), 3 * RATE_NS)
    assert out.track_ids.tolist() == [2]


def test_low_score_detections_only_continue_tracks() -> None:
    tracking = _bytetrack(track_high_threshold=0.5)
    faint = tracking.update('cam', _boxes((0, 0, 50, 50), score=0.3), 0)
    assert faint.track_ids.tolist() == [-1]
    assert track_id_strings(faint) == ['']
    tracking.update('cam', _boxes((200, 0, 250, 50), score=0.9), RATE_NS)
    weaker = tracking.update('cam', _boxes((202, 0, 252, 50), score=0.3), 2 * RATE_NS)
    assert weaker.track_ids.tolist() == [1]


def test_ids_of_expired_tracks_are_forgotten() -> None:
    """A long run of short-lived objects must not grow the ID map without bound."""
    tracking = _bytetrack(track_buffer=0.2)
    for frame in range(1500):
        x = (frame * 97) % 1800
        tracking.update('cam', _boxes((x, 0, x + 40, 40)), frame * RATE_NS)
    camera = tracking._cameras['cam']
    assert camera.next_id > 1000  # every frame brought a new object
    assert camera.remembered < 300


def test_a_missing_library_fails_configuration_naming_the_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, 'edgefirst.tracker', None)  # as if not installed
    with pytest.raises(ConfigError, match=r"parameter 'tracker' is 'bytetrack' but the "
                                          r'edgefirst-tracker package is not installed .*pip '
                                          r'install -r requirements/runtime.txt'):
        _bytetrack()
    assert not Tracking(TrackerConfig(tracker='none')).enabled  # none needs no library


def test_unknown_tracker_is_refused() -> None:
    with pytest.raises(ConfigError, match="parameter 'tracker' is 'sort'; use none or bytetrack"):
        Tracking(TrackerConfig(tracker='sort'))


# ------------------------------------------------------------------------ real detections
@pytest.fixture(scope='module')
def pipeline() -> DetectionPipeline:
    config = load_pipeline_config(None, overrides={
        'model_path': str(MODEL), 'providers': ['cpu'], 'precision': 'fp32',
        'warmup_iterations': 1, 'tracker': 'bytetrack'})
    pipe = DetectionPipeline(config)
    yield pipe
    pipe.close()


def _run(pipeline: DetectionPipeline, paths: list[ObjectPath], frames: int = 60,
         seed: int = 100) -> tuple[list[TrackedFrame], IdentityResult]:
    """Render, detect and track ``frames`` frames at 10 Hz; score them with motmetrics."""
    sequence = SceneSequence(np.random.default_rng(seed), 640, 480, paths)
    pipeline.reset_tracks()
    out = []
    for t in range(frames):
        scene = sequence.frame(t)
        dets, _ = pipeline.process_image(scene.image, 'bgr')
        stamp = 1_700_000_000 * 10**9 + t * RATE_NS
        header = SimpleNamespace(stamp=SimpleNamespace(sec=stamp // 10**9, nanosec=stamp % 10**9))
        dets = pipeline.track('image_raw', dets, header)
        truth = NamedBoxes(scene.boxes, np.ones(len(scene.boxes), np.float32),
                           tuple(CLASS_NAMES[c] for c in scene.class_ids),
                           tuple(str(i) for i in scene.object_ids))
        out.append(TrackedFrame(dets, truth))
    result = identity_metrics([('image_raw', out)], ClassIndex(pipeline.labels))
    assert result is not None
    return out, result


def _ids_of(frames: list[TrackedFrame], object_id: int, index: ClassIndex) -> list[int]:
    """Per frame, the track ID of the detection covering ``object_id`` (IoU >= 0.5), or -1."""
    ids = []
    for frame in frames:
        where = [i for i, o in enumerate(frame.truth.ids) if o == str(object_id)]
        if not where or not len(frame.detections):
            ids.append(-1)
            continue
        iou = box_iou(frame.truth.boxes[where[0]], frame.detections.boxes)[0]
        best = int(np.argmax(iou))
        ids.append(int(frame.detections.track_ids[best]) if iou[best] >= 0.5 else -1)
    return ids


def test_an_object_crossing_the_frame_keeps_one_id(pipeline) -> None:
    frames, result = _run(pipeline, [ObjectPath(0, 120, (-60, 300), (12.5, 0))])
    ids = [i for i in _ids_of(frames, 1, ClassIndex(pipeline.labels)) if i >= 0]
    assert len(ids) >= 40  # it is seen across the frame ...
    assert len(set(ids)) == 1  # ... always under the same ID
    assert result.id_switches == 0
    assert result.idf1 >= 0.95


@pytest.mark.parametrize('classes', [(4, 4), (1, 4)], ids=['same_class', 'other_class'])
def test_two_objects_crossing_keep_their_ids(pipeline, classes) -> None:
    """Two objects pass each other, the nearer one hiding the farther: measured 0 switches."""
    paths = [ObjectPath(classes[0], 110, (-60, 260), (11, 0)),
             ObjectPath(classes[1], 120, (700, 300), (-11, 0))]
    frames, result = _run(pipeline, paths)
    index = ClassIndex(pipeline.labels)
    first, second = ([i for i in _ids_of(frames, o, index) if i >= 0] for o in (1, 2))
    assert len(set(first)) == 1 and len(set(second)) == 1
    assert set(first) != set(second)
    assert result.id_switches == 0
    assert result.idf1 >= 0.9


@pytest.mark.parametrize('velocity', [(0.0, 0.0), (4.0, 0.0)], ids=['standing', 'moving'])
def test_an_object_gone_for_less_than_the_buffer_comes_back_with_its_id(pipeline,
                                                                        velocity) -> None:
    """Out of view for 0.8 s (8 frames at 10 Hz), with the default 1 s buffer."""
    frames, result = _run(pipeline, [ObjectPath(0, 110, (250, 260), velocity, hidden=(20, 28))],
                          frames=45)
    ids = _ids_of(frames, 1, ClassIndex(pipeline.labels))
    before, gone, after = ids[10:20], ids[20:28], ids[30:45]
    assert gone == [-1] * 8  # nothing to track while it is away
    assert len(set(before) - {-1}) == 1
    assert set(after) - {-1} == set(before) - {-1}
    assert result.id_switches == 0


def test_an_object_gone_for_longer_than_the_buffer_gets_a_new_id(pipeline) -> None:
    frames, _ = _run(pipeline, [ObjectPath(0, 110, (250, 260), hidden=(20, 36))], frames=50)
    ids = _ids_of(frames, 1, ClassIndex(pipeline.labels))
    before, after = set(ids[10:20]) - {-1}, set(ids[38:50]) - {-1}
    assert len(before) == 1 and len(after) == 1
    assert after != before


def test_unset_and_negative_stamps_still_track(pipeline) -> None:
    """Stamp 0 takes the arrival time as the clock; a negative stamp is clamped, not a crash."""
    scene = SceneSequence(np.random.default_rng(1), 640, 480,
                          [ObjectPath(0, 120, (300, 260))]).frame(0)
    dets, _ = pipeline.process_image(scene.image, 'bgr')
    assert len(dets) >= 1
    pipeline.reset_tracks()
    for arrival in (10**9, 2 * 10**9):
        unset = SimpleNamespace(stamp=SimpleNamespace(sec=0, nanosec=0))
        assert pipeline.track('unset', dets, unset, arrival).track_ids[0] == 1
    negative = SimpleNamespace(stamp=SimpleNamespace(sec=-5, nanosec=0))
    assert pipeline.track('negative', dets, negative).track_ids[0] == 1
