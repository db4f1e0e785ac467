"""The detector as a ROS 2 managed (lifecycle) node: thin glue around ``DetectionPipeline``.

configure builds and warms the engine (the slow part), activate only subscribes, deactivate only
unsubscribes. Inference runs on a worker thread fed by latest-frame slots, so the executor keeps
serving lifecycle and parameter services while a frame is being processed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from rclpy.qos import ReliabilityPolicy

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from edge_infer_ros.config import NodeConfig
from edge_infer_ros.errors import ConfigError, EdgeInferError, ImageDecodeError
from edge_infer_ros.parameters import (
    decoder_config_from_params,
    node_config_from_params,
    pipeline_config_from_params,
)
from edge_infer_ros.pipeline import DetectionPipeline
from edge_infer_ros.ros.conversions import (
    detections_to_msg,
    draw_detections,
    image_to_msg,
    label_info_msg,
)
from edge_infer_ros.ros.diagnostics import build_diagnostics
from edge_infer_ros.ros.frame_debug import FrameDebugLog
from edge_infer_ros.ros.params import ParameterGuard, declare_parameters, parameter_values
from edge_infer_ros.ros.qos import choose_reliability, describe_reliability, image_qos, latched_qos
from edge_infer_ros.ros.spin import run_node
from edge_infer_ros.ros.stop_signals import StopSignals
from edge_infer_ros.streams import CameraPlan, FrameSlot, plan_cameras

__all__ = ['DetectorNode', 'main']

_THROTTLE_S = 5.0


class _Camera:
    """One camera's subscription, publishers and latest-frame slot."""

    def __init__(self, plan: CameraPlan) -> None:
        self.plan = plan
        self.slot = FrameSlot()
        self.subscription: Any = None
        self.reliability: ReliabilityPolicy | None = None
        self.detections_pub: Any = None
        self.debug_pub: Any = None


