"""Preprocessing into a preallocated NCHW buffer, against the conventional numpy pipeline."""

from __future__ import annotations

from dataclasses import replace

import cv2
from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from edge_infer_ros.config import PreprocessConfig
from edge_infer_ros.errors import ConfigError, ImageDecodeError
from edge_infer_ros.imaging.decode import decode_image
from edge_infer_ros.imaging.preprocess import LetterboxTransform, Preprocessor

RNG = np.random.default_rng(3)


def _reference(image: np.ndarray, order: str, cfg: PreprocessConfig, h: int, w: int):
    """The tutorial pipeline: resize, copyMakeBorder, swap, transpose, normalise."""
    ih, iw = image.shape[:2]
    if cfg.letterbox:
        r = min(w / iw, h / ih)
        nw, nh = round(iw * r), round(ih * r)
    else:
        nw, nh = w, h
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:
        resized = np.repeat(resized[..., None], 3, axis=2)
    left, top = (w - nw) // 2, (h - nh) // 2
    canvas = cv2.copyMakeBorder(resized, top, h - nh - top, left, w - nw - left,
                                cv2.BORDER_CONSTANT, value=(cfg.pad_value,) * 3)
    if image.ndim == 3 and order != cfg.channel_order:
        canvas = canvas[..., ::-1]
    x = canvas.transpose(2, 0, 1).astype(np.float64) * cfg.scale
    x = (x - np.array(cfg.mean)[:, None, None]) / np.array(cfg.std)[:, None, None]
    return x[None].astype(np.float32), (nw / iw, nh / ih, left, top)


CONFIGS = [
    PreprocessConfig(),
    PreprocessConfig(channel_order='bgr', pad_value=0),
    PreprocessConfig(letterbox=False, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
]


@pytest.mark.parametrize('cfg', CONFIGS)
@pytest.mark.parametrize('order', ['rgb', 'bgr'])
@pytest.mark.parametrize('size', [(1080, 1920), (480, 360), (100, 100), (64, 200)])
@pytest.mark.parametrize('dtype', [np.float32, np.float16])
def test_matches_conventional_pipeline(cfg, order, size, dtype) -> None:
    image = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
    pre = Preprocessor(cfg, 320, 256, dtype)
    t = pre(image, order)
    want, (sx, sy, left, top) = _reference(image, order, cfg, 320, 256)
    tol = 1e-6 if dtype == np.float32 else 2e-3 * np.abs(want).max()
    np.testing.assert_allclose(pre.buffer.astype(np.float32), want, atol=tol, rtol=0)
    assert pre.buffer.dtype == dtype
    assert (t.scale_x, t.scale_y, t.pad_x, t.pad_y) == pytest.approx((sx, sy, left, top))
    assert (t.orig_width, t.orig_height, t.input_width, t.input_height) == (
        size[1], size[0], 256, 320)


def test_writes_into_the_callers_buffer_without_reallocating() -> None:
    engine_input = np.full((1, 3, 64, 64), np.nan, np.float32)
    pre = Preprocessor(PreprocessConfig(), 64, 64, out=engine_input)
    assert pre.buffer is engine_input
    image = RNG.integers(0, 256, (48, 96, 3), dtype=np.uint8)
    pre(image)
    assert not np.isnan(engine_input).any()
    other = np.zeros((3, 64, 64), np.float32)
    pre(image, out=other)
    np.testing.assert_array_equal(other, engine_input[0])


def test_zero_copy_padded_message_view_and_grey() -> None:
    image = RNG.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    rows = np.concatenate([image.reshape(30, -1), np.zeros((30, 10), np.uint8)], axis=1)
    view = decode_image('bgr8', 30, 50, 160, 0, rows.tobytes(), channel_order='bgr')
    assert not view.flags.c_contiguous
    a, b = Preprocessor(PreprocessConfig(), 64, 64), Preprocessor(PreprocessConfig(), 64, 64)
    a(view, 'bgr')
    b(np.ascontiguousarray(image[..., ::-1]), 'rgb')
    np.testing.assert_array_equal(a.buffer, b.buffer)
    grey = image[..., 0]
    a(grey)
    want, _ = _reference(grey, 'rgb', PreprocessConfig(), 64, 64)
    np.testing.assert_allclose(a.buffer, want, atol=1e-6)


def test_same_size_input_skips_resize_and_size_changes_refill_the_border() -> None:
    pre = Preprocessor(PreprocessConfig(), 64, 64)
    square = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    t = pre(square)
    assert (t.scale_x, t.pad_x, t.pad_y) == (1.0, 0.0, 0.0)
    np.testing.assert_allclose(pre.buffer[0], square.transpose(2, 0, 1) / 255.0, atol=1e-6)
    for size in ((32, 64), (64, 32), (10, 64)):  # Landscape, portrait, then landscape again.
        image = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
        pre(image)
        want, _ = _reference(image, 'rgb', PreprocessConfig(), 64, 64)
        np.testing.assert_allclose(pre.buffer, want, atol=1e-6)


def test_transform_for_matches_the_call() -> None:
    pre = Preprocessor(PreprocessConfig(), 640, 640)
    t = pre.transform_for(1920, 1080)
    assert t == LetterboxTransform(1 / 3, 1 / 3, 0.0, 140.0, 1920, 1080, 640, 640)
    assert pre(np.zeros((1080, 1920, 3), np.uint8)) == t


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4000), st.integers(1, 4000), st.booleans(),
    st.lists(st.floats(0, 1), min_size=4, max_size=4),
)
def test_boxes_round_trip_and_clip(width, height, letterbox, frac) -> None:
    t = Preprocessor(PreprocessConfig(letterbox=letterbox), 320, 480).transform_for(width, height)
    x1, x2 = sorted(frac[:2])
    y1, y2 = sorted(frac[2:])
    box = np.array([[x1 * width, y1 * height, x2 * width, y2 * height]], np.float32)
    back = t.boxes_to_original(t.boxes_to_input(box))
    np.testing.assert_allclose(back, box, rtol=1e-5, atol=1e-3 * max(width, height) / 320)
    outside = t.boxes_to_original(np.array([[-50, -50, 1e4, 1e4]], np.float32))
    assert outside.tolist() == [[0, 0, width, height]]


