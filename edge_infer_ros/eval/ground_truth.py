"""Ground truth for a bag: a Detection2DArray topic, or a COCO-style JSON file, by header stamp.

A COCO file does not know about bags, so each of its ``images`` entries names the frame it
annotates by the image header's stamp: a ``stamp`` field (integer nanoseconds, or
``{"sec": s, "nanosec": ns}``), or else a ``file_name`` whose stem is the stamp in nanoseconds
(``1700000000123456789.png``). An optional ``frame_id`` field tells synchronised cameras apart.
Category names are matched against the model's class names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer_ros.errors import BagError
from edge_infer_ros.eval.messages import FrameKey, NamedBoxes

__all__ = ['GroundTruth', 'load_coco_json']


class GroundTruth:
    """Annotated frames, looked up by ``(stamp ns, frame_id)``; stamp alone where no frame id."""

    def __init__(self) -> None:
        self._exact: dict[FrameKey, NamedBoxes] = {}
        self._stamp: dict[int, NamedBoxes] = {}
        self._used: set[tuple[int, str | None]] = set()

    def add(self, key: FrameKey, boxes: NamedBoxes, *, any_frame: bool = False) -> None:
        """Annotate frame ``key``; with ``any_frame`` every frame id at that stamp matches."""
        if any_frame:
            self._stamp[key[0]] = boxes
        else:
            self._exact[key] = boxes

    def update(self, other: GroundTruth) -> None:
        """Merge another ground truth in (e.g. from several bags)."""
        self._exact.update(other._exact)
        self._stamp.update(other._stamp)

    def lookup(self, key: FrameKey) -> NamedBoxes | None:
        """The annotation of frame ``key``, or None if it has none."""
        found = self._exact.get(key)
        if found is not None:
            self._used.add(key)
            return found
        found = self._stamp.get(key[0])
        if found is not None:
            self._used.add((key[0], None))
        return found

    def __len__(self) -> int:
        """Return the number of annotated frames."""
        return len(self._exact) + len(self._stamp)

    @property
    def unmatched(self) -> int:
        """Annotated frames no image was looked up for (so far)."""
        return len(self) - len(self._used)


def _stamp_of(image: dict[str, Any], path: str) -> int:
    stamp = image.get('stamp', image.get('stamp_ns'))
    if isinstance(stamp, dict) and {'sec', 'nanosec'} <= stamp.keys():
        return int(stamp['sec']) * 1_000_000_000 + int(stamp['nanosec'])
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        return stamp
    stem = Path(str(image.get('file_name', ''))).stem
    if stem.isdigit():
        return int(stem)
    msg = (
        f'COCO image {image.get("id")!r} in {path!r} has no stamp field and its file_name '
        f'{image.get("file_name")!r} is not a nanosecond stamp'
    )
    raise BagError(msg)


def load_coco_json(path: str | os.PathLike[str]) -> GroundTruth:
    """Read COCO-style ``images``/``annotations``/``categories`` as ground truth.

    Raises:
        BagError: the file is unreadable, not COCO-shaped, or an image names no stamp.
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding='utf-8'))
        images = {img['id']: img for img in data['images']}
        names = {cat['id']: str(cat['name']) for cat in data.get('categories', [])}
        annotations = list(data.get('annotations', []))
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f'ground-truth file {name!r} is not a readable COCO JSON file: {err!r}'
        raise BagError(msg) from err
    per_image: dict[Any, list[dict[str, Any]]] = {image_id: [] for image_id in images}
    for ann in annotations:
        if ann.get('image_id') not in per_image or len(ann.get('bbox', ())) != 4:
            msg = f'annotation {ann.get("id")!r} in {name!r} has no valid image_id and bbox'
            raise BagError(msg)
        per_image[ann['image_id']].append(ann)
    truth = GroundTruth()
    for image_id, anns in per_image.items():
        image = images[image_id]
        xywh = np.array([a['bbox'] for a in anns], np.float32).reshape(-1, 4)
        xywh[:, 2:] += xywh[:, :2]
        classes = tuple(names.get(a['category_id'], str(a['category_id'])) for a in anns)
        boxes = NamedBoxes(xywh, np.ones(len(anns), np.float32), classes)
        frame_id = image.get('frame_id')
        key = (_stamp_of(image, name), str(frame_id or ''))
        truth.add(key, boxes, any_frame=frame_id is None)
    return truth
