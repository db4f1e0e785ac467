"""The one detection path: image message fields -> decode -> preprocess -> engine -> detections.

Then, per camera, tracking gives the detections their IDs (:meth:`DetectionPipeline.track`).

The node, the bag tools and the benchmarks all run this class, so a detection computed offline is
the detection the robot would have published. ROS-free: messages are read by field name, which
fits rclpy messages and rosbags-deserialised ones alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
import json
import logging
import threading
import time
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.config import DecoderConfig, PipelineConfig
from edge_infer_ros.decoders import Decoder, select_decoder
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.decoders.labels import resolve_class_names
from edge_infer_ros.decoders.output_check import OutputCheck
from edge_infer_ros.engine import Engine, create_engine
from edge_infer_ros.engine.preprocess_graph import METADATA_KEY
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.imaging.decode import (
    decode_compressed_reduced,
    decode_image,
    preferred_channel_order,
)
from edge_infer_ros.imaging.image_header import check_codecs
from edge_infer_ros.imaging.preprocess import Preprocessor
from edge_infer_ros.stats import StageTimes
from edge_infer_ros.tracking import Tracking

__all__ = ['DecodedImage', 'DetectionPipeline']

_LOG = logging.getLogger('edge_infer_ros.pipeline')


@dataclass(frozen=True)
class _ImageInput:
    """The engine's image input and the NCHW input of the model inside it.

    ``layout`` is NCHW (float, normalised on the host) or NHWC (uint8: the engine normalises,
    ``preprocess_in_model`` or a model wrapped earlier); the decoders always see the model's own
    NCHW input, so they detect the same layout either way.
    """

    name: str
    layout: str
    batch: int
    channels: int
    height: int
    width: int
    dtype: np.dtype[Any]
    model_name: str
    channel_order: str  # of the NHWC pixels the engine takes; the model's order for NCHW
    native_nhwc: bool = False  # the model itself takes uint8 NHWC (TensorFlow exports)

    def model_shape(self) -> tuple[int, int, int, int]:
        """The image input as the model inside the engine declares it, for the decoders."""
        if self.native_nhwc:
            return (1, self.height, self.width, self.channels)
        return (1, self.channels, self.height, self.width)


def _image_input(engine: Engine, model_order: str) -> _ImageInput:
    """The 4-D image input; other inputs (e.g. target sizes) are the decoder's."""
    for spec in engine.inputs:
        shape, dtype = spec.shape, np.dtype(spec.dtype)
        if len(shape) != 4 or min(shape) <= 0:
            continue
        if dtype == np.uint8 and shape[3] in (1, 3):
            graph = engine.preprocess.describe() if engine.preprocess else _wrapped_meta(engine)
            return _ImageInput(spec.name, 'NHWC', shape[0], shape[3], shape[1], shape[2], dtype,
                               str(graph.get('model_input', spec.name)),
                               str(graph.get('channel_order', model_order)),
                               native_nhwc=not graph)
        if shape[1] in (1, 3):
            return _ImageInput(spec.name, 'NCHW', shape[0], shape[1], shape[2], shape[3], dtype,
                               spec.name, model_order)
    seen = [(s.name, s.shape) for s in engine.inputs]
    msg = (f'model has no image input with 3 channels and fixed size (NCHW, or uint8 NHWC); '
           f'inputs are {seen!r}')
    raise ConfigError(msg)