def test_identity_transform() -> None:
    t = LetterboxTransform.identity(64, 48)
    boxes = np.array([[1, 2, 30, 40]], np.float32)
    np.testing.assert_array_equal(t.boxes_to_original(boxes), boxes)


@pytest.mark.parametrize(('kwargs', 'match'), [
    ({'dtype': np.float64}, "dtype for NCHW must be float32 or float16, got 'float64'"),
    ({'layout': 'NHWC'}, "dtype for NHWC must be uint8, got 'float32'"),
    ({'layout': 'HWC'}, "layout must be 'NCHW' or 'NHWC', got 'HWC'"),
    ({'layout': 'NHWC', 'dtype': np.uint8, 'out': np.zeros((1, 3, 64, 64), np.uint8)},
     r'shape \(1, 64, 64, 3\) or \(64, 64, 3\)'),
    ({'height': 0}, 'input height must be a positive integer, got 0'),
    ({'width': 2.5}, r'input width must be a positive integer, got 2\.5'),
    ({'config': PreprocessConfig(channel_order='rbg')}, "channel_order must be 'rgb' or 'bgr'"),
    ({'config': PreprocessConfig(pad_value=300)}, 'pad_value must be within 0..255, got 300'),
    ({'config': PreprocessConfig(std=(1.0, 0.0, 1.0))}, 'std != 0'),
    ({'config': PreprocessConfig(mean=(0.5,))}, r'need 3 values each, got \(0\.5,\)'),
    ({'out': np.zeros((1, 3, 32, 64), np.float32)}, r'shape \(1, 3, 64, 64\) .*got ndarray'),
    ({'out': np.zeros((1, 3, 64, 64), np.float16)}, "writable C-contiguous float32 .*'float16'"),
    ({'out': np.zeros((1, 3, 64, 128), np.float32)[..., ::2]}, 'C-contiguous'),
])
def test_bad_settings_raise_config_error(kwargs, match) -> None:
    args = {'config': PreprocessConfig(), 'height': 64, 'width': 64, **kwargs}
    with pytest.raises(ConfigError, match=match):
        Preprocessor(**args)


def test_bad_images_raise() -> None:
    pre = Preprocessor(PreprocessConfig(), 64, 64)
    for image in (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8),
                  np.zeros((0, 8, 3), np.uint8), [[1, 2]]):
        with pytest.raises(ImageDecodeError, match='must be an \\(H, W, 3\\) or \\(H, W\\) uint8'):
            pre(image)
    with pytest.raises(ConfigError, match="channel_order must be 'rgb' or 'bgr', got 'RGB'"):
        pre(np.zeros((8, 8, 3), np.uint8), 'RGB')


@pytest.mark.parametrize('cfg', CONFIGS)
@pytest.mark.parametrize('order', ['rgb', 'bgr'])
@pytest.mark.parametrize('size', [(1080, 1920), (480, 360), (64, 200), (320, 256)])
@pytest.mark.parametrize('grey', [False, True])
def test_uint8_nhwc_pixels_normalise_to_the_float_input(cfg, order, size, grey) -> None:
    """preprocess_in_model: the engine's affine of the uint8 pixels is the host's float input."""
    image = RNG.integers(0, 256, size if grey else (*size, 3), dtype=np.uint8)
    as_float = Preprocessor(cfg, 320, 256, np.float32)
    as_pixels = Preprocessor(replace(cfg, channel_order='bgr'), 320, 256, np.uint8,
                             layout='NHWC')
    as_pixels.buffer[...] = 7  # stale content (the engine's warm-up) must not survive
    assert as_pixels(image, order) == as_float(image, order)
    pixels = as_pixels.buffer[0]
    assert pixels.shape == (320, 256, 3) and pixels.dtype == np.uint8
    if cfg.channel_order == 'rgb':
        pixels = pixels[..., ::-1]
    alpha, beta = (np.array(v, np.float32)[:, None, None] for v in cfg.affine())
    want = pixels.transpose(2, 0, 1).astype(np.float32) * alpha + beta
    np.testing.assert_allclose(as_float.buffer[0], want, atol=1e-6, rtol=0)
