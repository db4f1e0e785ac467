"""Serialized ``sensor_msgs/Image`` and ``CompressedImage`` (CDR) to fields, without deserializing.

A subscription taken with ``raw=True`` hands over the message as the middleware received it: the
CDR encapsulation header, then the fields in order, each aligned to its own size relative to the
end of that header. Deserializing a 1920x1080 ``bgr8`` image into a Python message costs 1.4 to
2.9 ms on a loaded 2-core machine (``../shared/NOTES.md``) and copies the 6 MB pixel buffer once
more; reading the handful of scalar fields here takes microseconds, and ``data`` becomes a numpy
view of the received bytes, so the pixels are never copied before the letterbox reads them.

The returned objects carry the message's field names (``header.stamp.sec``, ``encoding``,
``step``, ``data``...), so :class:`~edge_infer_ros.pipeline.DetectionPipeline` reads them exactly
like rclpy or rosbags messages. Every malformed buffer raises :class:`ImageDecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.errors import ImageDecodeError

__all__ = ['CdrHeader', 'CdrStamp', 'CompressedFields', 'ImageFields', 'parse_compressed',
           'parse_image']

_ENCAPSULATION = {0: '>', 1: '<'}  # CDR_BE, CDR_LE (the XCDR1 encodings ROS 2 middlewares use)
_MAX_STRING = 1 << 16  # frame_id, encoding and format are short; a longer one is corruption


@dataclass(frozen=True)
class CdrStamp:
    """``builtin_interfaces/Time`` as read from the buffer."""

    sec: int
    nanosec: int


@dataclass(frozen=True)
class CdrHeader:
    """``std_msgs/Header`` as read from the buffer."""

    stamp: CdrStamp
    frame_id: str


@dataclass(frozen=True)
class ImageFields:
    """The fields of one ``sensor_msgs/Image``; ``data`` views the serialized buffer."""

    header: CdrHeader
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: NDArray[np.uint8]


@dataclass(frozen=True)
class CompressedFields:
    """The fields of one ``sensor_msgs/CompressedImage``; ``data`` views the serialized buffer."""

    header: CdrHeader
    format: str
    data: NDArray[np.uint8]


class _Reader:
    """Walks a CDR buffer field by field; offsets are relative to the encapsulation header."""

    def __init__(self, buf: Any, what: str) -> None:
        try:
            self.view = memoryview(buf).cast('B')
        except TypeError as err:
            msg = f'serialized {what} of type {type(buf).__name__!r} is not a byte buffer.'
            raise ImageDecodeError(msg) from err
        self.what = what
        if len(self.view) < 4 or self.view[0] != 0 or self.view[1] not in _ENCAPSULATION:
            head = bytes(self.view[:4]).hex()
            msg = f'serialized {what} does not start with a CDR encapsulation header ({head!r}).'
            raise ImageDecodeError(msg)
        self.order = _ENCAPSULATION[self.view[1]]
        self.pos = 4

    def _need(self, size: int, field: str) -> None:
        if self.pos + size > len(self.view):
            msg = (f'serialized {self.what} ends inside field {field} '
                   f'({len(self.view)!r} bytes, needed {self.pos + size!r}).')
            raise ImageDecodeError(msg)

    def u32(self, field: str) -> int:
        self.pos += -(self.pos - 4) % 4
        self._need(4, field)
        value: int = struct.unpack_from(f'{self.order}I', self.view, self.pos)[0]
        self.pos += 4
        return value

    def i32(self, field: str) -> int:
        value = self.u32(field)
        return value - (1 << 32) if value >= 1 << 31 else value

    def u8(self, field: str) -> int:
        self._need(1, field)
        value = int(self.view[self.pos])
        self.pos += 1
        return value

    def string(self, field: str) -> str:
        length = self.u32(field)
        if length == 0:  # Some writers omit the terminator of an empty string.
            return ''
        if length > _MAX_STRING:
            msg = f'serialized {self.what} field {field} claims {length!r} bytes.'
            raise ImageDecodeError(msg)
        self._need(length, field)
        raw = bytes(self.view[self.pos:self.pos + length]).rstrip(b'\0')
        self.pos += length
        return raw.decode('utf-8', errors='replace')

    def octets(self, field: str) -> NDArray[np.uint8]:
        length = self.u32(field)
        self._need(length, field)
        start = self.pos
        self.pos += length
        return np.frombuffer(self.view, dtype=np.uint8, count=length, offset=start)

    def header(self) -> CdrHeader:
        sec = self.i32('header.stamp.sec')
        nanosec = self.u32('header.stamp.nanosec')
        return CdrHeader(CdrStamp(sec, nanosec), self.string('header.frame_id'))


def parse_image(buf: Any) -> ImageFields:
    """Read a serialized ``sensor_msgs/Image``; ``data`` is a zero-copy view of ``buf``.

    Raises:
        ImageDecodeError: ``buf`` is not a well-formed serialized Image.
    """
    r = _Reader(buf, 'Image')
    header = r.header()
    height = r.u32('height')
    width = r.u32('width')
    encoding = r.string('encoding')
    is_bigendian = r.u8('is_bigendian')
    step = r.u32('step')
    return ImageFields(header, height, width, encoding, is_bigendian, step, r.octets('data'))


def parse_compressed(buf: Any) -> CompressedFields:
    """Read a serialized ``sensor_msgs/CompressedImage``, ``data`` viewed in place (see above)."""
    r = _Reader(buf, 'CompressedImage')
    return CompressedFields(r.header(), r.string('format'), r.octets('data'))
