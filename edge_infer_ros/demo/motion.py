"""Scenes in motion: one background, objects moving along straight lines, ground truth with IDs.

The scene generator (``scene.py``) draws an independent scene per image, which is what training
and detection checks want. Tracking needs the same world over time: here a sequence keeps its
background, lighting and object sprites, and each frame places the objects along their paths.
Every labelled box carries the ID of the object it shows, so a tracker's output can be scored
with identity metrics (IDF1, ID switches). Frames are random-access and deterministic: frame
``t`` of a sequence is the same image however often, and in whatever order, it is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.demo.scene import (
    _MAX_TILT,
    _REL_SIZE,
    _SPRITES,
    CLASS_NAMES,
    _background,
    _finish,
    _lighting,
    _paste,
    _Placed,
    _quad,
    _shadow,
    _Sprite,
    _visible_boxes,
)

__all__ = ['ObjectPath', 'SceneSequence', 'TrackedScene', 'random_paths']


@dataclass(frozen=True)
class ObjectPath:
    """One object of a sequence and how it moves.

    Attributes:
        class_id: Index into :data:`~edge_infer_ros.demo.scene.CLASS_NAMES`.
        size: Sprite height (px) before rotation.
        start: Centre ``(x, y)`` (px) at frame 0; it may lie outside the image.
        velocity: ``(vx, vy)`` in px per frame.
        hidden: Frames ``[first, end)`` in which the object is out of view (not drawn), as when
            the camera looks away or something passes in front of it.
    """

    class_id: int
    size: float
    start: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    hidden: tuple[int, int] = (0, 0)

    def centre(self, t: int) -> tuple[float, float]:
        """Centre (px) at frame ``t``."""
        return self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t

    def in_view(self, t: int) -> bool:
        """Whether the object is drawn at frame ``t`` (it may still be outside the image)."""
        return not self.hidden[0] <= t < self.hidden[1]


@dataclass(frozen=True)
class TrackedScene:
    """One frame of a sequence and its labels.

    Attributes:
        image: (H, W, 3) uint8, BGR.
        boxes: (N, 4) float32 visible extent ``x1 y1 x2 y2`` (px).
        class_ids: (N,) int32 indices into ``CLASS_NAMES``.
        object_ids: (N,) int32 identity of each labelled object, unique within a sequence.
    """

    image: NDArray[np.uint8]
    boxes: NDArray[np.float32]
    class_ids: NDArray[np.int32]
    object_ids: NDArray[np.int32]


@dataclass(frozen=True)
class _Mover:
    """An object's fixed appearance: sprite, corner offsets around its centre, shadow."""

    path: ObjectPath
    object_id: int
    sprite: _Sprite
    corners: NDArray[np.float32]
    shadow: float


class SceneSequence:
    """Renders the frames of one sequence: fixed background, moving objects, per-frame noise.

    Objects lower in the image are nearer and drawn over the others, as in ``generate_scene``;
    an object hidden by more than ``MAX_OCCLUSION`` of its area, or mostly outside the image,
    gets no label in that frame.
    """

    def __init__(self, rng: np.random.Generator, width: int, height: int,
                 paths: Sequence[ObjectPath], *, first_id: int = 1) -> None:
        """Draw the background, lighting and sprites; object ``i`` gets ID ``first_id + i``.

        Raises:
            ValueError: the image is smaller than 16 px a side, or a class id is unknown.
        """
        if width < 16 or height < 16:
            msg = f'Sequence size must be at least 16x16 px, got {width!r}x{height!r}.'
            raise ValueError(msg)
        for path in paths:
            if not 0 <= path.class_id < len(CLASS_NAMES):
                msg = f'ObjectPath class_id {path.class_id!r} is not in 0..{len(CLASS_NAMES) - 1}.'
                raise ValueError(msg)
        self.width, self.height = width, height
        self._background = _background(rng, height, width)
        self._light = _lighting(rng, height, width)
        self._seed = int(rng.integers(2**63))
        self._movers = []
        for i, path in enumerate(paths):
            sprite = _SPRITES[path.class_id](rng, max(6, int(round(path.size))))
            sh, sw = sprite[1].shape
            tilt = _MAX_TILT[path.class_id]
            corners = _quad(rng, 0.0, 0.0, sw, sh, rng.uniform(-tilt, tilt), rng.uniform(0, 0.1))
            shadow = rng.uniform(0.2, 0.5) if rng.random() < 0.6 else 0.0
            self._movers.append(_Mover(path, first_id + i, sprite, corners, shadow))

    @property
    def object_ids(self) -> tuple[int, ...]:
        """The IDs of the sequence's objects, in the order of its paths."""
        return tuple(m.object_id for m in self._movers)

    def frame(self, t: int) -> TrackedScene:
        """Render frame ``t`` (>= 0) with the labels of the objects visible in it."""
        img = self._background.copy()
        owner = np.full((self.height, self.width), -1, np.int16)
        quads = [(m, m.corners + np.asarray(m.path.centre(t), np.float32))
                 for m in self._movers if m.path.in_view(t)]
        quads.sort(key=lambda mq: float(mq[1][:, 1].max()))  # nearer (lower) objects last
        placed: list[_Placed] = []
        ids: list[int] = []
        for mover, quad in quads:
            if mover.shadow:
                _shadow(img, quad, mover.shadow)
            res = _paste(img, owner, mover.sprite, quad, len(placed))
            if res is not None:
                placed.append(_Placed(mover.path.class_id, *res))
                ids.append(mover.object_id)
        boxes, kept = _visible_boxes(owner, placed)
        noise = np.random.default_rng([self._seed, t])
        return TrackedScene(
            _finish(noise, img, self._light),
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray([placed[i].cls for i in kept], np.int32),
            np.asarray([ids[i] for i in kept], np.int32),
        )


def random_paths(rng: np.random.Generator, width: int, height: int, frames: int,
                 max_objects: int = 6) -> list[ObjectPath]:
    """Objects for a ``frames``-long sequence: some stay, some cross or enter the image.

    Speeds are such that a crossing object spends most of the sequence in view; sizes follow
    the scene generator's range for each class.
    """
    scale = float(min(width, height))
    paths = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(len(CLASS_NAMES)))
        size = scale * float(np.exp(rng.uniform(np.log(0.1), np.log(0.45)))) * _REL_SIZE[cls]
        start = (float(rng.uniform(0.05, 0.95) * width), float(rng.uniform(0.15, 0.9) * height))
        velocity = (0.0, 0.0)
        kind = rng.random()
        if kind < 0.5:  # crosses the image from one side to the other
            left = rng.random() < 0.5
            x0, x1 = (-0.1 * width, 1.1 * width) if left else (1.1 * width, -0.1 * width)
            span = frames * rng.uniform(1.0, 1.6)
            start = (x0, start[1])
            velocity = ((x1 - x0) / span, float(rng.uniform(-0.1, 0.1) * height / span))
        elif kind < 0.8:  # drifts slowly
            vx, vy = rng.uniform(-0.5, 0.5, 2) * scale / frames
            velocity = (float(vx), float(vy))
        paths.append(ObjectPath(cls, size, start, velocity))
    return paths
