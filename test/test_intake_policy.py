"""The intake's choices: the history depth, and when to take the next frame."""

from __future__ import annotations

import threading
import time

import pytest

from edge_infer_ros.ros.qos import AUTO_IMAGE_DEPTH, image_history_depth

pytestmark = pytest.mark.ros


def test_history_depth_leaves_room_for_fragmented_frames_unless_set() -> None:
    # Not 1, even with the large-image profile in this process: the camera's process may run
    # without it, and then a history of 1 starved a 1080p stream to 3.5-7.6 frames/s.
    assert image_history_depth(0) == AUTO_IMAGE_DEPTH == 3
    assert image_history_depth(1) == 1
    assert image_history_depth(5) == 5


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
