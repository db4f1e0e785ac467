"""The procedural scene generator: determinism, valid labels, exact visible-extent boxes."""

from __future__ import annotations

import numpy as np
import pytest

from edge_infer_ros.demo.scene import CLASS_NAMES, Scene, generate_scene


def _scenes(seed: int, n: int, width: int = 640, height: int = 480) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [generate_scene(rng, width, height) for _ in range(n)]


def test_class_names_are_unique_identifiers() -> None:
    assert isinstance(CLASS_NAMES, tuple)
    assert 4 <= len(CLASS_NAMES) <= 6
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    assert all(name.isidentifier() for name in CLASS_NAMES)


def test_same_seed_gives_identical_scenes() -> None:
    for a, b in zip(_scenes(7, 5), _scenes(7, 5), strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_different_seeds_give_different_scenes() -> None:
    a, b = _scenes(1, 1)[0], _scenes(2, 1)[0]
    assert not np.array_equal(a.image, b.image)


@pytest.mark.parametrize(('width', 'height'), [(640, 480), (320, 240), (300, 500), (16, 16)])
def test_image_and_label_types_and_ranges(width: int, height: int) -> None:
    for scene in _scenes(3, 20, width, height):
        assert scene.image.shape == (height, width, 3)
        assert scene.image.dtype == np.uint8
        assert scene.boxes.dtype == np.float32
        assert scene.boxes.shape == (len(scene.class_ids), 4)
        assert scene.class_ids.dtype == np.int32
        assert np.all((scene.class_ids >= 0) & (scene.class_ids < len(CLASS_NAMES)))
        x1, y1, x2, y2 = scene.boxes.T
        assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= width) & (y2 <= height))
        assert np.all((x2 - x1 >= 4) & (y2 - y1 >= 4))


def test_boxes_are_integral_pixel_extents() -> None:
    """Boxes come from visible pixel masks, so their edges fall on pixel boundaries."""
    boxes = np.concatenate([s.boxes for s in _scenes(4, 20)])
    assert len(boxes) > 0
    np.testing.assert_array_equal(boxes, np.round(boxes))


def test_every_class_appears_and_scenes_vary_in_count() -> None:
    scenes = _scenes(5, 60)
    ids = np.concatenate([s.class_ids for s in scenes])
    assert set(ids.tolist()) == set(range(len(CLASS_NAMES)))
    counts = {len(s.class_ids) for s in scenes}
    assert len(counts) >= 4


def test_max_objects_zero_gives_no_labels() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert len(generate_scene(rng, 320, 240, max_objects=0).class_ids) == 0


def test_bad_arguments_are_rejected() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='at least 16x16'):
        generate_scene(rng, 8, 480)
    with pytest.raises(ValueError, match='max_objects must be >= 0'):
        generate_scene(rng, 64, 64, max_objects=-1)
