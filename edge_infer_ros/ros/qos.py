"""Image subscription QoS that connects to whatever publishes: drivers, bag players, sims.

A RELIABLE subscription never matches a BEST_EFFORT publisher, and a BEST_EFFORT subscription
to a RELIABLE publisher loses large images that need retransmission. ``auto`` therefore looks at
the publishers on the topic and picks RELIABLE only when every one of them offers it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.topic_endpoint_info import TopicEndpointInfo

__all__ = ['AUTO_IMAGE_DEPTH', 'choose_reliability', 'describe_reliability', 'image_history_depth',
           'image_qos', 'latched_qos']

AUTO_IMAGE_DEPTH = 3
"""The image subscription's KEEP_LAST depth when ``qos_depth`` is 0 (see image_history_depth)."""


def choose_reliability(mode: str, publishers: Sequence[TopicEndpointInfo]) -> ReliabilityPolicy:
    """Reliability for a subscription in ``mode`` (auto, reliable, best_effort)."""
    if mode == 'reliable':
        return ReliabilityPolicy.RELIABLE
    if mode == 'best_effort':
        return ReliabilityPolicy.BEST_EFFORT
    offered = {info.qos_profile.reliability for info in publishers}
    if offered and offered == {ReliabilityPolicy.RELIABLE}:
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def image_history_depth(configured: int) -> int:
    """The image subscription's KEEP_LAST depth: ``configured``, or 3 when it is 0 (auto).

    The node takes a frame only when its worker can use it, so the history holds the frames that
    arrive meanwhile, and a deeper one only adds frames the node takes to drop (at 1080p each a
    6 MB copy, about 2 ms). Too short a history starves the middleware instead: unless the
    camera's own process runs a large shared-memory segment (the shipped large-image profile),
    a frame over about 0.5 MB travels in 64 KB fragments, the node's receive thread falls behind
    while inference fills the cores, fragments are lost (a best-effort subscription received
    almost no 1080p frame, with no UDP buffer errors counted), and the reliable protocol repairs
    them while no newer frame is delivered: the worker waited 100-270 ms for a frame. The node
    cannot see how the camera's process is configured (the launch file applies the profile to
    the node only), so one depth serves both. Measured on 2 cores, 1080p bgr8 camera at 30 Hz,
    38 ms model, single runs of bench/bench_stream.py, frames/s (image age p99 ms):

    - camera and node on the middleware's defaults: depth 2 gave 11.3-15.1 (median 12.1 of 8
      runs; 153-180), depth 3 14.0 and 16.4 (177-191), depth 4 13.2-15.6 (median 14.3 of 8;
      212-239); 1080p JPEG the same at 2 and 4;
    - profile in the node only: depth 1 3.5 and 7.6, depth 3 13.5 and 12.7;
    - profile in both: depth 1 20.4 and 21.1 (111-115), depth 3 19.7 and 20.3 (96-97).
    """
    return configured if configured > 0 else AUTO_IMAGE_DEPTH


def image_qos(reliability: ReliabilityPolicy, depth: int) -> QoSProfile:
    """Sensor-data style profile (keep last, volatile) with the chosen reliability."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """Transient-local profile for once-per-configuration messages such as LabelInfo."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def describe_reliability(policy: ReliabilityPolicy) -> str:
    """Short lower-case name for logs and diagnostics."""
    return 'reliable' if policy == ReliabilityPolicy.RELIABLE else 'best_effort'
