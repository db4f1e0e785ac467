"""The detector as a ROS 2 managed (lifecycle) node: thin glue around ``DetectionPipeline``.

configure builds and warms the engine (the slow part), activate only subscribes, deactivate only
unsubscribes. Inference runs on a worker thread, so the executor keeps serving lifecycle and
parameter services while a frame is being processed. Images are taken serialized and only when
the worker can use them (:mod:`edge_infer_ros.ros.intake`): a frame that arrives while the worker
is busy is replaced inside the middleware and costs the node nothing, and the one that is
processed is read in place (:mod:`edge_infer_ros.imaging.cdr`), never deserialized or copied.
"""

from __future__ import annotations

from contextlib import suppress
import inspect
import os
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from rclpy.qos import ReliabilityPolicy

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError
from builtin_interfaces.msg import Time
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from edge_infer_ros.config import NodeConfig
from edge_infer_ros.decoders.detections import track_id_strings
from edge_infer_ros.errors import ConfigError, EdgeInferError, ImageDecodeError
from edge_infer_ros.imaging.cdr import parse_compressed, parse_image
from edge_infer_ros.parameters import (
    decoder_config_from_params,
    node_config_from_params,
    pipeline_config_from_params,
)
from edge_infer_ros.pipeline import DetectionPipeline
from edge_infer_ros.ros.conversions import (
    draw_detections,
    image_to_msg,
    label_info_msg,
)
from edge_infer_ros.ros.dds import stall_hint
from edge_infer_ros.ros.detections_cdr import detections_cdr
from edge_infer_ros.ros.diagnostics import STALLS_TO_WARN, build_diagnostics
from edge_infer_ros.ros.frame_debug import FrameDebugLog
from edge_infer_ros.ros.frame_memory import keep_frame_buffers
from edge_infer_ros.ros.intake import MESSAGE_INFO_CALLBACKS, IntakeGate, Prefetcher, drain
from edge_infer_ros.ros.log_throttle import KeyedThrottle, brief
from edge_infer_ros.ros.params import NodeParameters
from edge_infer_ros.ros.qos import (
    AUTO_IMAGE_DEPTH,
    choose_reliability,
    describe_reliability,
    image_history_depth,
    image_qos,
    latched_qos,
)
from edge_infer_ros.ros.spin import run_node
from edge_infer_ros.ros.stop_signals import StopSignals
from edge_infer_ros.ros.topic_names import check_camera_topics
from edge_infer_ros.streams import (
    STALL_WINDOW_S,
    CameraPlan,
    DeliveryWatch,
    FrameSlot,
    PendingFrame,
    SkipCounter,
    plan_cameras,
)

__all__ = ['DetectorNode', 'main']

InvalidHandle = _rclpy.InvalidHandle  # raised by entities destroyed under a running callback

_THROTTLE_S = 5.0
_HINT_S = 60.0  # a configuration hint repeats at most once a minute per camera
_MATCH_WAIT_S = 0.5  # how long a new subscription may take to match the topic's publishers
_QOS_RECHECK_S = 2.0  # qos_reliability auto: period of the fallback look at the publishers
_QOS_SOON_S = 0.05  # qos_reliability auto: delay of the look a subscription event asks for
# Subscription matched events (Iron and newer; Humble has only the periodic recheck).
_MATCHED_EVENTS = 'matched' in inspect.signature(SubscriptionEventCallbacks).parameters


