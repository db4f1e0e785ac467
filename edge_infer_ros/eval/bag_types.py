"""A ``rosbags`` type store that knows vision_msgs, so bags can be written and read without ROS.

rosbags ships the core ROS 2 message types but not vision_msgs; their definitions are read from
the installed ``share/vision_msgs/msg/*.msg`` (a distro's or the locally built one) or, in a
source checkout, from ``interfaces/vision_msgs/msg``. Either way the wire layout is upstream's.
"""

from __future__ import annotations

from functools import lru_cache
import os
from pathlib import Path
import sys

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from edge_infer_ros.errors import BagError

__all__ = ['typestore', 'vision_msgs_definitions']

_SOURCE_DIR = Path(__file__).resolve().parent.parent / 'interfaces' / 'vision_msgs' / 'msg'


def _candidate_dirs() -> list[Path]:
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    prefixes.append(sys.prefix)  # the venv the setup script installs vision_msgs into
    dirs = [Path(prefix) / 'share' / 'vision_msgs' / 'msg' for prefix in prefixes]
    dirs.append(_SOURCE_DIR)
    return dirs


def vision_msgs_definitions() -> dict[str, str]:
    """Map ``vision_msgs/msg/<Name>`` to its .msg text.

    Raises:
        BagError: no vision_msgs definitions were found.
    """
    for folder in _candidate_dirs():
        files = sorted(folder.glob('*.msg'))
        if files:
            return {f'vision_msgs/msg/{f.stem}': f.read_text(encoding='utf-8') for f in files}
    msg = (f'no vision_msgs .msg definitions found in {[str(d) for d in _candidate_dirs()]!r}; '
           'install vision_msgs or run scripts/setup_env.sh')
    raise BagError(msg)


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 (Kilted) type store with vision_msgs registered; built once per process."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name, text in vision_msgs_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