class DetectorNode(LifecycleNode):
    """Subscribes to camera images and publishes ``vision_msgs/Detection2DArray`` per camera."""

    def __init__(self, node_name: str = 'detector', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._configured = False
        self._pipeline: DetectionPipeline | None = None
        self._node_config: NodeConfig | None = None
        self._cameras: list[_Camera] = []
        self._label_pub: Any = None
        self._active = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._busy = threading.Lock()
        self._qos_timer: Any = None
        self._state_label = 'unconfigured'
        self._configure_seconds = 0.0
        self._frame_debug = FrameDebugLog(self.get_logger())
        declare_parameters(self)
        self.add_on_set_parameters_callback(
            ParameterGuard(lambda: self._configured, self._apply_runtime_parameters))
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)

    # ----------------------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate parameters, build and warm the engine, create publishers."""
        try:
            return self._configure()
        except Exception as err:  # noqa: BLE001 - report, clean up, stay unconfigured
            self.get_logger().error(f'configure failed unexpectedly: {err!r}')
            self._release()
            return TransitionCallbackReturn.FAILURE

    def _configure(self) -> TransitionCallbackReturn:
        start = time.monotonic()
        values = parameter_values(self)
        try:
            pipeline_config = pipeline_config_from_params(values)
            node_config = node_config_from_params(values)
            plans = plan_cameras(node_config.image_topics, node_config.image_transport)
        except ConfigError as err:
            self.get_logger().error(f'configure failed: {err}')
            return TransitionCallbackReturn.FAILURE
        engine = pipeline_config.engine
        self.get_logger().info(
            f'configuring: loading {engine.model_path!r} with providers '
            f'{list(engine.providers)} at {engine.precision}'
            + (' (a first TensorRT engine build can take minutes; later starts use the cache)'
               if 'tensorrt' in engine.providers else ''))
        ticker = _ProgressTicker(self, start)
        logger = self.get_logger()
        try:
            pipeline = DetectionPipeline(
                pipeline_config, log=logger.info, warn=logger.warning,
                debug=logger.debug if logger.is_enabled_for(LoggingSeverity.DEBUG) else None)
        except EdgeInferError as err:
            self.get_logger().error(f'configure failed: {err}')
            return TransitionCallbackReturn.FAILURE
        finally:
            ticker.stop()
        self._pipeline = pipeline
        self._node_config = node_config
        self._cameras = [_Camera(plan) for plan in plans]
        for cam in self._cameras:
            qos = image_qos(ReliabilityPolicy.RELIABLE, 10)
            cam.detections_pub = self.create_lifecycle_publisher(
                Detection2DArray, cam.plan.detections_topic, qos)
            if node_config.publish_debug_image:
                cam.debug_pub = self.create_lifecycle_publisher(Image, cam.plan.debug_topic, qos)
        self._label_pub = self.create_publisher(LabelInfo, 'label_info', latched_qos())
        self._publish_label_info()
        self._diag_timer.cancel()
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(node_config.diagnostics_period,
                                             self._publish_diagnostics)
        self._configured = True
        self._configure_seconds = time.monotonic() - start
        self._state_label = 'inactive'
        self.get_logger().info(
            f'configured in {self._configure_seconds:.2f} s: {pipeline.summary()}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start the worker; nothing heavy happens here."""
        for cam in self._cameras:
            self._subscribe(cam)
        self._stop.clear()
        self._active.set()
        self._worker = threading.Thread(target=self._work, name='detector_worker', daemon=True)
        self._worker.start()
        if self._node_config is not None and self._node_config.qos_reliability == 'auto':
            self._qos_timer = self.create_timer(2.0, self._recheck_qos)
        self._state_label = 'active'
        # Resolved names, so remaps and namespaces from launch show in the log.
        topics = ', '.join(
            c.subscription.topic_name if c.subscription is not None else c.plan.image_topic
            for c in self._cameras)
        self.get_logger().info(f'active: detecting on {topics}')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking frames; the frame in flight finishes, pending ones are dropped."""
        self._stop_processing()
        self._state_label = 'inactive'
        self.get_logger().info('inactive: stopped detecting, engine kept')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the engine and publishers so the node can be configured anew."""
        self._release()
        self.get_logger().info('unconfigured: engine released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, from whichever state the node was in."""
        self._shut_down()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop all resources and return to unconfigured, ready for a new configure."""
        self.get_logger().error(f'error while {state.label}: releasing and returning to '
                                'unconfigured')
        self._stop_processing()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Shut down (Ctrl-C, end of process) before rclpy tears down what the worker uses."""
        if self._state_label != 'finalized':
            self._shut_down()
        super().destroy_node()

    def _shut_down(self) -> None:
        """Stop the worker, release engine and publishers, and say so, from any state."""
        previous = self._state_label
        self._stop_processing()
        released = self._pipeline is not None
        self._release()
        self._state_label = 'finalized'
        self.get_logger().info(
            f'finalized: shut down from {previous}' + (', engine released' if released else ''))

    # ------------------------------------------------------------------------------ helpers
    def _subscribe(self, cam: _Camera) -> None:
        if self._node_config is None:
            return
        topic = self.resolve_topic_name(cam.plan.image_topic)
        reliability = choose_reliability(
            self._node_config.qos_reliability, self.get_publishers_info_by_topic(topic))
        msg_type = CompressedImage if cam.plan.compressed else Image
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda event, cam=cam: self._qos_hint(cam, event))
        cam.subscription = self.create_subscription(
            msg_type, cam.plan.image_topic, lambda msg, cam=cam: self._on_image(cam, msg),
            image_qos(reliability, self._node_config.qos_depth), event_callbacks=events)
        cam.reliability = reliability

    def _on_image(self, cam: _Camera, msg: Any) -> None:
        cam.slot.put(msg)
        self._wake.set()

    def _qos_hint(self, cam: _Camera, event: Any) -> None:
        self.get_logger().warning(
            f'QoS of {cam.plan.image_topic!r} does not match its publisher '
            f'({event.last_policy_kind}); set qos_reliability to auto or best_effort',
            throttle_duration_sec=_THROTTLE_S,
        )

    def _recheck_qos(self) -> None:
        """Follow publishers that appear or change reliability by re-creating subscriptions."""
        if not self._active.is_set() or self._node_config is None:
            return
        for cam in self._cameras:
            topic = self.resolve_topic_name(cam.plan.image_topic)
            wanted = choose_reliability('auto', self.get_publishers_info_by_topic(topic))
            if wanted != cam.reliability and cam.subscription is not None:
                self.get_logger().info(
                    f'{cam.plan.image_topic}: publishers changed, subscribing '
                    f'{describe_reliability(wanted)}')
                self.destroy_subscription(cam.subscription)
                self._subscribe(cam)

    def _stop_processing(self) -> None:
        self._active.clear()
        if self._qos_timer is not None:
            self.destroy_timer(self._qos_timer)
            self._qos_timer = None
        for cam in self._cameras:
            if cam.subscription is not None:
                self.destroy_subscription(cam.subscription)
                cam.subscription = None
            cam.slot.clear()
        self._stop.set()
        self._wake.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=10.0)
        self._worker = None

    def _release(self) -> None:
        for cam in self._cameras:
            for pub in (cam.detections_pub, cam.debug_pub):
                if pub is not None:
                    self.destroy_lifecycle_publisher(pub)
        self._cameras = []
        if self._label_pub is not None:
            self.destroy_publisher(self._label_pub)
            self._label_pub = None
        self._close_pipeline()
        self._configured = False
        self._state_label = 'unconfigured'

    def _close_pipeline(self) -> None:
        """Release the engine once the frame in flight (if any) is done with it."""
        if self._pipeline is not None:
            with self._busy:
                self._pipeline.close()
            self._pipeline = None

    def _apply_runtime_parameters(self, changed: dict[str, Any]) -> None:
        """Swap in new thresholds; the next frame uses them."""
        if self._pipeline is None:
            return
        values = {**parameter_values(self), **changed}
        self._pipeline.set_decoder_config(decoder_config_from_params(values))
        if 'confidence_threshold' in changed:
            self._publish_label_info()

    def _publish_label_info(self) -> None:
        if self._pipeline is None or self._label_pub is None:
            return
        header = Header(stamp=self.get_clock().now().to_msg())
        threshold = self._pipeline.decoder_config.confidence_threshold
        self._label_pub.publish(label_info_msg(self._pipeline.labels, threshold, header))

    # ------------------------------------------------------------------------------- worker
    def _work(self) -> None:
        """Process the newest frame of each camera in turn until deactivated."""
        while not self._stop.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            progressed = True
            while progressed and self._active.is_set():
                progressed = False
                for cam in self._cameras:
                    frame = cam.slot.take()
                    if frame is not None:
                        self._process(cam, frame)
                        progressed = True

    def _process(self, cam: _Camera, msg: Any) -> None:
        pipeline = self._pipeline
        if pipeline is None or self._node_config is None:
            return
        stats = cam.slot.stats
        with self._busy:
            try:
                image, dets, times = pipeline.process_message(msg, cam.plan.compressed)
            except ImageDecodeError as err:
                with stats.lock:
                    stats.decode_errors += 1
                self.get_logger().error(f'{cam.plan.image_topic}: dropped bad image: {err}',
                                        throttle_duration_sec=_THROTTLE_S)
                return
            except Exception as err:  # noqa: BLE001 - a frame must never kill the node
                with stats.lock:
                    stats.inference_errors += 1
                self.get_logger().error(f'{cam.plan.image_topic}: inference failed: {err!r}',
                                        throttle_duration_sec=_THROTTLE_S)
                return
        if not self._active.is_set():
            return
        out = detections_to_msg(dets, msg.header, pipeline.labels,
                                self._node_config.class_id_mode)
        cam.detections_pub.publish(out)
        if cam.debug_pub is not None and cam.debug_pub.get_subscription_count() > 0:
            bgr = draw_detections(
                pipeline.to_bgr(image, pipeline.image_order(msg, cam.plan.compressed)),
                dets, pipeline.labels)
            cam.debug_pub.publish(image_to_msg(bgr, msg.header))
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        age_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6 if stamp_ns else None
        stats.record(times, age_ms)
        self._frame_debug.frame_done(cam.plan.image_topic, stats, times, age_ms)

    # --------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        msg = build_diagnostics(
            node_name=self.get_fully_qualified_name(),
            state=self._state_label,
            pipeline=self._pipeline,
            cameras=[(cam.plan, cam.slot.stats, cam.reliability) for cam in self._cameras],
            configure_seconds=self._configure_seconds,
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)


class _ProgressTicker:
    """Logs elapsed time every few seconds while a long engine build blocks configure."""

    def __init__(self, node: DetectorNode, start: float, period: float = 10.0) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(node, start, period), daemon=True)
        self._thread.start()

    def _run(self, node: DetectorNode, start: float, period: float) -> None:
        while not self._done.wait(period):
            node.get_logger().info(f'still building/warming the engine: '
                                   f'{time.monotonic() - start:.0f} s elapsed')

    def stop(self) -> None:
        """End the ticker."""
        self._done.set()


def main(args: list[str] | None = None, stop: StopSignals | None = None) -> None:
    """Run the detector node; transitions come from launch, ``ros2 lifecycle`` or a manager."""
    run_node(DetectorNode, args, threads=2, stop=stop)


if __name__ == '__main__':
    main()
