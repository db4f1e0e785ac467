"""The vision_msgs in use must be wire-compatible with upstream vision_msgs 4.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

vision_msgs = pytest.importorskip('vision_msgs')

UPSTREAM_HASHES = {
    'Detection2DArray': 'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968',
    'Detection2D': 'RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea',
}


def _type_description(name: str) -> dict:
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory('vision_msgs'))
    return json.loads((share / 'msg' / f'{name}.json').read_text())


@pytest.mark.parametrize('name', sorted(UPSTREAM_HASHES))
def test_type_hash_equals_upstream(name: str) -> None:
    hashes = {h['type_name']: h['hash_string'] for h in _type_description(name)['type_hashes']}
    assert hashes[f'vision_msgs/msg/{name}'] == UPSTREAM_HASHES[name]


def test_label_info_and_detection_fields_have_upstream_layout() -> None:
    from vision_msgs.msg import Detection2D, LabelInfo, ObjectHypothesisWithPose

    assert list(Detection2D.get_fields_and_field_types()) == ['header', 'results', 'bbox', 'id']
    assert list(LabelInfo.get_fields_and_field_types()) == ['header', 'class_map', 'threshold']
    assert list(ObjectHypothesisWithPose.get_fields_and_field_types()) == ['hypothesis', 'pose']