def _wrapped_meta(engine: Engine) -> dict[str, Any]:
    """The host contract a wrapped model file (or its EP-context model) carries, if any."""
    try:
        found = json.loads(engine.metadata.get(METADATA_KEY, '{}'))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded frame as the preprocessor takes it.

    Attributes:
        pixels: (H, W, 3) uint8, often a zero-copy view of the message buffer; for a large JPEG
            a reduced-size decode (see ``decode_compressed_reduced``).
        order: ``'rgb'`` or ``'bgr'``, the channel order of ``pixels``.
        width: width of the image as sent: detections are in these pixels.
        height: height of the image as sent.
    """

    pixels: NDArray[Any]
    order: str
    width: int
    height: int

    @classmethod
    def full(cls, pixels: NDArray[Any], order: str) -> DecodedImage:
        """Wrap an image decoded at its own size."""
        return cls(pixels, order, int(pixels.shape[1]), int(pixels.shape[0]))

    @property
    def source_size(self) -> tuple[int, int] | None:
        """(width, height) as sent when ``pixels`` is a reduced decode, else None."""
        if (self.pixels.shape[1], self.pixels.shape[0]) == (self.width, self.height):
            return None
        return self.width, self.height


class DetectionPipeline:
    """Owns the engine, the preprocessor (writing straight into the engine's input) and decoder.

    Not re-entrant: one frame at a time (the node's worker thread, or one per process in the
    bag tools). ``set_decoder_config`` may be called from another thread.
    """

    def __init__(
        self,
        config: PipelineConfig,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        """Build the engine and everything around it; ``warn`` gets provider fallbacks.

        ``debug``: see ``create_engine`` (ONNX Runtime's own messages).
        """
        self.config = config
        self._log = log or _LOG.info
        check_codecs(config.compressed_codecs)
        self.engine = create_engine(config.engine, warn or log, debug=debug)
        try:
            image = _image_input(self.engine, config.preprocess.channel_order)
            name = image.name
            if image.channels != 3:
                msg = (f'model input {name!r} has {image.channels} channel(s); only 3-channel '
                       'models run')
                raise ConfigError(msg)
            if image.batch != 1:
                msg = (f'model input {name!r} has a fixed batch of {image.batch}; the detector '
                       'runs one image per inference: re-export with batch 1 or a dynamic batch')
                raise ConfigError(msg)
            self.input_name = name
            self.input_size = (image.height, image.width)
            self._channel_order = image.channel_order  # what the preprocessor writes
            self.preprocessor = Preprocessor(
                replace(config.preprocess, channel_order=image.channel_order), image.height,
                image.width, image.dtype, out=self.engine.input_buffer(name), layout=image.layout)
            model_inputs = [(s.name, s.shape) for s in self.engine.inputs]
            model_inputs = [
                (image.model_name, image.model_shape()) if n == name else (n, s)
                for n, s in model_inputs
            ]
            self.decoder: Decoder
            self.decoder, self.decoder_reason = select_decoder(
                config.decoder.output_format,
                model_inputs,
                [(s.name, s.shape) for s in self.engine.outputs],
                self.engine.metadata,
            )
            self.class_names = resolve_class_names(config.labels_path, self.engine.metadata)
            self.tracking = Tracking(config.tracking, warn or self._log)
        except Exception:
            self.engine.close()
            raise
        count = max(self.class_names.names, default=-1) + 1
        self.labels = [self.class_names.name(i) for i in range(count)]
        self._output_check = OutputCheck(count)
        self._warn = warn or self._log
        self._decoder_config = config.decoder
        self._lock = threading.Lock()
        self._log(f'decoder {self.decoder.name} ({self.decoder_reason}); '
                  f'{len(self.labels)} classes from {self.class_names.source}; '
                  f'tracker {self.tracking.describe()}')

    # -------------------------------------------------------------------------- settings
    @property
    def decoder_config(self) -> DecoderConfig:
        """Thresholds in force for the next frame."""
        return self._decoder_config

    def set_decoder_config(self, cfg: DecoderConfig) -> None:
        """Swap thresholds atomically; the frame in flight keeps the old ones."""
        with self._lock:
            self._decoder_config = cfg

    # -------------------------------------------------------------------------- tracking
    def track(self, camera: str, dets: Detections, header: Any, arrival_ns: int = 0,
              times: StageTimes | None = None) -> Detections:
        """Give ``dets`` of ``camera``'s image with ``header`` their track IDs.

        The one place tracking happens, right after decoding, for the node and the bag tools
        alike; with ``tracker: none`` it returns ``dets`` untouched. The header stamp is the
        tracker's clock (an unset stamp, 0, falls back to ``arrival_ns``: the time the node
        received the image, or the bag's record time; a negative one counts as 0). Its time is
        added to ``times.postprocess``.
        """
        if not self.tracking.enabled:
            return dets
        t0 = time.perf_counter()
        stamp_ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        out = self.tracking.update(camera, dets, max(stamp_ns or arrival_ns, 0))
        if times is not None:
            times.postprocess += (time.perf_counter() - t0) * 1e3
        return out

    def reset_tracks(self) -> None:
        """Forget every camera's tracks (deactivate); IDs already given are not reused."""
        self.tracking.reset()

    # ---------------------------------------------------------------------------- frames
    def decode_message(self, msg: Any, compressed: bool) -> DecodedImage:
        """Image message fields to an HxWx3 uint8 image, as cheaply as the layout allows.

        Raw images in the right layout stay zero-copy views of ``msg.data``. A JPEG larger than
        the model needs is decoded by libjpeg at 1/2, 1/4 or 1/8 scale, never smaller than the
        letterboxed size, so the model sees the same detail for a fraction of the decode time.

        Raises:
            ImageDecodeError: malformed or unsupported image.
        """
        order = self._channel_order
        if compressed:
            image, (width, height) = decode_compressed_reduced(
                msg.format, msg.data, channel_order='bgr',
                max_pixels=self.config.max_image_pixels, codecs=self.config.compressed_codecs,
                min_size=self.preprocessor.resized_size)
            return DecodedImage(image, 'bgr', width, height)
        order = preferred_channel_order(msg.encoding, order)
        return DecodedImage.full(decode_image(
            msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data,
            channel_order=order, max_pixels=self.config.max_image_pixels,
        ), order)

    def process_message(
        self, msg: Any, compressed: bool,
    ) -> tuple[DecodedImage, Detections, StageTimes]:
        """Run one sensor_msgs/Image or CompressedImage (by fields) through the detector.

        Returns:
            The decoded image, the detections in the pixels of the image as sent, and the time
            each stage took (ms).
        """
        times = StageTimes()
        t0 = time.perf_counter()
        image = self.decode_message(msg, compressed)
        times.decode = (time.perf_counter() - t0) * 1e3
        dets = self._infer(image, times)
        return image, dets, times

    def process_image(
        self, image: NDArray[Any], channel_order: str = 'bgr',
    ) -> tuple[Detections, StageTimes]:
        """Run an already decoded HxWx3 uint8 image (e.g. from a file or generator)."""
        times = StageTimes()
        return self._infer(DecodedImage.full(image, channel_order), times), times

    def preprocess_only(self, image: DecodedImage) -> NDArray[Any]:
        """The model input tensor for ``image`` (a copy), e.g. for INT8 calibration."""
        self.preprocessor(image.pixels, image.order, source_size=image.source_size)
        return self.engine.input_buffer(self.input_name).copy()

    def _infer(self, image: DecodedImage, times: StageTimes) -> Detections:
        cfg = self._decoder_config
        t0 = time.perf_counter()
        transform = self.preprocessor(image.pixels, image.order, source_size=image.source_size)
        extra = self.decoder.extra_inputs(transform) if self.decoder.extra_input_names else None
        t1 = time.perf_counter()
        outputs = self.engine.run(extra)
        t2 = time.perf_counter()
        dets = self._checked(self.decoder.decode(outputs, transform, cfg))
        t3 = time.perf_counter()
        times.preprocess = (t1 - t0) * 1e3
        times.inference = (t2 - t1) * 1e3
        times.postprocess = (t3 - t2) * 1e3
        return dets

    def _checked(self, dets: Detections) -> Detections:
        before = self._output_check.dropped
        dets = self._output_check(dets)
        if before == 0 and self._output_check.dropped:
            self._warn(
                f'the model produced detections with a score outside [0, 1] or a class id '
                f'outside the {len(self.labels)} labels (decoded as {self.decoder.name}); they '
                'are dropped and counted in diagnostics (invalid_detections_dropped): check '
                'output_format and labels_path')
        return dets

    @property
    def invalid_detections(self) -> int:
        """Detections dropped so far for an impossible score or class id."""
        return self._output_check.dropped

    def to_bgr(self, image: DecodedImage) -> NDArray[Any]:
        """A BGR copy of a decoded image at the size it was sent, for drawing the debug view."""
        pixels = image.pixels
        if image.source_size is not None:
            pixels = cv2.resize(pixels, image.source_size, interpolation=cv2.INTER_LINEAR)
        if image.order == 'bgr':
            return np.array(pixels, copy=True)
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)

    # ---------------------------------------------------------------------------- status
    def report(self) -> dict[str, str]:
        """Flat key/value status for diagnostics and tool reports."""
        st = self.engine.status
        warm = st.warmup
        active = st.active_providers[0] if st.active_providers else 'none'
        out = {
            'model': self.config.engine.model_path,
            'requested_providers': ','.join(st.requested_providers),
            'active_providers': ','.join(st.active_providers),
            'active_provider': active,
            'provider_fallback': str(bool(st.fallback)),
            'fallback_reason': st.fallback_reason or '',
            'precision_requested': st.precision,
            'precision_effective': st.effective_precision,
            'engine_cache_key': st.cache_key,
            'engine_cache_dir': str(st.cache_dir),
            'engine_cache_hit': '-' if st.cache_hit is None else str(st.cache_hit),
            'session_create_seconds': f'{st.build_seconds:.3f}',
            'input': f'{self.input_name} {self.input_size[0]}x{self.input_size[1]}',
            'preprocess_in_model': self._preprocess_where(),
            'engine_input_bytes': str(self.preprocessor.buffer.nbytes),
            'output_format': self.decoder.name,
            'classes': str(len(self.labels)),
            'tracker': self.tracking.describe(),
            'invalid_detections_dropped': str(self._output_check.dropped),
        }
        if warm is not None:
            out['warmup_first_run_ms'] = f'{warm.first_run_s * 1e3:.1f}'
            if warm.steady_mean_s is not None:
                out['warmup_steady_ms'] = f'{warm.steady_mean_s * 1e3:.2f}'
        return out

    def summary(self) -> str:
        """One line for the configure log."""
        r = self.report()
        hit = r['engine_cache_hit']
        cache = {'True': 'hit', 'False': 'miss (built)'}.get(hit, 'not used (TensorRT inactive)')
        text = (f'provider {r["active_provider"]} (requested {r["requested_providers"]}), '
                f'precision {r["precision_effective"]}, input {r["input"]}, '
                f'format {r["output_format"]}, {r["classes"]} classes, '
                f'engine cache {cache}, tracker {r["tracker"]}')
        # The reason stays in /diagnostics: the configure line must stay readable.
        text += f', preprocessing {r["preprocess_in_model"].split(" (")[0]}'
        if 'warmup_first_run_ms' in r:
            text += f', warm-up first run {r["warmup_first_run_ms"]} ms'
        if 'warmup_steady_ms' in r:
            text += f', steady {r["warmup_steady_ms"]} ms'
        if r['provider_fallback'] == 'True':  # the reason was logged once, when it happened
            text += '; provider fallback (see above)'
        return text

    def _preprocess_where(self) -> str:
        if self.preprocessor.layout == 'NHWC' and self.engine.preprocess is None:
            return 'in the model (its input takes uint8 NHWC pixels)'  # a model wrapped before
        return self.engine.status.preprocessing

    def close(self) -> None:
        """Release the engine (idempotent)."""
        self.engine.close()
