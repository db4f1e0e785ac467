"""Large JPEGs are decoded no larger than the model needs, with the same detections."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edge_infer_ros.demo.scene import generate_scene
from edge_infer_ros.imaging.decode import decode_compressed, decode_compressed_reduced
from edge_infer_ros.parameters import pipeline_config_from_params
from edge_infer_ros.pipeline import DetectionPipeline


@pytest.fixture(scope='module')
def pipeline() -> DetectionPipeline:
    cfg = pipeline_config_from_params({'providers': ['cpu'], 'precision': 'fp32',
                                       'warmup_iterations': 0, 'fallback_policy': 'allow'})
    pipe = DetectionPipeline(cfg, log=lambda _m: None)
    yield pipe
    pipe.close()


def _jpeg(seed: int, width: int = 1920, height: int = 1080) -> bytes:
    scene = generate_scene(np.random.default_rng(seed), width, height)
    return cv2.imencode('.jpg', scene.image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


@pytest.mark.parametrize(('need', 'factor'), [((640, 360), 2), ((384, 216), 4), ((200, 100), 8),
                                              ((1000, 360), 1), (None, 1)])
def test_the_largest_reduction_that_keeps_the_needed_size(need, factor) -> None:
    data = _jpeg(0)
    image, source = decode_compressed_reduced(
        'jpeg', data, channel_order='bgr', min_size=None if need is None else lambda w, h: need)
    assert source == (1920, 1080)
    assert image.shape == (-(-1080 // factor), -(-1920 // factor), 3)
    if need is not None:
        assert image.shape[1] >= need[0] and image.shape[0] >= need[1]


def test_png_and_small_jpeg_are_decoded_at_full_size_exactly_as_before() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (600, 800, 3), np.uint8)
    for ext in ('png', 'jpeg'):
        data = cv2.imencode(f'.{ext}', pixels)[1].tobytes()
        image, source = decode_compressed_reduced(ext, data, channel_order='rgb',
                                                  min_size=lambda w, h: (w, h))
        assert source == (800, 600)
        assert np.array_equal(image, decode_compressed(ext, data, channel_order='rgb'))


@pytest.mark.parametrize('seed', [0, 2, 3, 5])
def test_detections_of_a_reduced_decode_match_the_full_decode(pipeline, seed) -> None:
    data = _jpeg(seed)
    decoded, reduced, _ = pipeline.process_message(SimpleNamespace(format='jpeg', data=data),
                                                   compressed=True)
    assert decoded.pixels.shape[1] < decoded.width == 1920 and decoded.height == 1080
    full, _ = pipeline.process_image(cv2.imdecode(np.frombuffer(data, np.uint8),
                                                  cv2.IMREAD_UNCHANGED), 'bgr')
    assert len(reduced) == len(full) > 0
    # One model-input pixel, in the original image's pixels: the letterbox's own rounding.
    model_pixel = 1920 / pipeline.input_size[1]
    for box, score, cls in zip(reduced.boxes, reduced.scores, reduced.class_ids, strict=True):
        best = np.abs(full.boxes - box).max(axis=1).argmin()
        assert np.abs(full.boxes[best] - box).max() <= model_pixel
        assert full.class_ids[best] == cls
        assert abs(full.scores[best] - score) < 0.05


def test_debug_image_is_drawn_at_the_size_sent(pipeline) -> None:
    decoded, _, _ = pipeline.process_message(SimpleNamespace(format='jpeg', data=_jpeg(1)), True)
    assert pipeline.to_bgr(decoded).shape == (1080, 1920, 3)
