"""``/diagnostics`` messages: one status for the engine, one per camera."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from edge_infer_ros.ros.qos import describe_reliability
from edge_infer_ros.stats import STAGES, StageStats
from edge_infer_ros.streams import CameraPlan

__all__ = ['build_diagnostics']

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR


def _kv(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=str(v)) for k, v in values.items()]


def _engine_status(
    node_name: str, state: str, pipeline: Any, configure_s: float,
) -> DiagnosticStatus:
    status = DiagnosticStatus(name=f'{node_name}: engine', hardware_id=node_name)
    values: dict[str, Any] = {'lifecycle_state': state}
    if pipeline is None:
        status.level = OK if state == 'unconfigured' else WARN
        status.message = f'{state}: no engine loaded'
    else:
        report = pipeline.report()
        values.update(report)
        values['configure_seconds'] = f'{configure_s:.3f}'
        if report.get('provider_fallback') == 'True':
            status.level = WARN
            status.message = (f'running on {report.get("active_provider")} instead of '
                              f'{report.get("requested_providers")}')
        else:
            status.level = OK
            status.message = f'{state} on {report.get("active_provider")}'
    status.values = _kv(values)
    return status


def _camera_status(
    node_name: str, state: str, plan: CameraPlan, stats: StageStats, reliability: Any,
) -> DiagnosticStatus:
    status = DiagnosticStatus(name=f'{node_name}: {plan.image_topic}', hardware_id=node_name)
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
            'decode_errors': stats.decode_errors,
            'inference_errors': stats.inference_errors,
        }
        for stage in STAGES:
            for key, value in stats.latency[stage].percentiles().items():
                values[f'latency_{stage}_{key}_ms'] = f'{value:.2f}'
    errors = stats.decode_errors + stats.inference_errors
    if errors:
        status.level = WARN
        status.message = f'{errors} bad frames so far'
    elif state == 'active' and stats.received.count == 0:
        status.level = WARN
        status.message = 'active, no images received yet'
    else:
        status.level = OK
        status.message = f'{values["output_rate_hz"]} Hz out'
    status.values = _kv(values)
    return status


def build_diagnostics(
    node_name: str,
    state: str,
    pipeline: Any,
    cameras: Sequence[tuple[CameraPlan, StageStats, Any]],
    configure_seconds: float,
) -> DiagnosticArray:
    """Assemble the node's DiagnosticArray (the caller stamps the header)."""
    msg = DiagnosticArray()
    msg.status.append(_engine_status(node_name, state, pipeline, configure_seconds))
    for plan, stats, reliability in cameras:
        msg.status.append(_camera_status(node_name, state, plan, stats, reliability))
    return msg
