"""Serialized Image/CompressedImage read in place decode exactly like the deserialized message."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from edge_infer_ros.errors import ImageDecodeError
from edge_infer_ros.imaging.cdr import parse_compressed, parse_image
from edge_infer_ros.imaging.decode import (
    SUPPORTED_ENCODINGS,
    decode_compressed,
    decode_image,
)

pytestmark = pytest.mark.ros

H, W = 6, 10


def _image(encoding: str, pad: int, big: int, frame_id: str, rng: np.random.Generator) -> object:
    from sensor_msgs.msg import Image

    channels = {'mono': 1, 'baye': 1, 'nv12': 1, 'nv21': 1, 'yuv4': 2, 'uyvy': 2, 'yuyv': 2,
                '8uc1': 1, '16uc': 1, '8uc3': 3, '8uc4': 4}.get(encoding[:4])
    if channels is None:
        channels = 4 if encoding.startswith(('rgba', 'bgra')) else 3
    depth = 2 if '16' in encoding else 1
    rows = H * 3 // 2 if encoding in ('nv12', 'nv21') else H
    step = W * channels * depth + pad
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=big, step=step)
    msg.header.stamp.sec, msg.header.stamp.nanosec = -3, 999_999_999
    msg.header.frame_id = frame_id
    msg.data = rng.integers(0, 256, step * rows, np.uint8).tobytes()
    return msg


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
@pytest.mark.parametrize(('pad', 'big', 'frame_id'), [(0, 0, ''), (3, 1, 'c'), (5, 0, 'cam_ab')])
def test_every_encoding_decodes_bit_identically_from_the_serialized_message(
        encoding: str, pad: int, big: int, frame_id: str) -> None:
    from rclpy.serialization import serialize_message

    msg = _image(encoding, pad, big, frame_id, np.random.default_rng(len(encoding) + pad))
    fields = parse_image(serialize_message(msg))
    assert (fields.header.stamp.sec, fields.header.stamp.nanosec) == (-3, 999_999_999)
    assert fields.header.frame_id == frame_id
    assert (fields.height, fields.width, fields.step) == (msg.height, msg.width, msg.step)
    assert (fields.encoding, fields.is_bigendian) == (encoding, big)
    for order in ('rgb', 'bgr'):
        want = decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                            msg.data, channel_order=order)
        got = decode_image(fields.encoding, fields.height, fields.width, fields.step,
                           fields.is_bigendian, fields.data, channel_order=order)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def test_pixels_are_a_view_of_the_received_bytes() -> None:
    from rclpy.serialization import serialize_message

    buf = serialize_message(_image('bgr8', 4, 0, 'x', np.random.default_rng(0)))
    fields = parse_image(buf)
    assert np.shares_memory(fields.data, np.frombuffer(buf, np.uint8))
    view = decode_image(fields.encoding, fields.height, fields.width, fields.step, 0,
                        fields.data, channel_order='bgr')
    assert np.shares_memory(view, np.frombuffer(buf, np.uint8))


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_compressed_fields_decode_like_the_message(ext: str) -> None:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CompressedImage

    image = np.random.default_rng(1).integers(0, 256, (40, 60, 3), np.uint8)
    msg = CompressedImage(format=f'bgr8; {ext[1:]} compressed bgr8')
    msg.header.stamp.sec = 12
    msg.header.frame_id = 'front'
    msg.data = cv2.imencode(ext, image)[1].tobytes()
    fields = parse_compressed(serialize_message(msg))
    assert fields.format == msg.format and fields.header.frame_id == 'front'
    assert fields.header.stamp.sec == 12
    want = decode_compressed(msg.format, msg.data, channel_order='rgb')
    assert np.array_equal(decode_compressed(fields.format, fields.data, channel_order='rgb'), want)


def test_big_endian_cdr_is_read_too() -> None:
    payload = bytearray(b'\x00\x00\x00\x00')  # CDR_BE encapsulation
    payload += struct.pack('>iI', 4, 5) + struct.pack('>I', 2) + b'a\x00' + b'\x00\x00'
    payload += struct.pack('>II', 1, 2) + struct.pack('>I', 6) + b'mono8\x00'
    payload += b'\x01' + b'\x00' + struct.pack('>I', 2) + struct.pack('>I', 2) + b'\x07\x09'
    fields = parse_image(bytes(payload))
    assert (fields.header.stamp.sec, fields.header.stamp.nanosec) == (4, 5)
    assert (fields.height, fields.width, fields.encoding) == (1, 2, 'mono8')
    assert fields.is_bigendian == 1
    assert fields.data.tolist() == [7, 9]


def test_truncated_or_foreign_buffers_raise_image_decode_error_only() -> None:
    from rclpy.serialization import serialize_message

    buf = serialize_message(_image('mono8', 1, 0, 'cam', np.random.default_rng(2)))
    for end in range(len(buf) - 1):
        with pytest.raises(ImageDecodeError):
            parse_image(buf[:end])
    for bad, match in ((b'\x89PNG\r\n\x1a\n', 'CDR encapsulation'), (12, 'not a byte buffer'),
                       (b'\x00\x01\x00\x00' + b'\xff' * 12, 'claims')):
        with pytest.raises(ImageDecodeError, match=match):
            parse_image(bad)
    with pytest.raises(ImageDecodeError, match='ends inside field data'):
        parse_compressed(b'\x00\x01\x00\x00' + bytes(16) + b'\xff\x00\x00\x00')
