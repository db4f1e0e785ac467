"""Run the detector over the images of bags, as the node would, and collect what metrics need.

Every image goes through ``DetectionPipeline.process_message`` (decode, preprocess, session,
decoder, thresholds: the node's own path) and ``DetectionPipeline.track`` (the node's tracker, one
per image topic, advanced in bag order and reset at the start of each bag), and its detections
are written as the node publishes them, with the image's header, on the topic the node would use
(``plan_cameras``). Broken
records are counted and skipped like the node skips them, never fatal. Several bags run in a
process pool with one pipeline per worker process (engines are not shared across processes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
import multiprocessing
import queue
import time
from typing import Any

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import BagError, ConfigError, EdgeInferError, ImageDecodeError
from edge_infer_ros.eval.bag_io import (
    DETECTIONS_TYPE,
    IMAGE_TYPES,
    BagReader,
    BagTopic,
    BagWriter,
)
from edge_infer_ros.eval.ground_truth import GroundTruth
from edge_infer_ros.eval.messages import (
    FrameKey,
    NamedBoxes,
    detection_array,
    frame_key,
    named_boxes_from_msg,
    ros2_header,
)
from edge_infer_ros.eval.metrics import LATENCY_STAGES
from edge_infer_ros.naming import NodeNames, resolve_cameras
from edge_infer_ros.parameters import node_config_from_params, pipeline_config_from_params
from edge_infer_ros.pipeline import DetectionPipeline
from edge_infer_ros.streams import CameraPlan, plan_cameras

__all__ = [
    'BagJob',
    'BagResult',
    'Camera',
    'Frame',
    'evaluate_bags',
    'plan_bag_cameras',
    'plan_node_cameras',
    'process_bag',
    'read_detections',
]

RECORDED = 'recorded'
_MAX_PROBLEMS = 20
Progress = Callable[[int], None]


@dataclass(frozen=True)
class BagJob:
    """One bag to evaluate; ``recorded`` is '', ``'recorded'`` or a topic to compare with."""

    bag: str
    output: str = ''
    storage: str = 'mcap'
    cameras: tuple[CameraPlan, ...] = ()  # planned by plan_node_cameras; () discovers
    gt_topics: tuple[str, ...] = ()
    recorded: str = ''
    max_frames: int = 0


@dataclass(frozen=True)
class Camera:
    """An image topic of a bag and where its detections go."""

    image_topic: str
    detections_topic: str
    compressed: bool


@dataclass(frozen=True, eq=False)
class Frame:
    """The detections of one processed image."""

    camera: str
    key: FrameKey
    width: int
    height: int
    detections: Detections


@dataclass
class BagResult:
    """Everything one bag contributed: frames, stage times, counts and reference data."""

    bag: str
    output: str = ''
    cameras: list[Camera] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    topics: dict[str, BagTopic] = field(default_factory=dict)
    ground_truth: GroundTruth = field(default_factory=GroundTruth)
    recorded: dict[tuple[str, int, str], NamedBoxes] = field(default_factory=dict)
    error: str = ''

    def problem(self, kind: str, text: str) -> None:
        """Count one skipped record of ``kind`` and keep the first few messages."""
        self.counts[kind] += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(text)


def _absolute(topic: str) -> str:
    return topic if topic.startswith('/') else f'/{topic}'


def plan_node_cameras(
    params: dict[str, Any], image_topics: Sequence[str], names: NodeNames | None,
) -> tuple[CameraPlan, ...]:
    """The node's cameras with the names it used live; () where the bag decides (discovery).

    ``image_topics`` (``--image-topic``) stands for the ``image_topics`` parameter; ``names``
    (``--node-name``, ``-r``) for the node's namespace, name and remaps. With neither, every
    image topic of a bag is a camera, as for a node in ``/`` subscribed to its absolute name.

    Raises:
        ConfigError: bad image_topics or image_transport, or outputs that clash.
    """
    if names is None and not image_topics:
        return ()
    config = node_config_from_params(params)
    topics = tuple(image_topics) or config.image_topics
    return resolve_cameras(plan_cameras(topics, config.image_transport), names or NodeNames())


def plan_bag_cameras(reader: BagReader, planned: Sequence[CameraPlan]) -> list[Camera]:
    """The ``planned`` cameras in the bag, or its image topics discovered by type.

    Discovered topics are named like the node's outputs (``plan_cameras``); a discovered
    ``<topic>/compressed`` is left out when the raw ``<topic>`` is in the bag too.

    Raises:
        BagError: a planned topic is missing or not an image, or the bag has no images.
    """
    found = reader.topics_of_type(*IMAGE_TYPES)
    if not planned:
        # Discovery skips the compressed twin of a raw topic: one camera, one output topic.
        discovered = [t for t in found if t.removesuffix('/compressed') == t
                      or t.removesuffix('/compressed') not in found]
        if not discovered:
            types = {t.name: t.msgtype for t in reader.topics.values()}
            msg = (f'bag {str(reader.path)!r} has no readable Image or CompressedImage topic: '
                   f'{types!r}')
            raise BagError(msg)
        try:
            planned = resolve_cameras(plan_cameras(tuple(discovered), 'auto'), NodeNames())
        except ConfigError as err:
            raise BagError(str(err)) from err
    for plan in planned:
        if plan.image_topic not in found:
            info = reader.topics.get(plan.image_topic)
            why = 'is not in it' if info is None else (
                info.problem or f'has type {info.msgtype!r}, not an image type')
            msg = (f'image topic {plan.image_topic!r} of bag {str(reader.path)!r} {why}; '
                   f"images: {found!r}; give the node's names and remaps (--node-name, -r "
                   'image_raw:=/camera/topic) or --image-topic')
            raise BagError(msg)
    return [Camera(p.image_topic, p.detections_topic,
                   IMAGE_TYPES[reader.topics[p.image_topic].msgtype]) for p in planned]


def _reference_topics(job: BagJob, reader: BagReader, cameras: list[Camera]) -> dict[str, str]:
    """Recorded detection topic -> the camera output it is compared with."""
    if not job.recorded:
        return {}
    if job.recorded == RECORDED:
        pairs = {c.detections_topic: c.detections_topic for c in cameras}
    elif len(cameras) == 1:
        pairs = {_absolute(job.recorded): cameras[0].detections_topic}
    else:
        msg = (f'comparing with topic {job.recorded!r} needs one camera, bag '
               f'{str(reader.path)!r} has {len(cameras)}; use --compare-with recorded')
        raise BagError(msg)
    usable = set(reader.topics_of_type(DETECTIONS_TYPE))
    missing = sorted(set(pairs) - usable)
    if len(missing) == len(pairs):
        msg = (f'bag {str(reader.path)!r} has no readable Detection2DArray topic {missing!r} '
               'to compare with')
        raise BagError(msg)
    return {k: v for k, v in pairs.items() if k in usable}


def process_bag(
    pipeline: DetectionPipeline, job: BagJob, class_id_mode: str,
    progress: Progress | None = None,
) -> BagResult:
    """Run ``pipeline`` over the images of ``job.bag``; write the output bag if asked.

    Raises:
        BagError: the bag cannot be opened or has no usable image topic.
    """
    result = BagResult(job.bag, job.output)
    result.times = {name: [] for name in LATENCY_STAGES}
    with BagReader(job.bag) as reader:
        result.topics = dict(reader.topics)
        result.cameras = cameras = plan_bag_cameras(reader, job.cameras)
        gt_topics = {_absolute(t) for t in job.gt_topics}
        for topic in sorted(gt_topics - set(reader.topics_of_type(DETECTIONS_TYPE))):
            msg = (f'ground-truth topic {topic!r} is not a readable Detection2DArray topic of '
                   f'bag {str(reader.path)!r}')
            raise BagError(msg)
        references = _reference_topics(job, reader, cameras)
        by_topic = {c.image_topic: c for c in cameras}
        pipeline.reset_tracks()  # a recording is a sequence of its own
        writer = BagWriter(job.output, job.storage) if job.output else None
        start = time.perf_counter()
        try:
            for topic, log_time, raw in reader.messages([*by_topic, *gt_topics, *references]):
                camera = by_topic.get(topic)
                if camera is None:
                    _read_reference(reader, result, topic, raw, gt_topics, references)
                    continue
                if job.max_frames and result.counts['images'] >= job.max_frames:
                    continue
                result.counts['images'] += 1
                _process(pipeline, reader, result, camera, log_time, raw, writer, class_id_mode)
                if progress is not None:
                    progress(1)
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            writer.mark_complete()
        result.wall_seconds = time.perf_counter() - start
        if reader.read_error:
            result.problem('read_errors', reader.read_error)
    for name, info in result.topics.items():
        if info.problem:
            result.problem('unreadable_topics', f'topic {name!r} skipped: {info.problem}')
    return result


def _read_reference(
    reader: BagReader, result: BagResult, topic: str, raw: bytes, gt_topics: set[str],
    references: dict[str, str],
) -> None:
    kind = 'ground_truth' if topic in gt_topics else 'recorded'
    try:
        msg = reader.deserialize(topic, raw)
        boxes = named_boxes_from_msg(msg)
    except (BagError, AttributeError, TypeError, ValueError) as err:
        result.problem(f'{kind}_undecodable', f'{topic}: {err}')
        return
    result.counts[f'{kind}_messages'] += 1
    key = frame_key(msg.header)
    if kind == 'ground_truth':
        result.ground_truth.add(key, boxes)
    else:
        # A named key: mypy 2.4 misreads a starred tuple in a subscript as 3.11-only syntax.
        recorded_key = (references[topic], *key)
        result.recorded[recorded_key] = boxes


def _process(
    pipeline: DetectionPipeline, reader: BagReader, result: BagResult, camera: Camera,
    log_time: int, raw: bytes, writer: BagWriter | None, class_id_mode: str,
) -> None:
    try:
        msg = reader.deserialize(camera.image_topic, raw)
    except BagError as err:
        result.problem('undeserialisable', f'{camera.image_topic} at {log_time}: {err}')
        return
    try:
        image, dets, times = pipeline.process_message(msg, camera.compressed)
        dets = pipeline.track(camera.image_topic, dets, msg.header, log_time, times)
    except ImageDecodeError as err:
        result.problem('undecodable', f'{camera.image_topic} at {log_time}: {err}')
        return
    except EdgeInferError as err:  # the node counts and skips these too
        result.problem('inference_errors', f'{camera.image_topic} at {log_time}: {err}')
        return
    key = frame_key(msg.header)
    if writer is not None:
        header = ros2_header(writer.store, key)
        out = detection_array(writer.store, header, dets, pipeline.labels, class_id_mode)
        writer.write(camera.detections_topic, DETECTIONS_TYPE, log_time, out)
    result.counts['processed'] += 1
    result.frames.append(Frame(camera.detections_topic, key, image.width, image.height, dets))
    for stage in LATENCY_STAGES:
        result.times[stage].append(float(getattr(times, stage)))


def read_detections(
    path: str, topics: Sequence[str] = (),
) -> tuple[dict[str, dict[FrameKey, NamedBoxes]], list[str]]:
    """The Detection2DArray topics of a bag (all, or ``topics``), per topic by frame key.

    Returns:
        Boxes per topic and frame, and messages about records that could not be read.

    Raises:
        BagError: the bag cannot be opened or a requested topic is not readable in it.
    """
    out: dict[str, dict[FrameKey, NamedBoxes]] = {}
    problems: list[str] = []
    with BagReader(path) as reader:
        usable = reader.topics_of_type(DETECTIONS_TYPE)
        wanted = [_absolute(t) for t in topics] or usable
        for topic in wanted:
            if topic not in usable:
                msg = f'bag {path!r} has no readable Detection2DArray topic {topic!r}: {usable!r}'
                raise BagError(msg)
            out[topic] = {}
        for topic, _, raw in reader.messages(wanted):
            try:
                msg = reader.deserialize(topic, raw)
                out[topic][frame_key(msg.header)] = named_boxes_from_msg(msg)
            except (BagError, AttributeError, TypeError, ValueError) as err:
                problems.append(f'{topic}: {err}')
        if reader.read_error:
            problems.append(reader.read_error)
    return out, problems


# ---------------------------------------------------------------------------- process pool
_WORKER: dict[str, Any] = {}


def _init_worker(params: dict[str, Any], updates: Any) -> None:
    _WORKER.update(params=params, updates=updates, pipeline=None)


def _run_in_worker(job: BagJob) -> BagResult:
    params = _WORKER['params']
    if _WORKER['pipeline'] is None:  # built on the first job so errors reach the caller
        _WORKER['pipeline'] = DetectionPipeline(pipeline_config_from_params(params))
    mode = node_config_from_params(params).class_id_mode
    return process_bag(_WORKER['pipeline'], job, mode, _WORKER['updates'].put)


def _safe(run: Callable[[BagJob], BagResult], job: BagJob) -> BagResult:
    try:
        return run(job)
    except BagError as err:  # an unusable bag: reported, the others go on
        return BagResult(job.bag, error=str(err))


def evaluate_bags(
    params: dict[str, Any], jobs: Sequence[BagJob], workers: int = 1,
    progress: Progress | None = None, log: Callable[[str], None] | None = None,
) -> tuple[list[BagResult], dict[str, str], list[str]]:
    """Evaluate ``jobs`` in order, in this process or in a pool of ``workers`` processes.

    Returns:
        One result per job (``error`` set for an unusable bag), the pipeline report and the
        model's class names.

    Raises:
        ConfigError, EngineError: the pipeline cannot be built from ``params``.
    """
    config = pipeline_config_from_params(params)
    mode = node_config_from_params(params).class_id_mode
    pipeline = DetectionPipeline(config, log)  # also checks the model before any worker starts
    report, labels = pipeline.report(), list(pipeline.labels)
    if workers <= 1 or len(jobs) <= 1:
        try:
            results = [_safe(lambda j: process_bag(pipeline, j, mode, progress), job)
                       for job in jobs]
        finally:
            pipeline.close()
        return results, report, labels
    pipeline.close()  # each worker builds its own; free this one before they start
    context = multiprocessing.get_context('spawn')
    updates = context.Queue()
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context,
                             initializer=_init_worker, initargs=(params, updates)) as pool:
        futures: list[Future[BagResult]] = [pool.submit(_safe, _run_in_worker, job)
                                            for job in jobs]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress)
        _drain(updates, progress)
        results = [f.result() for f in futures]
    return results, report, labels


def _drain(updates: Any, progress: Progress | None) -> None:
    while True:
        try:
            count = updates.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(count)
