"""The intake's choices: history depth from the DDS setup, and when to take the next frame."""

from __future__ import annotations

import threading
import time

import pytest

from edge_infer_ros.ros.dds import image_history_depth, profile_variable

pytestmark = pytest.mark.ros


def test_history_depth_follows_the_dds_profile_unless_set() -> None:
    kilted = {'ROS_DISTRO': 'kilted'}
    assert image_history_depth(0, kilted) == 3  # default UDP: room to reassemble fragments
    assert image_history_depth(0, {**kilted, profile_variable(kilted): '/p.xml'}) == 1
    jazzy = {'ROS_DISTRO': 'jazzy', 'FASTRTPS_DEFAULT_PROFILES_FILE': '/p.xml'}
    assert image_history_depth(0, jazzy) == 1
    assert image_history_depth(5, jazzy) == 5


def test_prefetch_opens_the_gate_a_take_before_the_typical_frame_ends() -> None:
    from edge_infer_ros.ros.intake import Prefetcher

    opened = threading.Event()
    prefetch = Prefetcher(opened.set)
    try:
        assert prefetch.lead_s() is None
        for _ in range(3):  # frames of ~60 ms whose next frame took ~5 ms to arrive
            prefetch.started()
            time.sleep(0.06)
            prefetch.finished()
            prefetch.gate_opened()
            time.sleep(0.005)
            prefetch.frame_arrived()
        lead = prefetch.lead_s()
        assert lead is not None and 0.005 <= lead <= 0.03
        prefetch.started()
        assert not prefetch.open
        assert opened.wait(1.0), 'the gate never opened during the frame'
        assert prefetch.open
        prefetch.finished()
        assert not prefetch.open
    finally:
        prefetch.close()


def test_a_slow_take_never_opens_the_gate_before_half_the_frame() -> None:
    from edge_infer_ros.ros.intake import Prefetcher

    prefetch = Prefetcher(lambda: None)
    try:
        for _ in range(3):
            prefetch.started()
            time.sleep(0.04)
            prefetch.finished()
            prefetch.gate_opened()
            time.sleep(0.1)  # the middleware needed longer than a whole frame
            prefetch.frame_arrived()
        lead = prefetch.lead_s()
        assert lead is not None and lead <= 0.5 * 0.05
    finally:
        prefetch.close()
