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

__all__ = ['choose_reliability', 'image_qos', 'latched_qos', 'describe_reliability']


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
