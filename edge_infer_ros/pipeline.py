"""The one detection path: image message fields -> decode -> preprocess -> engine -> detections.

The node, the bag tools and the benchmarks all run this class, so a detection computed offline is
the detection the robot would have published. ROS-free: messages are read by field name, which
fits rclpy messages and rosbags-deserialised ones alike.
"""

from __future__ import annotations

from collections.abc import Callable
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
from edge_infer_ros.engine import Engine, create_engine
from edge_infer_ros.errors import ConfigError
from edge_infer_ros.imaging.decode import decode_compressed, decode_image, preferred_channel_order
from edge_infer_ros.imaging.preprocess import Preprocessor
from edge_infer_ros.stats import StageTimes

__all__ = ['DetectionPipeline']

_LOG = logging.getLogger('edge_infer_ros.pipeline')


def _image_input(engine: Engine) -> tuple[str, tuple[int, ...], np.dtype[Any]]:
    """The 4-D (N, 3, H, W) input; other inputs (e.g. target sizes) are the decoder's."""
    for spec in engine.inputs:
        if len(spec.shape) == 4 and spec.shape[1] in (1, 3) and min(spec.shape) > 0:
            return spec.name, spec.shape, np.dtype(spec.dtype)
    seen = [(s.name, s.shape) for s in engine.inputs]
    msg = f'model has no NCHW image input with 3 channels and fixed size; inputs are {seen!r}'
    raise ConfigError(msg)


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
        self.engine = create_engine(config.engine, warn or log, debug=debug)
        try:
            name, shape, dtype = _image_input(self.engine)
            if shape[1] != 3:
                msg = f'model input {name!r} has {shape[1]} channel(s); only 3-channel models run'
                raise ConfigError(msg)
            if shape[0] != 1:
                msg = (f'model input {name!r} has a fixed batch of {shape[0]}; the detector runs '
                       'one image per inference: re-export with batch 1 or a dynamic batch')
                raise ConfigError(msg)
            self.input_name = name
            self.input_size = (int(shape[2]), int(shape[3]))
            self.preprocessor = Preprocessor(
                config.preprocess, shape[2], shape[3], dtype, out=self.engine.input_buffer(name))
            self.decoder: Decoder
            self.decoder, self.decoder_reason = select_decoder(
                config.decoder.output_format,
                [(s.name, s.shape) for s in self.engine.inputs],
                [(s.name, s.shape) for s in self.engine.outputs],
                self.engine.metadata,
            )
            self.class_names = resolve_class_names(config.labels_path, self.engine.metadata)
        except Exception:
            self.engine.close()
            raise
        count = max(self.class_names.names, default=-1) + 1
        self.labels = [self.class_names.name(i) for i in range(count)]
        self._decoder_config = config.decoder
        self._lock = threading.Lock()
        self._log(f'decoder {self.decoder.name} ({self.decoder_reason}); '
                  f'{len(self.labels)} classes from {self.class_names.source}')

    # -------------------------------------------------------------------------- settings
    @property
    def decoder_config(self) -> DecoderConfig:
        """Thresholds in force for the next frame."""
        return self._decoder_config

    def set_decoder_config(self, cfg: DecoderConfig) -> None:
        """Swap thresholds atomically; the frame in flight keeps the old ones."""
        with self._lock:
            self._decoder_config = cfg

    # ---------------------------------------------------------------------------- frames
    def decode_message(self, msg: Any, compressed: bool) -> NDArray[Any]:
        """Image message fields to an HxWx3 uint8 array, as cheaply as the layout allows.

        Raises:
            ImageDecodeError: malformed or unsupported image.
        """
        order = self.config.preprocess.channel_order
        if compressed:
            return decode_compressed(msg.format, msg.data, channel_order='bgr',
                                     max_pixels=self.config.max_image_pixels)
        return decode_image(
            msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data,
            channel_order=preferred_channel_order(msg.encoding, order),
            max_pixels=self.config.max_image_pixels,
        )

    def image_order(self, msg: Any, compressed: bool) -> str:
        """Channel order of what :meth:`decode_message` returned for ``msg``."""
        if compressed:
            return 'bgr'
        return preferred_channel_order(msg.encoding, self.config.preprocess.channel_order)

    def process_message(
        self, msg: Any, compressed: bool,
    ) -> tuple[NDArray[Any], Detections, StageTimes]:
        """Run one sensor_msgs/Image or CompressedImage (by fields) through the detector.

        Returns:
            The decoded image (channel order per :meth:`image_order`), the detections in its
            pixels, and the time each stage took (ms).
        """
        times = StageTimes()
        t0 = time.perf_counter()
        image = self.decode_message(msg, compressed)
        times.decode = (time.perf_counter() - t0) * 1e3
        dets = self._infer(image, self.image_order(msg, compressed), times)
        return image, dets, times

    def process_image(
        self, image: NDArray[Any], channel_order: str = 'bgr',
    ) -> tuple[Detections, StageTimes]:
        """Run an already decoded HxWx3 uint8 image (e.g. from a file or generator)."""
        times = StageTimes()
        return self._infer(image, channel_order, times), times

    def preprocess_only(self, image: NDArray[Any], channel_order: str = 'bgr') -> NDArray[Any]:
        """The model input tensor for ``image`` (a copy), e.g. for INT8 calibration."""
        self.preprocessor(image, channel_order)
        return self.engine.input_buffer(self.input_name).copy()

    def _infer(self, image: NDArray[Any], order: str, times: StageTimes) -> Detections:
        cfg = self._decoder_config
        t0 = time.perf_counter()
        transform = self.preprocessor(image, order)
        extra = self.decoder.extra_inputs(transform) if self.decoder.extra_input_names else None
        t1 = time.perf_counter()
        outputs = self.engine.run(extra)
        t2 = time.perf_counter()
        dets = self.decoder.decode(outputs, transform, cfg)
        t3 = time.perf_counter()
        times.preprocess = (t1 - t0) * 1e3
        times.inference = (t2 - t1) * 1e3
        times.postprocess = (t3 - t2) * 1e3
        return dets

    def to_bgr(self, image: NDArray[Any], order: str) -> NDArray[Any]:
        """A BGR copy of a decoded image, for drawing the debug view."""
        if order == 'bgr':
            return np.array(image, copy=True)
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

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
            'output_format': self.decoder.name,
            'classes': str(len(self.labels)),
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
                f'engine cache {cache}')
        if 'warmup_first_run_ms' in r:
            text += f', warm-up first run {r["warmup_first_run_ms"]} ms'
        if 'warmup_steady_ms' in r:
            text += f', steady {r["warmup_steady_ms"]} ms'
        if r['provider_fallback'] == 'True':  # the reason was logged once, when it happened
            text += '; provider fallback (see above)'
        return text

    def close(self) -> None:
        """Release the engine (idempotent)."""
        self.engine.close()
