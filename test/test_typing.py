"""``mypy --strict`` over the ROS-free core (STYLE.md (b) 4), configured by ``mypy.ini``."""

from __future__ import annotations

import configparser
import importlib.util
import os
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parent.parent

# The modules that must type-check without ROS. The ROS layer (ros/ but dds.py and
# log_throttle.py) and the demo node and driver (demo/synthetic_camera.py, demo/run.py) are not
# listed.
CORE = [
    'edge_infer_ros/__init__.py',
    'edge_infer_ros/config.py',
    'edge_infer_ros/errors.py',
    'edge_infer_ros/naming.py',
    'edge_infer_ros/parameters.py',
    'edge_infer_ros/pipeline.py',
    'edge_infer_ros/stats.py',
    'edge_infer_ros/streams.py',
    'edge_infer_ros/decoders',
    'edge_infer_ros/engine',
    'edge_infer_ros/imaging',
    'edge_infer_ros/tracking',
    'edge_infer_ros/eval',
    'edge_infer_ros/tools',
    'edge_infer_ros/demo/scene.py',
    'edge_infer_ros/demo/motion.py',
    'edge_infer_ros/ros/dds.py',
    'edge_infer_ros/ros/log_throttle.py',
]


@pytest.mark.linter
def test_mypy_ini_lists_the_same_modules() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / 'mypy.ini')
    files = [f.strip() for f in config['mypy']['files'].split(',') if f.strip()]
    assert files == CORE, 'keep mypy.ini [mypy] files and test_typing.CORE in step'
    assert config['mypy'].getboolean('strict')


@pytest.mark.linter
def test_core_modules_pass_mypy_strict() -> None:
    if importlib.util.find_spec('mypy') is None:
        pytest.skip('mypy is not installed (requirements/test.txt)')
    result = subprocess.run(
        [sys.executable, '-m', 'mypy', '--config-file', 'mypy.ini',
         '--cache-dir', os.devnull, *CORE],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