class _Camera:
    """One camera's subscription, publishers, intake gate and pending-frame slot."""

    def __init__(self, plan: CameraPlan, wanted: Any) -> None:
        self.plan = plan
        self.slot = FrameSlot()
        self.skips = SkipCounter()
        self.delivery = DeliveryWatch()
        self.gate = IntakeGate(lambda: wanted(self))
        self.subscription: Any = None
        self.reliability: ReliabilityPolicy | None = None
        self.catch_up = False  # the last take ended an idle wait: the next keeps a burst
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
        self._current: _Camera | None = None
        self._next_index = 0
        self._gate_wake: Any = None
        self._prefetch: Prefetcher | None = None
        self._qos_timer: Any = None
        self._qos_soon: Any = None
        self._state_label = 'unconfigured'
        self._configure_seconds = 0.0
        self._frame_errors = KeyedThrottle(_THROTTLE_S)
        self._hints = KeyedThrottle(_HINT_S)
        self._frame_debug = FrameDebugLog(self.get_logger())
        self._params = NodeParameters(self, lambda: self._configured,
                                      self._apply_runtime_parameters)
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
        problems = self._params.problems()
        if problems:
            self.get_logger().error(f'configure failed: {problems}')
            return TransitionCallbackReturn.FAILURE
        values = self._params.values()
        try:
            pipeline_config = pipeline_config_from_params(values)
            node_config = node_config_from_params(values)
            plans = plan_cameras(node_config.image_topics, node_config.image_transport)
            check_camera_topics(node_config.image_topics, plans, self.resolve_topic_name)
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
        self._cameras = [_Camera(plan, self._wants_frame) for plan in plans]
        if self._gate_wake is None:
            self._gate_wake = self.create_guard_condition(lambda: None)
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
        if self._node_config is not None and self._node_config.qos_reliability == 'auto':
            # Before the subscriptions, whose first events may come at once.
            self._qos_timer = self.create_timer(_QOS_RECHECK_S, self._recheck_qos)
            self._qos_soon = self.create_timer(_QOS_SOON_S, self._recheck_qos_soon)
            self._qos_soon.cancel()  # armed by the subscriptions' events
        for cam in self._cameras:
            # Frames sent while inactive are neither drops nor a stall; the worker now waits.
            cam.skips = SkipCounter()
            cam.delivery.stop_waiting()
            self._subscribe(cam)
            cam.delivery.waiting()
        self._stop.clear()
        self._prefetch = Prefetcher(self._prefetch_frame)
        self._active.set()
        self._worker = threading.Thread(target=self._work, name='detector_worker', daemon=True)
        self._worker.start()
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
        if self._pipeline is not None:
            with self._busy:  # a later activate starts new tracks, with new IDs
                self._pipeline.reset_tracks()
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
        if MESSAGE_INFO_CALLBACKS:
            def callback(data: Any, info: Any, cam: _Camera = cam) -> None:
                self._on_image(cam, data, info)
        else:  # Humble: no message info for the first message of a take
            def callback(data: Any, cam: _Camera = cam) -> None:  # type: ignore[misc]
                self._on_image(cam, data, None)
        qos = image_qos(reliability, image_history_depth(self._node_config.qos_depth))
        cam.delivery.history_depth = qos.depth

        def subscribe(matched: bool) -> Any:
            return self.create_subscription(
                msg_type, cam.plan.image_topic, callback, qos,
                event_callbacks=self._qos_events(cam, matched=matched),
                callback_group=cam.gate, raw=True)

        try:
            cam.subscription = subscribe(_MATCHED_EVENTS)
        except UnsupportedEventTypeError:  # a middleware without matched events
            cam.subscription = subscribe(False)
        cam.reliability = reliability

    def _qos_events(self, cam: _Camera, *, matched: bool) -> Any:
        """The image subscription's QoS event callbacks (``matched``: where the middleware has it).

        Under qos_reliability auto a publisher that comes, goes (``matched``) or cannot match
        (``incompatible_qos``) makes the node look at the publishers at once rather than at the
        next periodic recheck; otherwise an incompatible publisher gets a hint in the log.
        """
        assert self._node_config is not None
        if self._node_config.qos_reliability != 'auto':
            return SubscriptionEventCallbacks(
                incompatible_qos=lambda event: self._qos_hint(cam, event))

        def changed(event: Any) -> None:
            self._qos_changed()

        return SubscriptionEventCallbacks(
            incompatible_qos=changed, **({'matched': changed} if matched else {}))

    def _wants_frame(self, cam: _Camera) -> bool:
        """Intake gate: take a frame only when it can be processed next (see ``intake``)."""
        if not self._active.is_set() or not cam.slot.empty:
            return False
        if self._current is not cam:
            return True
        prefetch = self._prefetch
        # Its next frame is taken early only if no other camera's frame would go first.
        return prefetch is not None and prefetch.open and all(
            c.slot.empty for c in self._cameras if c is not cam)

    def _open_gates(self) -> None:
        """Wake the executor so it waits on the subscriptions whose gates are now open."""
        gate_wake = self._gate_wake
        if gate_wake is not None:
            with suppress(InvalidHandle):  # the node is being destroyed
                gate_wake.trigger()

    def _prefetch_frame(self) -> None:
        """Prefetch time for the camera in flight: take its waiting frame, else open its gate."""
        cam = self._current
        if cam is None or not self._take_waiting(cam):
            self._open_gates()

    def _take_waiting(self, cam: _Camera) -> bool:
        """Take ``cam``'s waiting frames on this thread (see ``_keep``); False when none wait.

        Why: when the worker can use a frame and one is already in the middleware's history
        (a camera faster than inference), taking it here spares the executor a wake-up and two
        wait-set rebuilds in Python, which would hold the GIL and take CPU from inference on
        shared cores. The gate's claim keeps the executor from taking at the same time.
        """
        if not cam.gate.beginning_execution(None):  # not wanted now, or the executor is taking
            return False
        try:
            subscription = cam.subscription
            if subscription is None:
                return False
            try:
                frames, drained = drain(subscription, keep=self._keep(cam))
            except InvalidHandle:  # destroyed by a concurrent deactivate
                return False
            if not frames:
                return False
            self._accept(cam, frames, drained)
            return True
        finally:
            cam.gate.ending_execution(None)

    def _on_image(self, cam: _Camera, data: Any, info: Any) -> None:
        subscription = cam.subscription
        if subscription is None:  # deactivated while the executor was taking this frame
            return
        # The worker is waiting for this camera (DeliveryWatch armed): this frame may start a
        # burst. Not merely "no frame in flight", which is also true just after each frame.
        idle = cam.delivery.is_waiting
        try:
            frames, drained = drain(subscription, data, info, keep=self._keep(cam, idle))
        except InvalidHandle:  # destroyed by a concurrent deactivate
            return
        self._accept(cam, frames, drained, idle)

    def _keep(self, cam: _Camera, idle: bool = False) -> int:
        """How many of the frames waiting in the middleware a take keeps, oldest first.

        Why: over the middleware's default transport a camera's large frames reach the node in
        bursts after stalls of up to half a second (``DeliveryWatch``). Keeping only the newest
        of a burst leaves the worker idle through the next stall. So while the camera's frames
        stall (a delivery stall within the watch's window), the take that ends an idle wait and
        the one after it keep all the history holds (``qos_depth``, at most the automatic 3)
        and the worker goes through them in order: the newest waits at most two inferences
        more, after each idle wait in those 10 s. Measured side by side where the model keeps
        pace with a 30 Hz 1080p camera on the defaults: 19.8 vs 14.1 frames/s at a p99 image
        age of 159 vs 157 ms (two rounds). Without stalls it stays newest-only: there a catch-up
        after every short idle wait only added an inference to the p99 (118 vs 81 ms at 1080p
        with the profile, 128 vs 79 ms at 640x480; docs/benchmarks.md). A camera that steadily
        outpaces inference leaves the worker idle only after a stall, so it is taken
        newest-only otherwise. With several cameras each keeps its turn instead (one frame
        each, round-robin). The flag that makes the next take keep too is set by a take that
        returned frames (``_accept``), so an empty prefetch take does not use it up.
        """
        if (not (cam.catch_up or idle) or len(self._cameras) > 1
                or not cam.delivery.recent()[0]):
            return 1
        return min(cam.delivery.history_depth, AUTO_IMAGE_DEPTH)  # the subscription's depth

    def _accept(self, cam: _Camera, frames: list[PendingFrame], drained: int,
                idle: bool = False) -> None:
        """Put taken frames (oldest first) in the slot; ``drained`` older ones were dropped.

        ``idle``: the take ended an idle wait; the next take then keeps a burst too (``_keep``).
        """
        fresh, skipped, published = [], 0, 0
        for frame in frames:
            missed = cam.skips.missed(frame.info)
            if missed is None:  # taken already, from the other subscription of a re-subscription
                continue
            published += missed + 1
            # The sequence gap before the first frame kept includes the ones drained here.
            skipped += max(missed - (drained if not fresh else 0), 0)
            fresh.append(frame)
        if not fresh:
            return
        cam.catch_up = idle
        # Frames taken together were waiting in the history: no lone late frame.
        if cam.delivery.arrived(published, drained + len(fresh) - 1) is not None:
            self._stall_hint(cam)
        stats = cam.slot.stats
        with stats.lock:
            stats.dropped += drained + skipped
            stats.skipped += skipped
        stats.received.tick(count=drained + skipped)
        cam.slot.put(*fresh)
        if self._prefetch is not None:
            self._prefetch.frame_arrived()
        self._wake.set()

    def _stall_hint(self, cam: _Camera) -> None:
        """Tell the user, at most once a minute, that the camera's frames keep arriving late."""
        stalls, longest = cam.delivery.recent()
        if stalls < STALLS_TO_WARN or self._hints((cam.plan.image_topic, 'stalls')) is None:
            return
        self.get_logger().warning(stall_hint(
            cam.plan.image_topic, stalls, longest, STALL_WINDOW_S,
            rclpy.get_rmw_implementation_identifier(), os.environ))

    def _qos_hint(self, cam: _Camera, event: Any) -> None:
        self.get_logger().warning(
            f'QoS of {cam.plan.image_topic!r} does not match its publisher '
            f'({event.last_policy_kind}); set qos_reliability to auto or best_effort',
            throttle_duration_sec=_THROTTLE_S,
        )

    def _qos_changed(self) -> None:
        """A subscription event under qos_reliability auto: re-check the publishers shortly.

        Why: until the node re-subscribes, a reliable camera that appears after activation is
        received best-effort (1080p frames from a camera on the middleware's defaults are then
        mostly lost), and a best-effort camera joining a reliable subscription is not received
        at all. The event runs in the camera's intake gate, where the re-subscription cannot
        take the gate's claim, so a one-shot timer does the work a moment later (which also
        leaves the graph time to show the new publisher's QoS).
        """
        timer = self._qos_soon
        if timer is not None:  # None: not active
            with suppress(InvalidHandle):  # destroyed by a concurrent deactivate
                timer.reset()

    def _recheck_qos_soon(self) -> None:
        timer = self._qos_soon
        if timer is not None:  # None: deactivated meanwhile
            with suppress(InvalidHandle):
                timer.cancel()
            self._recheck_qos()

    def _recheck_qos(self) -> None:
        """Follow publishers that appear or change reliability by re-creating subscriptions."""
        if not self._active.is_set() or self._node_config is None:
            return
        for cam in self._cameras:
            topic = self.resolve_topic_name(cam.plan.image_topic)
            publishers = self.get_publishers_info_by_topic(topic)
            wanted = choose_reliability('auto', publishers)
            if wanted != cam.reliability and cam.subscription is not None:
                self.get_logger().info(
                    f'{cam.plan.image_topic}: publishers changed, subscribing '
                    f'{describe_reliability(wanted)}')
                self._resubscribe(cam, len(publishers))

    def _resubscribe(self, cam: _Camera, publishers: int) -> None:
        """Replace ``cam``'s subscription without losing a frame (make before break).

        Why: while inference runs, frames wait in the subscription's history (``intake``);
        destroying it first lost them, and a camera that then paused never had its newest
        frame processed. The new subscription is created and given a moment to match the
        publishers; then, under the gate's claim, the old one's newest frame goes to the slot
        and the old one is destroyed. A frame both received is processed once (``SkipCounter``).
        """
        old = cam.subscription
        self._subscribe(cam)
        new = cam.subscription
        count = getattr(new, 'get_publisher_count', None)  # Iron and newer
        deadline = time.monotonic() + (_MATCH_WAIT_S if count is not None else 0.1)
        while time.monotonic() < deadline and (count is None or count() < publishers):
            time.sleep(0.005)
        with cam.gate.exclusive():
            try:
                frames, drained = drain(old)
            except InvalidHandle:  # destroyed by a concurrent deactivate
                return
            if frames:
                self._accept(cam, frames, drained)
            self.destroy_subscription(old)

    def _stop_processing(self) -> None:
        self._active.clear()
        for timer in (self._qos_timer, self._qos_soon):
            if timer is not None:
                self.destroy_timer(timer)
        self._qos_timer = self._qos_soon = None
        for cam in self._cameras:
            if cam.subscription is not None:
                self.destroy_subscription(cam.subscription)
                cam.subscription = None
            cam.slot.clear()
        self._current = None
        self._stop.set()
        self._wake.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=10.0)
        self._worker = None
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None

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
        values = {**self._params.values(), **changed}
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
        """Process pending frames, cameras in turn, until deactivated."""
        while not self._stop.is_set():
            item = self._next_frame() if self._active.is_set() else None
            if item is None:
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            prefetch = self._prefetch
            if prefetch is not None:
                prefetch.started()
            self._process(*item)
            self._current = None
            if prefetch is not None:
                prefetch.finished()
            # Wake the executor only when nothing was prefetched and nothing is waiting: each
            # wake-up rebuilds its wait set in Python, taking CPU and the GIL from this thread.
            if item[0].slot.empty and not self._take_waiting(item[0]):
                if self._active.is_set():  # deactivating: a wait would outlast it
                    item[0].delivery.waiting()
                if prefetch is not None:
                    prefetch.gate_opened()
                self._open_gates()

    def _next_frame(self) -> tuple[_Camera, PendingFrame] | None:
        """The next camera with a pending frame, round-robin so every camera keeps its share."""
        cameras = self._cameras
        for offset in range(len(cameras)):
            cam = cameras[(self._next_index + offset) % len(cameras)]
            if cam.slot.empty:
                continue
            self._current = cam  # close its gate before emptying the slot
            cam.delivery.stop_waiting()  # a frame taken before the wait began ends none
            frame = cam.slot.take()
            if frame is None:
                self._current = None
                continue
            self._next_index = (self._next_index + offset + 1) % len(cameras)
            return cam, frame
        return None

    def _process(self, cam: _Camera, frame: PendingFrame) -> None:
        pipeline = self._pipeline
        if pipeline is None or self._node_config is None:
            return
        stats = cam.slot.stats
        start = time.monotonic()
        with self._busy:
            try:
                t0 = time.perf_counter()
                msg = (parse_compressed(frame.data) if cam.plan.compressed
                       else parse_image(frame.data))
                parse_ms = (time.perf_counter() - t0) * 1e3
                image, dets, times = pipeline.process_message(msg, cam.plan.compressed)
                dets = pipeline.track(cam.plan.image_topic, dets, msg.header,
                                      self.get_clock().now().nanoseconds, times)
            except ImageDecodeError as err:
                with stats.lock:
                    stats.decode_errors += 1
                self._frame_error(cam, 'dropped bad image', str(err))
                return
            except Exception as err:  # noqa: BLE001 - a frame must never kill the node
                with stats.lock:
                    stats.inference_errors += 1
                self._frame_error(cam, 'inference failed', repr(err))
                return
        if not self._active.is_set():
            return
        t0 = time.perf_counter()
        stamp = msg.header.stamp
        # Serialized here rather than built as a message (ros/detections_cdr.py: why).
        cam.detections_pub.publish(detections_cdr(
            dets, stamp.sec, stamp.nanosec, msg.header.frame_id, pipeline.labels,
            self._node_config.class_id_mode, track_id_strings(dets)))
        times.publish = (time.perf_counter() - t0) * 1e3
        times.decode += parse_ms
        times.wait = (start - frame.taken) * 1e3
        if cam.debug_pub is not None and cam.debug_pub.get_subscription_count() > 0:
            header = Header(stamp=Time(sec=stamp.sec, nanosec=stamp.nanosec),
                            frame_id=msg.header.frame_id)
            bgr = draw_detections(pipeline.to_bgr(image), dets, pipeline.labels)
            cam.debug_pub.publish(image_to_msg(bgr, header))
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        age_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6 if stamp_ns else None
        stats.record(times, age_ms)
        self._frame_debug.frame_done(cam.plan.image_topic, stats, times, age_ms)

    def _frame_error(self, cam: _Camera, what: str, text: str) -> None:
        """Log a dropped frame, throttled per camera and kind (not one throttle for all)."""
        held = self._frame_errors((cam.plan.image_topic, what))
        if held is not None:
            more = f' ({held} more since the last report)' if held else ''
            self.get_logger().error(f'{cam.plan.image_topic}: {what}: {brief(text)}{more}')

    # --------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        msg = build_diagnostics(
            node_name=self.get_fully_qualified_name(),
            state=self._state_label,
            pipeline=self._pipeline,
            cameras=[(cam.plan, cam.slot.stats, cam.reliability, cam.delivery)
                     for cam in self._cameras],
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
    keep_frame_buffers()  # before the first frame: a 1080p take costs 2.7 ms instead of 7.8
    run_node(DetectorNode, args, threads=2, stop=stop)


if __name__ == '__main__':
    main()
