"""Moving scenes: deterministic random-access frames and labels that name their objects."""

from __future__ import annotations

import numpy as np
import pytest

from edge_infer_ros.demo.motion import ObjectPath, SceneSequence, random_paths
from edge_infer_ros.demo.scene import CLASS_NAMES


def _sequence(paths: list[ObjectPath], seed: int = 1, first_id: int = 1) -> SceneSequence:
    return SceneSequence(np.random.default_rng(seed), 320, 240, paths, first_id=first_id)


def test_frames_are_the_same_whatever_the_order_they_are_rendered_in() -> None:
    paths = [ObjectPath(2, 60, (40, 120), (6, 0))]
    a, b = _sequence(paths), _sequence(paths)
    late_first = b.frame(9)
    for t in range(10):
        np.testing.assert_array_equal(a.frame(t).image, b.frame(t).image)
    np.testing.assert_array_equal(a.frame(9).boxes, late_first.boxes)
    assert not np.array_equal(a.frame(0).image, a.frame(1).image)


def test_boxes_follow_the_path_and_keep_their_object_id() -> None:
    sequence = _sequence([ObjectPath(4, 70, (60, 120), (10, 2))], first_id=7)
    assert sequence.object_ids == (7,)
    centres = []
    for t in range(10):
        frame = sequence.frame(t)
        assert frame.object_ids.tolist() == [7]
        assert frame.class_ids.tolist() == [4]
        centres.append((frame.boxes[0, :2] + frame.boxes[0, 2:]) / 2)
    steps = np.diff(np.array(centres), axis=0)
    np.testing.assert_allclose(steps.mean(axis=0), (10, 2), atol=1.5)


def test_hidden_and_outside_objects_have_no_label() -> None:
    sequence = _sequence([ObjectPath(0, 60, (100, 120), hidden=(3, 5)),
                          ObjectPath(1, 50, (-200, 120), (0, 0))])
    assert [len(sequence.frame(t).boxes) for t in range(6)] == [1, 1, 1, 0, 0, 1]
    assert set(sequence.frame(0).object_ids.tolist()) == {1}


def test_the_nearer_object_hides_the_farther_one() -> None:
    far = ObjectPath(4, 60, (160, 100))
    near = ObjectPath(4, 90, (160, 130))
    frame = _sequence([far, near]).frame(0)
    assert frame.object_ids.tolist() == [2]  # the far one is more than 60 % hidden


def test_random_paths_give_visible_objects_of_every_class() -> None:
    rng = np.random.default_rng(4)
    seen, labelled = set(), 0
    for _ in range(20):
        paths = random_paths(rng, 320, 240, 30)
        seen |= {p.class_id for p in paths}
        sequence = SceneSequence(rng, 320, 240, paths)
        labelled += sum(len(sequence.frame(t).boxes) for t in (0, 15, 29))
    assert seen == set(range(len(CLASS_NAMES)))
    assert labelled > 40


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match='at least 16x16'):
        SceneSequence(np.random.default_rng(0), 8, 240, [])
    with pytest.raises(ValueError, match='class_id 9 is not in 0..4'):
        SceneSequence(np.random.default_rng(0), 320, 240, [ObjectPath(9, 50, (10, 10))])
