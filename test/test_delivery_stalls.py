"""Delivery stalls: a camera's frames that reach the node late while it waits for them.

Over Fast DDS's default transport a large image is fragmented and, under load, repaired late, so
frames come in bursts; the node, which keeps only the newest frame, idles and then drops the
burst. It cannot repair that itself, so it must notice and say what to change in the camera's
process. Here the watch's rule on a clock the test drives, and the hint's text.
"""

from __future__ import annotations

import pytest

from edge_infer_ros.ros.dds import stall_hint
from edge_infer_ros.streams import DeliveryWatch


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch() -> tuple[DeliveryWatch, _Clock]:
    clock = _Clock()
    watch = DeliveryWatch(min_wait_s=0.1, clock=clock)
    watch.history_depth = 3
    return watch, clock


def test_a_long_wait_for_frames_already_published_is_a_stall() -> None:
    watch, clock = _watch()
    watch.waiting()
    clock.now += 0.35
    # The frame that ended the wait is the camera's third since the last one taken: two were
    # published during the wait and never arrived.
    assert watch.arrived(3) == pytest.approx(0.35)
    assert watch.count == 1
    assert watch.recent() == (1, pytest.approx(0.35))


@pytest.mark.parametrize(('wait_s', 'published', 'why'), [
    (0.5, 1, 'a camera that paused: the next frame it published, however late'),
    (0.05, 3, 'frames lost or replaced, but no long wait'),
    (0.5, 0, 'no sequence numbers (Humble): nothing can be told'),
])
def test_waits_that_are_no_stall(wait_s: float, published: int, why: str) -> None:
    watch, clock = _watch()
    watch.waiting()
    clock.now += wait_s
    assert watch.arrived(published) is None, why
    assert watch.count == 0 and watch.recent() == (0, 0.0)


def test_a_slow_cameras_single_lost_frame_is_no_stall() -> None:
    # A 5 Hz camera: every wait is 200 ms. One frame lost on the way (a 400 ms wait) is under
    # three of its periods; a run of them is a stall.
    watch, clock = _watch()
    for _ in range(5):
        watch.waiting()
        clock.now += 0.2
        assert watch.arrived(1) is None
    watch.waiting()
    clock.now += 0.4
    assert watch.arrived(2) is None
    watch.waiting()
    clock.now += 0.8
    assert watch.arrived(4) == pytest.approx(0.8)
    assert (watch.count, watch.judged) == (1, 7)


def test_a_wait_armed_after_its_frame_arrived_is_dropped_when_the_worker_takes_it() -> None:
    # The executor may put a frame in the slot between the worker's look at it and the wait's
    # start; the worker taking that frame ends the wait (the node calls stop_waiting there).
    watch, clock = _watch()
    assert watch.arrived(1) is None
    watch.waiting()
    watch.stop_waiting()
    clock.now += 0.5  # the next inference
    assert watch.arrived(3) is None
    assert watch.judged == 0


def test_frames_that_waited_in_the_nodes_history_are_no_stall() -> None:
    # The frames reached the middleware's history in time; the node's own executor took them
    # late (a busy process). Not the middleware's doing, and not the camera's to fix.
    watch, clock = _watch()
    watch.waiting()
    clock.now += 0.15
    assert watch.arrived(4, drained=2) is None
    assert watch.count == 0


def test_with_a_history_of_one_nothing_is_judged() -> None:
    watch, clock = _watch()
    watch.history_depth = 1  # a frame replaced in the node's own history looks like a lost one
    watch.waiting()
    clock.now += 0.5
    assert watch.arrived(3) is None


def test_frames_taken_while_the_worker_was_busy_are_no_stall() -> None:
    # A frame that arrives while the worker is busy replaces the older ones in the middleware:
    # published > 1 is the normal drop of a camera faster than inference, not a delivery stall.
    watch, clock = _watch()
    clock.now += 5.0
    assert watch.arrived(6) is None
    watch.waiting()
    watch.stop_waiting()  # deactivated while waiting
    clock.now += 1.0
    assert watch.arrived(6) is None
    assert watch.count == 0


def test_a_wait_ends_with_the_frame_that_ends_it() -> None:
    watch, clock = _watch()
    watch.waiting()
    clock.now += 0.2
    watch.waiting()  # still the same wait: it started earlier
    clock.now += 0.2
    assert watch.arrived(2) == pytest.approx(0.4)
    clock.now += 0.5  # no new wait began: the next arrival is no stall
    assert watch.arrived(5) is None


def _steady(watch: DeliveryWatch, clock: _Clock, seconds: float) -> None:
    """A 30 Hz camera's frames, each awaited by an idle worker: no stall."""
    for _ in range(round(seconds * 30)):
        watch.waiting()
        clock.now += 1 / 30
        assert watch.arrived(1) is None


def test_recent_stalls_leave_the_window() -> None:
    watch, clock = _watch()
    for wait in (0.2, 0.6, 0.3):
        _steady(watch, clock, 1.0)
        watch.waiting()
        clock.now += wait
        assert watch.arrived(round(wait * 30)) == pytest.approx(wait)
    assert watch.recent() == (3, pytest.approx(0.6))
    clock.now += 9.0  # the first two are now over 10 s old
    assert watch.recent() == (1, pytest.approx(0.3))
    assert watch.count == 3


def test_the_hint_names_the_camera_the_numbers_and_the_fix() -> None:
    text = stall_hint('front/image_raw', 7, 0.48, 10.0, 'rmw_fastrtps_cpp',
                      {'ROS_DISTRO': 'jazzy'})
    assert text.startswith('front/image_raw: 7 times in the last 10 s')
    assert 'up to 480 ms' in text and 'delivery_stalls' in text and 'never reached' in text
    assert 'FASTRTPS_DEFAULT_PROFILES_FILE=' in text and 'fastdds_large_images.xml' in text
    kilted = stall_hint('image_raw', 3, 0.2, 10.0, 'rmw_fastrtps_cpp', {'ROS_DISTRO': 'kilted'})
    assert 'FASTDDS_DEFAULT_PROFILES_FILE=' in kilted
    other = stall_hint('image_raw', 3, 0.2, 10.0, 'rmw_cyclonedds_cpp', {})
    assert 'PROFILES_FILE' not in other and 'rmw_cyclonedds_cpp' in other
