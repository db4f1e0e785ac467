"""Typed, immutable configuration of the ROS-free core.

Built once (from ROS parameters or a parameters YAML file, see ``parameters.py``) and handed to the
engine, the vision pipeline, the node, the bag tools and the benchmarks, so that every path runs
with exactly the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

from edge_infer_ros.errors import ConfigError

__all__ = [
    'DecoderConfig',
    'EngineConfig',
    'NodeConfig',
    'PipelineConfig',
    'PreprocessConfig',
    'PREPROCESS_IN_MODEL',
    'TrackerConfig',
    'PRECISIONS',
    'PROVIDERS',
    'FALLBACK_POLICIES',
    'OUTPUT_FORMATS',
    'TRACKERS',
    'IMAGE_CODECS',
    'DEFAULT_IMAGE_CODECS',
]

PRECISIONS = ('fp32', 'fp16', 'int8')
PROVIDERS = ('tensorrt', 'cuda', 'cpu')
FALLBACK_POLICIES = ('error', 'warn', 'allow')
PREPROCESS_IN_MODEL = ('auto', 'true', 'false')
OUTPUT_FORMATS = (
    'auto',
    'yolov8',
    'yolov5',
    'yolox',
    'boxes_scores',
    'rfdetr',
    'end2end',
    'rtdetr_ultralytics',
    'rtdetr_official',
    'efficient_nms',
    'tf_object_detection',
    'torchvision',
)
TRACKERS = ('none', 'bytetrack')


@dataclass(frozen=True)
class PreprocessConfig:
    """Image to tensor: letterbox or stretch, channel order, scaling and normalisation."""

    letterbox: bool = True
    pad_value: int = 114
    channel_order: str = 'rgb'
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def affine(self) -> tuple[list[float], list[float]]:
        """Per-channel ``alpha, beta``: ``(pixel * scale - mean) / std = pixel * alpha + beta``.

        The host conversion and the in-model preprocessing graph both apply exactly these.

        Raises:
            ConfigError: not three means and stds, a non-finite value or a zero std.
        """
        if len(self.mean) != 3 or len(self.std) != 3:
            msg = f'mean and std need 3 values each, got {self.mean!r} and {self.std!r}.'
            raise ConfigError(msg)
        values = (self.scale, *self.mean, *self.std)
        if not all(math.isfinite(v) for v in values) or any(s == 0 for s in self.std):
            msg = f'scale, mean and std must be finite with std != 0, got {values!r}.'
            raise ConfigError(msg)
        alpha = [self.scale / s for s in self.std]
        beta = [-m / s for m, s in zip(self.mean, self.std, strict=True)]
        return alpha, beta

IMAGE_CODECS = ('jpeg', 'png', 'bmp', 'tiff', 'webp', 'jp2', 'pnm')
"""Codecs a CompressedImage may be decoded from, each recognised by its magic bytes."""
DEFAULT_IMAGE_CODECS = ('jpeg', 'png')
"""What ``image_transport``'s compressed plugin publishes; the others must be asked for."""


@dataclass(frozen=True)
class EngineConfig:
    """How to create, build and warm the ONNX Runtime session.

    ``providers`` is the preference order; ``workspace_bytes`` of 0 means automatic (at most half
    of the memory available to the GPU). Shapes use ``name:1x3x640x640`` strings as TensorRT does;
    an empty ``profile_*`` means the fixed ``input_shape`` (or the model's own static shape).
    ``preprocess_in_model`` (auto/true/false) wraps the model in a graph that applies
    ``preprocess`` (scale, mean, std, channel order) to uint8 NHWC pixels on the accelerator;
    ``preprocess`` is the same object as ``PipelineConfig.preprocess``.
    """

    model_path: str
    providers: tuple[str, ...] = PROVIDERS
    precision: str = 'fp16'
    int8_calibration_table: str = ''
    engine_cache_path: str = '~/.cache/edge_infer_ros/engines'
    timing_cache: bool = True
    workspace_bytes: int = 0
    builder_optimization_level: int = 3
    device_id: int = 0
    cuda_graph: bool = False
    dla_core: int = -1
    input_shape: tuple[int, ...] = ()
    profile_min_shapes: str = ''
    profile_opt_shapes: str = ''
    profile_max_shapes: str = ''
    trt_extra_options: tuple[tuple[str, str], ...] = ()
    fallback_policy: str = 'warn'
    warmup_iterations: int = 3
    export_ep_context: bool = False
    cpu_threads: int = 0
    cpu_spin_wait: bool = True
    preprocess_in_model: str = 'auto'
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


@dataclass(frozen=True)
class DecoderConfig:
    """Model outputs to detections; thresholds may change at run time (rebuild the dataclass)."""

    output_format: str = 'auto'
    confidence_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    pre_nms_top_k: int = 1000
    class_agnostic_nms: bool = False
    class_filter: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrackerConfig:
    """Which multi-object tracker gives detections their IDs, and its tuning.

    ``track_buffer`` is in seconds of image time (header stamps), so it means the same at any
    frame rate and over dropped frames.
    """

    tracker: str = 'none'
    track_buffer: float = 1.0
    track_match_threshold: float = 0.25
    track_high_threshold: float = 0.5


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the ROS-free detection pipeline needs: one object for node, tools and benches."""

    engine: EngineConfig
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    labels_path: str = ''
    max_image_pixels: int = 8192 * 8192
    compressed_codecs: tuple[str, ...] = DEFAULT_IMAGE_CODECS


@dataclass(frozen=True)
class NodeConfig:
    """The ROS interface of the detector node: which cameras, how to subscribe, what to publish."""

    image_topics: tuple[str, ...] = ('image_raw',)
    image_transport: str = 'auto'
    qos_reliability: str = 'auto'
    qos_depth: int = 0
    class_id_mode: str = 'name'
    publish_debug_image: bool = True
    diagnostics_period: float = 1.0
