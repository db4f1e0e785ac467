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


def test_the_subscriptions_qos_events_are_gated_but_claim_nothing(ros_graph) -> None:
    # rclpy puts a subscription's QoS event handlers in its callback group, the intake gate.
    # Kept in the wait set while frames wait in the history, they woke the executor continually
    # (a 30 Hz camera: node CPU per output frame 196 vs 121 ms); claiming, a handler destroyed
    # with its subscription between claim and take would have kept the camera claimed for good.
    from rclpy.event_handler import SubscriptionEventCallbacks
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from edge_infer_ros.ros.intake import IntakeGate

    wanted = False
    gate = IntakeGate(lambda: wanted)
    node = ros_graph.add(Node('gate_events', context=ros_graph.context))
    sub = node.create_subscription(
        Image, 'gated', lambda msg: None, 3, callback_group=gate, raw=True,
        event_callbacks=SubscriptionEventCallbacks(incompatible_qos=lambda e: None,
                                                   matched=lambda e: None))
    handlers = sub.event_handlers
    assert handlers and all(h.callback_group is gate for h in handlers)
    assert not any(gate.can_execute(h) for h in handlers)  # out of the wait set while shut
    wanted = True
    assert all(gate.can_execute(h) for h in handlers)
    assert all(gate.beginning_execution(h) for h in handlers)
    assert gate.beginning_execution(sub)  # the events took no claim
    for h in handlers:
        gate.ending_execution(h)
    assert not gate.beginning_execution(None)  # nor released the subscription's
    gate.ending_execution(sub)
    assert gate.beginning_execution(None)
    gate.ending_execution(None)
