"""``/diagnostics`` messages: one status for the engine, one per camera."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from edge_infer_ros.ros.qos import describe_reliability
from edge_infer_ros.stats import STAGES, StageStats
from edge_infer_ros.streams import STALL_WINDOW_S, CameraPlan, DeliveryWatch

__all__ = ['STALLS_TO_WARN', 'build_diagnostics']

STALLS_TO_WARN = 2
"""Delivery stalls of a camera within its watch's window that make its status WARN (and log)."""

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR


def _kv(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=str(v)) for k, v in values.items()]


_Status = tuple[int, str, dict[str, Any]]
"""A status's level, message and key/values, before it becomes a ``DiagnosticStatus``."""


def _engine_status(state: str, pipeline: Any, configure_s: float) -> _Status:
    values: dict[str, Any] = {'lifecycle_state': state}
    if pipeline is None:
        return (OK if state == 'unconfigured' else WARN), f'{state}: no engine loaded', values
    report = pipeline.report()
    values.update(report)
    values['configure_seconds'] = f'{configure_s:.3f}'
    if report.get('invalid_detections_dropped', '0') != '0':
        return WARN, (f'{report["invalid_detections_dropped"]} impossible detections dropped '
                      '(score outside [0, 1] or unknown class): check output_format'), values
    if report.get('provider_fallback') == 'True':
        return WARN, (f'running on {report.get("active_provider")} instead of '
                      f'{report.get("requested_providers")}'), values
    return OK, f'{state} on {report.get("active_provider")}', values


def _camera_status(state: str, plan: CameraPlan, stats: StageStats, reliability: Any,
                   delivery: DeliveryWatch) -> _Status:
    stalls, longest = delivery.recent()
    with stats.lock:
        values: dict[str, Any] = {
            'input_topic': plan.image_topic,
            'output_topic': plan.detections_topic,
            'transport': 'compressed' if plan.compressed else 'raw',
            'reliability': describe_reliability(reliability) if reliability is not None else '-',
            'input_rate_hz': f'{stats.received.rate():.2f}',
            'output_rate_hz': f'{stats.published.rate():.2f}',
            'frames_in': stats.received.count,
            'frames_out': stats.published.count,
            'frames_dropped': stats.dropped,
            'frames_dropped_in_middleware': stats.skipped,
            'decode_errors': stats.decode_errors,
            'inference_errors': stats.inference_errors,
            'delivery_stalls': delivery.count,
            'delivery_stalls_last_10s': stalls,
            'delivery_stall_longest_ms_last_10s': f'{longest * 1e3:.0f}',
        }
        for stage in STAGES:
            for key, value in stats.latency[stage].percentiles().items():
                values[f'latency_{stage}_{key}_ms'] = f'{value:.2f}'
    errors = stats.decode_errors + stats.inference_errors
    if errors:
        return WARN, f'{errors} bad frames so far', values
    if stalls >= STALLS_TO_WARN:
        return WARN, (f'{stalls} delivery stalls in {STALL_WINDOW_S:.0f} s (up to '
                      f"{longest * 1e3:.0f} ms): give the camera's process the large-image "
                      'DDS profile (README: Troubleshooting)'), values
    if state == 'active' and stats.received.count == 0:
        return WARN, 'active, no images received yet', values
    return OK, f'{values["output_rate_hz"]} Hz out', values


def _message(node_name: str, what: str, status: _Status) -> DiagnosticStatus:
    level, message, values = status
    return DiagnosticStatus(level=level, name=f'{node_name}: {what}', message=message,
                            hardware_id=node_name, values=_kv(values))


def build_diagnostics(
    node_name: str,
    state: str,
    pipeline: Any,
    cameras: Sequence[tuple[CameraPlan, StageStats, Any, DeliveryWatch]],
    configure_seconds: float,
) -> DiagnosticArray:
    """Assemble the node's DiagnosticArray (the caller stamps the header)."""
    msg = DiagnosticArray()
    msg.status.append(
        _message(node_name, 'engine', _engine_status(state, pipeline, configure_seconds)))
    for plan, stats, reliability, delivery in cameras:
        msg.status.append(_message(node_name, plan.image_topic,
                                   _camera_status(state, plan, stats, reliability, delivery)))
    return msg
