"""ROS image fields to RGB/BGR arrays: layouts, step padding, zero copy, errors, compression."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from edge_infer_ros.errors import ImageDecodeError
from edge_infer_ros.imaging.decode import (
    SUPPORTED_ENCODINGS,
    decode_compressed,
    decode_image,
    image_view,
    preferred_channel_order,
)

H, W = 6, 8
RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)


def _pack(pixels: np.ndarray, pad: int = 0, big: bool = False) -> tuple[bytes, int]:
    """Serialise (H, W[, C]) pixels row by row with ``pad`` extra bytes per row (ROS layout)."""
    dtype = pixels.dtype.newbyteorder('>' if big else '<')
    rows = np.ascontiguousarray(pixels, dtype=dtype).reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return padded.tobytes(), padded.shape[1]


def _decode(encoding: str, pixels: np.ndarray, order: str, pad: int = 3, big: bool = False,
            height: int = H) -> np.ndarray:
    data, step = _pack(pixels, pad, big)
    return decode_image(encoding, height, W, step, big, data, channel_order=order)


def _scale16(v: np.ndarray) -> np.ndarray:
    return np.rint(v.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)


@pytest.mark.parametrize('order', ['rgb', 'bgr'])
def test_packed_8bit_encodings(order: str) -> None:
    want = RGB if order == 'rgb' else RGB[..., ::-1]
    alpha = np.full((H, W, 1), 77, np.uint8)
    for encoding, pixels in (
        ('rgb8', RGB), ('bgr8', RGB[..., ::-1]), ('8UC3', RGB[..., ::-1]),
        ('rgba8', np.concatenate([RGB, alpha], 2)),
        ('bgra8', np.concatenate([RGB[..., ::-1], alpha], 2)),
    ):
        out = _decode(encoding, pixels, order)
        assert out.shape == (H, W, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, want, err_msg=encoding)


@pytest.mark.parametrize('encoding', ['mono8', '8UC1', 'MONO8'])
def test_mono8_is_replicated(encoding: str) -> None:
    out = _decode(encoding, RGB[..., 0], 'rgb')
    np.testing.assert_array_equal(out, np.repeat(RGB[..., :1], 3, axis=2))


@pytest.mark.parametrize('big', [False, True])
@pytest.mark.parametrize('order', ['rgb', 'bgr'])
def test_16bit_encodings_scale_like_cv_bridge(big: bool, order: str) -> None:
    want = _scale16(RGB16 if order == 'rgb' else RGB16[..., ::-1])
    for encoding, pixels in (('rgb16', RGB16), ('bgr16', RGB16[..., ::-1]),
                             ('rgba16', np.concatenate([RGB16, RGB16[..., :1]], 2))):
        np.testing.assert_array_equal(_decode(encoding, pixels, order, 2, big), want)
    for encoding in ('mono16', '16UC1'):
        mono = _decode(encoding, RGB16[..., 0], order, 2, big)
        np.testing.assert_array_equal(mono, np.repeat(_scale16(RGB16[..., :1]), 3, axis=2))


def test_16bit_scaling_matches_opencv_convert_for_every_value() -> None:
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    data, step = _pack(values)
    out = decode_image('mono16', 256, 256, step, 0, data)[..., 0]
    np.testing.assert_array_equal(out, _scale16(values))
    np.testing.assert_array_equal(out, cv2.convertScaleAbs(values, alpha=255.0 / 65535.0))


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
@pytest.mark.parametrize('order', ['rgb', 'bgr'])
def test_bayer_patterns_recover_the_colour(pattern: str, order: str) -> None:
    colour = {'r': 200, 'g': 100, 'b': 40}
    mosaic = np.empty((H, W), np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            mosaic[dy::2, dx::2] = colour[pattern[2 * dy + dx]]
    out = _decode(f'bayer_{pattern}8', mosaic, order)
    want = [200, 100, 40] if order == 'rgb' else [40, 100, 200]
    np.testing.assert_array_equal(out[2:-2, 2:-2], np.broadcast_to(want, (H - 4, W - 4, 3)))
    out16 = _decode(f'bayer_{pattern}16', mosaic.astype(np.uint16) * 257, order, 2)
    np.testing.assert_array_equal(out16[2:-2, 2:-2], out[2:-2, 2:-2])


def _yuv_red() -> tuple[int, int, int]:
    return 81, 90, 240  # BT.601 Y, U, V of a strong red.


@pytest.mark.parametrize('encoding', ['yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv', 'nv12', 'nv21'])
@pytest.mark.parametrize('order', ['rgb', 'bgr'])
def test_yuv_byte_orders(encoding: str, order: str) -> None:
    y, u, v = _yuv_red()
    if encoding in ('yuv422', 'uyvy'):
        pixels, height = np.tile(np.array([u, y, v, y], np.uint8), (H, W // 2)), H
    elif encoding in ('yuv422_yuy2', 'yuyv'):
        pixels, height = np.tile(np.array([y, u, y, v], np.uint8), (H, W // 2)), H
    else:
        chroma = [u, v] if encoding == 'nv12' else [v, u]
        uv = np.tile(np.array(chroma, np.uint8), (H // 2, W // 2))
        pixels, height = np.concatenate([np.full((H, W), y, np.uint8), uv]), H
    out = _decode(encoding, pixels, order, height=height)
    red = out[..., 0 if order == 'rgb' else 2].astype(int)
    others = out[..., 1:] if order == 'rgb' else out[..., :2]
    assert red.min() > 200 and others.max() < 60, (encoding, out[0, 0])
    # Padding must not change anything: same result from an unpadded buffer.
    np.testing.assert_array_equal(out, _decode(encoding, pixels, order, pad=0, height=height))


@pytest.mark.parametrize(
    'wrap', [bytes, bytearray, lambda b: array.array('B', b), memoryview, np.frombuffer]
)
@pytest.mark.parametrize('pad', [0, 5])
def test_matching_layout_is_a_zero_copy_view(wrap, pad: int) -> None:
    raw, step = _pack(RGB, pad)
    data = wrap(raw) if wrap is not np.frombuffer else np.frombuffer(raw, np.uint8)
    out = decode_image('rgb8', H, W, step, 0, data, channel_order='rgb')
    np.testing.assert_array_equal(out, RGB)
    assert np.shares_memory(out, np.frombuffer(data, np.uint8))
    if isinstance(data, bytes):
        assert not out.flags.writeable
    swapped = decode_image('rgb8', H, W, step, 0, data, channel_order='bgr')
    assert not np.shares_memory(swapped, np.frombuffer(data, np.uint8))


def test_image_view_shapes_and_byte_order() -> None:
    data, step = _pack(RGB16[..., 0], 4, big=True)
    view = image_view('mono16', H, W, step, 1, data)
    assert view.shape == (H, W) and view.dtype == np.dtype('>u2')
    np.testing.assert_array_equal(view, RGB16[..., 0])
    data, step = _pack(np.zeros((H * 3 // 2, W), np.uint8))
    assert image_view('nv12', H, W, step, 0, data).shape == (H * 3 // 2, W)


GOOD = {'encoding': 'rgb8', 'height': H, 'width': W, 'step': W * 3, 'is_bigendian': 0,
        'data': bytes(H * W * 3)}


@pytest.mark.parametrize(('change', 'match'), [
    ({'data': bytes(H * W * 3 - 1)}, r'data has 143 bytes but step \* rows is 144'),
    ({'data': bytes(H * W * 3 + 8)}, r'data has 152 bytes but step \* rows is 144'),
    ({'step': W * 3 - 1}, r'step 23 is smaller than one row of 8 pixels .*\(24 bytes\)'),
    ({'encoding': 'rgb9'}, r"encoding 'rgb9' is not supported; use one of .*bayer_bggr16"),
    ({'encoding': 3}, 'encoding must be a string, got 3'),
    ({'height': 0, 'data': b''}, 'must be positive, got height 0 and width 8'),
    ({'width': -2}, 'must be positive, got height 6 and width -2'),
    ({'height': 6.0}, r'height must be an integer, got 6\.0'),
    ({'step': True}, 'step must be an integer, got True'),
    ({'is_bigendian': 'yes'}, "is_bigendian must be 0, 1, True or False, got 'yes'"),
    ({'is_bigendian': 2}, 'is_bigendian must be 0, 1, True or False, got 2'),
    ({'is_bigendian': None}, 'is_bigendian must be 0, 1, True or False, got None'),
    ({'encoding': 'yuv422', 'width': 7, 'step': 14, 'data': bytes(84)},
     "width must be even for encoding 'yuv422', got 7"),
    ({'encoding': 'nv12', 'height': 5, 'step': 8, 'data': bytes(56)},
     "height must be even for encoding 'nv12', got 5"),
    ({'data': 12345}, "data of type 'int' is not a byte buffer"),
    ({'data': np.zeros((H, W * 6), np.uint8)[:, ::2]}, 'must be a contiguous array'),
])
def test_malformed_fields_raise(change: dict, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        decode_image(**{**GOOD, **change})


def test_size_limit_and_channel_order_errors() -> None:
    with pytest.raises(ImageDecodeError, match='8x6 pixels exceeds the limit of 47 pixels'):
        decode_image(**GOOD, max_pixels=47)
    with pytest.raises(ImageDecodeError, match="channel_order must be 'rgb' or 'bgr', got 'xyz'"):
        decode_image(**GOOD, channel_order='xyz')
    # 2**31 x 2**31 is refused from the header fields alone, before any buffer check.
    with pytest.raises(ImageDecodeError, match='exceeds the limit'):
        decode_image('rgb8', 2**31, 2**31, 3 * 2**31, 0, b'')
    assert decode_image(**{**GOOD, 'data': list(GOOD['data'])}).shape == (H, W, 3)


def test_preferred_channel_order() -> None:
    assert preferred_channel_order('bgr8', 'rgb') == 'bgr'
    assert preferred_channel_order('rgb8', 'bgr') == 'rgb'
    assert preferred_channel_order('yuv422', 'bgr') == 'bgr'
    assert set(SUPPORTED_ENCODINGS) >= {'rgb8', 'bgr8', 'mono16', 'yuv422', 'bayer_grbg8', 'nv21'}


# --- CompressedImage ----------------------------------------------------------------------------

BGR = np.ascontiguousarray(
    cv2.resize(RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8), (64, 48))
)


def _encoded(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('fmt', ['png', 'bgr8; png compressed bgr8', 'rgb8; png compressed bgr8',
                                 ''])
def test_png_is_lossless_in_both_orders(fmt: str) -> None:
    data = array.array('B', _encoded('.png', BGR))
    np.testing.assert_array_equal(decode_compressed(fmt, data, channel_order='bgr'), BGR)
    np.testing.assert_array_equal(decode_compressed(fmt, data), BGR[..., ::-1])


@pytest.mark.parametrize('fmt', ['jpeg', 'jpg', 'rgb8; jpeg compressed bgr8'])
def test_jpeg_matches_opencv_decode(fmt: str) -> None:
    data = _encoded('.jpg', BGR)
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decode_compressed(fmt, data, channel_order='bgr'), ref)
    np.testing.assert_array_equal(decode_compressed(fmt, data, channel_order='rgb'),
                                  ref[..., ::-1])


def test_grey_alpha_and_16bit_compressed() -> None:
    grey = BGR[..., 1]
    out = decode_compressed('mono8; png compressed ', _encoded('.png', grey))
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))
    bgra = np.concatenate([BGR, np.full(BGR.shape[:2] + (1,), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_compressed('png', _encoded('.png', bgra)), BGR[..., ::-1])
    depth = RNG.integers(0, 65536, (48, 64), dtype=np.uint16)
    out = decode_compressed('16UC1; png compressed mono16', _encoded('.png', depth))
    np.testing.assert_array_equal(out[..., 0], _scale16(depth))


@pytest.mark.parametrize(('fmt', 'data', 'match'), [
    ('16UC1; compressedDepth png', b'\x00' * 20, 'compressedDepth transport\\) is not supported'),
    ('h264', b'\x00' * 20, "names codec 'h264', which is not one of bmp"),
    ('jpeg', b'', "field data is empty \\(format 'jpeg'\\)"),
    ('jpeg', b'\xff\xd8\xff\x00garbage', 'data of 11 bytes cannot be decoded: its jpeg header '
                                         'declares no image size'),
    ('png', b'not an image at all', "data of 19 bytes .* starts with b'not an i', not the bytes "
                                    'of a jpeg or png image'),
    ('png', b'\x89PNG\r\n\x1a\n' + bytes(40), 'data of 48 bytes cannot be decoded: its png'),
    ('jpeg', b'\xff\xd8\xff\xe0\x00\x10JFIF' + bytes(30), 'its jpeg header declares no image'),
    ('x' * 10_000, b'\xff\xd8', r"format 'xxxx+\.\.\. \(10002 characters\) names codec"),
    (7, b'x', 'format must be a string, got 7'),
])
def test_compressed_errors(fmt, data: bytes, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        decode_compressed(fmt, data)


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_compressed_size_limit_is_checked_from_the_header(ext: str) -> None:
    data = bytearray(_encoded(ext, BGR))
    with pytest.raises(ImageDecodeError, match='64x48 pixels exceeds the limit of 100 pixels'):
        decode_compressed('', data, max_pixels=100)
    if ext == '.png':  # A forged 100000 x 100000 header is refused before decoding.
        data[16:24] = (100_000).to_bytes(4, 'big') * 2
        with pytest.raises(ImageDecodeError, match='100000x100000 pixels exceeds the limit'):
            decode_compressed('png', data)


# --- cv_bridge parity where it is installed -----------------------------------------------------


def test_identical_to_cv_bridge() -> None:
    cv_bridge = pytest.importorskip('cv_bridge')
    image_msg = pytest.importorskip('sensor_msgs.msg').Image
    bridge = cv_bridge.CvBridge()
    cases = {
        'rgb8': RGB, 'bgr8': RGB, 'rgba8': np.dstack([RGB, RGB[..., 0]]),
        'bgra8': np.dstack([RGB, RGB[..., 0]]), 'mono8': RGB[..., 0], 'mono16': RGB16[..., 0],
        'rgb16': RGB16, 'bgr16': RGB16, 'yuv422': RGB[..., :2], 'yuv422_yuy2': RGB[..., :2],
        **{f'bayer_{p}8': RGB[..., 0] for p in ('rggb', 'bggr', 'gbrg', 'grbg')},
    }
    for encoding, pixels in cases.items():
        # cv_bridge's Python path derives the row stride as step // pixel size, so its padding
        # must be a whole number of pixels; 12 bytes is for every encoding here.
        raw, step = _pack(pixels, pad=12)
        msg = image_msg(encoding=encoding, height=H, width=W, step=step, is_bigendian=0)
        msg.data = raw
        for order in ('rgb', 'bgr'):
            want = bridge.imgmsg_to_cv2(msg, f'{order}8')
            got = decode_image(encoding, H, W, step, 0, msg.data, channel_order=order)
            np.testing.assert_array_equal(got, want, err_msg=f'{encoding} -> {order}')
