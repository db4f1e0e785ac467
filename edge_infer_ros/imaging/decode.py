"""ROS image message fields to an 8-bit RGB or BGR numpy image, without cv_bridge.

The functions take the plain field values of ``sensor_msgs/Image`` and ``CompressedImage`` so they
run (and are tested) without ROS. Results equal cv_bridge's ``imgmsg_to_cv2(msg, 'rgb8')`` /
``'bgr8'``: the same OpenCV colour conversion codes and, for 16-bit data, the same scaling
(``convertTo`` by 255/65535 after the colour conversion, ``cv_bridge.cpp::toCvCopyImpl``). Where
the message already has the requested layout the result is a read-only view of the message buffer
(row padding from ``step`` included), so the preprocessor reads the DDS buffer directly.

Every malformed field raises :class:`ImageDecodeError` naming the field and its value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_infer_ros.errors import ImageDecodeError, shown
from edge_infer_ros.imaging.image_header import DEFAULT_CODECS, declared_size, sniff_codec

__all__ = [
    'DEFAULT_MAX_PIXELS',
    'SUPPORTED_ENCODINGS',
    'decode_compressed',
    'decode_compressed_reduced',
    'decode_image',
    'image_view',
    'preferred_channel_order',
]

DEFAULT_MAX_PIXELS = 8192 * 8192
"""Largest ``height * width`` accepted by default; guards against absurd or hostile sizes."""

_SCALE_16_TO_8 = 255.0 / 65535.0  # cv_bridge's 16 -> 8 bit factor.


@dataclass(frozen=True)
class _Layout:
    """How one encoding is stored and how OpenCV turns it into RGB and BGR.

    ``channels`` are samples per pixel in the buffer; ``rgb``/``bgr`` are ``cv2.COLOR_*`` codes,
    or ``None`` when the buffer already is that layout.
    """

    channels: int
    depth: int
    rgb: int | None
    bgr: int | None
    planar420: bool = False
    even_width: bool = False


_LAYOUTS: dict[str, _Layout] = {}
for _bits, _depth in ((8, 1), (16, 2)):
    _LAYOUTS.update({
        f'rgb{_bits}': _Layout(3, _depth, None, cv2.COLOR_RGB2BGR),
        f'bgr{_bits}': _Layout(3, _depth, cv2.COLOR_BGR2RGB, None),
        f'rgba{_bits}': _Layout(4, _depth, cv2.COLOR_RGBA2RGB, cv2.COLOR_RGBA2BGR),
        f'bgra{_bits}': _Layout(4, _depth, cv2.COLOR_BGRA2RGB, cv2.COLOR_BGRA2BGR),
        f'mono{_bits}': _Layout(1, _depth, cv2.COLOR_GRAY2RGB, cv2.COLOR_GRAY2BGR),
        # OpenCV names Bayer patterns by the second row; cv_bridge maps them the same way.
        f'bayer_rggb{_bits}': _Layout(1, _depth, cv2.COLOR_BayerBG2RGB, cv2.COLOR_BayerBG2BGR),
        f'bayer_bggr{_bits}': _Layout(1, _depth, cv2.COLOR_BayerRG2RGB, cv2.COLOR_BayerRG2BGR),
        f'bayer_gbrg{_bits}': _Layout(1, _depth, cv2.COLOR_BayerGR2RGB, cv2.COLOR_BayerGR2BGR),
        f'bayer_grbg{_bits}': _Layout(1, _depth, cv2.COLOR_BayerGB2RGB, cv2.COLOR_BayerGB2BGR),
    })
_UYVY = _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY, cv2.COLOR_YUV2BGR_UYVY, even_width=True)
_YUYV = _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2, cv2.COLOR_YUV2BGR_YUY2, even_width=True)
_LAYOUTS.update({
    'yuv422': _UYVY,
    'uyvy': _UYVY,
    'yuv422_yuy2': _YUYV,
    'yuyv': _YUYV,
    'nv12': _Layout(1, 1, cv2.COLOR_YUV2RGB_NV12, cv2.COLOR_YUV2BGR_NV12, True, True),
    'nv21': _Layout(1, 1, cv2.COLOR_YUV2RGB_NV21, cv2.COLOR_YUV2BGR_NV21, True, True),
    # OpenCV type names some drivers publish; channel order follows OpenCV's BGR convention.
    '8uc1': _LAYOUTS['mono8'],
    '8uc3': _LAYOUTS['bgr8'],
    '8uc4': _LAYOUTS['bgra8'],
    '16uc1': _LAYOUTS['mono16'],
})

SUPPORTED_ENCODINGS = tuple(sorted(_LAYOUTS))
"""Encodings :func:`decode_image` accepts (case-insensitive)."""

_CHANNEL_ORDERS = ('rgb', 'bgr')


def _layout(encoding: Any) -> _Layout:
    if not isinstance(encoding, str):
        msg = f'Image field encoding must be a string, got {shown(encoding)}.'
        raise ImageDecodeError(msg)
    layout = _LAYOUTS.get(encoding.strip().lower())
    if layout is None:
        msg = (
            f'Image field encoding {shown(encoding)} is not supported; use one of '
            f'{", ".join(SUPPORTED_ENCODINGS)}.'
        )
        raise ImageDecodeError(msg)
    return layout


def _check_order(channel_order: str) -> None:
    if channel_order not in _CHANNEL_ORDERS:
        msg = f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}."
        raise ImageDecodeError(msg)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        msg = f'Image field {name} must be an integer, got {shown(value)}.'
        raise ImageDecodeError(msg)
    return int(value)


def _check_size(height: int, width: int, max_pixels: int) -> None:
    if height <= 0 or width <= 0:
        msg = f'Image size must be positive, got height {height!r} and width {width!r}.'
        raise ImageDecodeError(msg)
    if height * width > max_pixels:
        msg = (
            f'Image of {width!r}x{height!r} pixels exceeds the limit of {max_pixels!r} pixels.'
        )
        raise ImageDecodeError(msg)


def _byte_buffer(data: Any, field: str = 'data') -> NDArray[Any]:
    """View ``data`` as flat uint8 without copying (lists, which have no buffer, are copied)."""
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous:
            msg = f'Image field {field} must be a contiguous array, got strides {data.strides!r}.'
            raise ImageDecodeError(msg)
        return data.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError) as err:
        if isinstance(data, (list, tuple)):
            try:
                return np.asarray(data, dtype=np.uint8)
            except (OverflowError, ValueError, TypeError):
                pass
        msg = f'Image field {field} of type {type(data).__name__!r} is not a byte buffer.'
        raise ImageDecodeError(msg) from err


def _big_endian(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and int(value) in (0, 1)
    ):
        return bool(value)
    msg = f'Image field is_bigendian must be 0, 1, True or False, got {shown(value)}.'
    raise ImageDecodeError(msg)


def _view(
    encoding: Any,
    height: Any,
    width: Any,
    step: Any,
    is_bigendian: Any,
    data: Any,
    max_pixels: int,
) -> tuple[_Layout, NDArray[Any]]:
    layout = _layout(encoding)
    height = _check_int('height', height)
    width = _check_int('width', width)
    step = _check_int('step', step)
    big = _big_endian(is_bigendian)
    _check_size(height, width, max_pixels)
    for name, value, needed in (
        ('width', width, layout.even_width),
        ('height', height, layout.planar420),
    ):
        if needed and value % 2:
            msg = f'Image field {name} must be even for encoding {shown(encoding)}, got {value!r}.'
            raise ImageDecodeError(msg)
    row_bytes = width * layout.channels * layout.depth
    if step < row_bytes:
        msg = (
            f'Image field step {step!r} is smaller than one row of {width!r} pixels of '
            f'{shown(encoding)} ({row_bytes!r} bytes).'
        )
        raise ImageDecodeError(msg)
    rows = height * 3 // 2 if layout.planar420 else height
    buf = _byte_buffer(data)
    if buf.size != step * rows:
        msg = (
            f'Image field data has {buf.size!r} bytes but step * rows is {step * rows!r} '
            f'(step {step!r}, height {height!r}, encoding {shown(encoding)}).'
        )
        raise ImageDecodeError(msg)
    dtype = np.dtype(np.uint8) if layout.depth == 1 else np.dtype('>u2' if big else '<u2')
    item = dtype.itemsize
    if layout.channels == 1:
        shape: tuple[int, ...] = (rows, width)
        strides: tuple[int, ...] = (step, item)
    else:
        shape = (height, width, layout.channels)
        strides = (step, layout.channels * item, item)
    return layout, np.ndarray(shape, dtype=dtype, buffer=buf, strides=strides)


def image_view(encoding: str, height: int, width: int, step: int, is_bigendian: bool | int,
               data: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[Any]:
    """Validate the fields and return a zero-copy numpy view in the message's own layout.

    Shapes: (H, W) for one channel, (H, W, C) for packed colour, (H, W, 2) for YUV 4:2:2 and
    (3H/2, W) for NV12/NV21. 16-bit encodings get a ``<u2``/``>u2`` dtype per ``is_bigendian``.
    Fields are checked like cv_bridge does (``data`` must be exactly ``step * height`` bytes).

    Raises:
        ImageDecodeError: a field is malformed or inconsistent with the others.
    """
    return _view(encoding, height, width, step, is_bigendian, data, max_pixels)[1]


def decode_image(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool | int,
    data: Any,
    *,
    channel_order: str = 'rgb',
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> NDArray[Any]:
    """Convert ``sensor_msgs/Image`` fields to an (H, W, 3) uint8 image as cv_bridge would.

    Args:
        encoding: ``sensor_msgs/Image.encoding``, see :data:`SUPPORTED_ENCODINGS`.
        height: rows.
        width: columns.
        step: bytes per row, padding included.
        is_bigendian: byte order of 16-bit samples.
        data: bytes, bytearray, memoryview, ``array.array('B')`` or a numpy array.
        channel_order: ``'rgb'`` or ``'bgr'``.
        max_pixels: reject images with more pixels than this.

    Returns:
        The image. When the message already is 8-bit in ``channel_order`` this is a read-only
        view of ``data`` (no copy); copy it before modifying it.

    Raises:
        ImageDecodeError: a field is malformed or the encoding is unsupported.
    """
    _check_order(channel_order)
    layout, view = _view(encoding, height, width, step, is_bigendian, data, max_pixels)
    code = layout.rgb if channel_order == 'rgb' else layout.bgr
    if layout.depth == 1:
        return view if code is None else cv2.cvtColor(view, code)
    native = np.array(view, dtype=np.uint16)  # Byte swap and align for OpenCV.
    if code == cv2.COLOR_GRAY2RGB or code == cv2.COLOR_GRAY2BGR:
        # Scaling first does a third of the work and gives identical values for mono.
        return cv2.cvtColor(cv2.convertScaleAbs(native, alpha=_SCALE_16_TO_8), code)
    converted = native if code is None else cv2.cvtColor(native, code)
    return cv2.convertScaleAbs(converted, alpha=_SCALE_16_TO_8)


def preferred_channel_order(encoding: str, model_order: str) -> str:
    """Return the channel order to request from :func:`decode_image` for the cheapest path.

    ``rgb8``/``bgr8`` messages decode without any copy in their own order, and the preprocessor
    swaps channels for free while it converts to float; every other encoding needs a full-size
    conversion anyway, which might as well produce the model's order.
    """
    key = encoding.strip().lower() if isinstance(encoding, str) else ''
    if key in ('bgr8', '8uc3'):
        return 'bgr'
    if key == 'rgb8':
        return 'rgb'
    return model_order


# --- CompressedImage -------------------------------------------------------------------------

_FORMAT_CODECS = frozenset({
    'jpeg', 'jpg', 'png', 'tiff', 'tif', 'bmp', 'webp', 'jp2', 'pgm', 'ppm', 'pbm', 'pnm',
})


def _codec(fmt: str) -> str:
    """Return the codec named by an image_transport format string ('' when it names none).

    Formats look like ``'jpeg'``, ``'png'``, ``'rgb8; jpeg compressed bgr8'`` or
    ``'16UC1; png compressed mono16'``: the codec is the first word after the ``;`` if any.
    """
    text = fmt.split(';', 1)[1] if ';' in fmt else fmt
    words = text.strip().lower().split()
    return words[0] if words else ''


def _check_format(format: Any) -> None:
    if not isinstance(format, str):
        msg = f'CompressedImage field format must be a string, got {shown(format)}.'
        raise ImageDecodeError(msg)
    if 'compresseddepth' in format.lower():
        msg = (
            f'CompressedImage format {shown(format)} (compressedDepth transport) is not '
            'supported; subscribe to the compressed or raw transport.'
        )
        raise ImageDecodeError(msg)
    codec = _codec(format)
    if codec and codec not in _FORMAT_CODECS:
        msg = (
            f'CompressedImage format {shown(format)} names codec {shown(codec)}, which is not one '
            f'of {", ".join(sorted(_FORMAT_CODECS))}.'
        )
        raise ImageDecodeError(msg)


def _accepted_codec(format: str, buf: NDArray[Any], codecs: Collection[str]) -> str:
    """The codec of ``buf`` by its magic bytes, if it is one of ``codecs``."""
    codec = sniff_codec(buf)
    if codec is None:
        msg = (
            f'CompressedImage data of {buf.size!r} bytes (format {shown(format)}) is no image '
            f'this node decodes: it starts with {shown(buf[:8].tobytes())}, not the bytes of a '
            f'{" or ".join(codecs)} image.'
        )
        raise ImageDecodeError(msg)
    if codec not in codecs:
        msg = (
            f'CompressedImage data of {buf.size!r} bytes is a {codec} image (format '
            f'{shown(format)}); only {", ".join(codecs)} images are decoded: add {codec!r} to the '
            'parameter compressed_codecs to accept it.'
        )
        raise ImageDecodeError(msg)
    return codec


def decode_compressed(format: str, data: Any, *, channel_order: str = 'rgb',
                      max_pixels: int = DEFAULT_MAX_PIXELS,
                      codecs: Collection[str] = DEFAULT_CODECS) -> NDArray[Any]:
    """Decode ``sensor_msgs/CompressedImage`` fields to an (H, W, 3) uint8 image.

    The codec is recognised from the data's magic bytes (never from ``format``, which OpenCV
    ignores anyway) and must be one of ``codecs``; the size its header declares is checked
    against ``max_pixels`` before anything is decoded (see ``image_header``). Decodes with
    ``cv2.IMREAD_UNCHANGED`` like cv_bridge (no EXIF rotation), then converts grey, BGR or BGRA
    to ``channel_order``; 16-bit PNGs are scaled by 255/65535. ``'bgr'`` is the cheaper order
    (it is what the codecs produce).

    Raises:
        ImageDecodeError: unsupported format (e.g. ``compressedDepth``), a codec not in
            ``codecs``, undecodable or oversized data.
    """
    return decode_compressed_reduced(format, data, channel_order=channel_order,
                                     max_pixels=max_pixels, codecs=codecs)[0]


MinSize = Callable[[int, int], tuple[int, int]]
"""Maps an encoded image's (width, height) to the smallest decode the caller can use."""

_REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2 | cv2.IMREAD_IGNORE_ORIENTATION,
    4: cv2.IMREAD_REDUCED_COLOR_4 | cv2.IMREAD_IGNORE_ORIENTATION,
    8: cv2.IMREAD_REDUCED_COLOR_8 | cv2.IMREAD_IGNORE_ORIENTATION,
}


def _jpeg_reduction(size: tuple[int, int], min_size: MinSize | None) -> int:
    """Largest libjpeg scale-down (8, 4, 2 or 1) whose output is still at least ``min_size``.

    libjpeg's scaled decoding skips most of the inverse DCT work and yields ``ceil(size / r)``
    pixels; the image is only ever downscaled afterwards, so the model sees the same detail.
    """
    if min_size is None:
        return 1
    need = min_size(*size)
    for factor in (8, 4, 2):
        if all(-(-dim // factor) >= n for dim, n in zip(size, need, strict=True)):
            return factor
    return 1


def decode_compressed_reduced(
    format: str,
    data: Any,
    *,
    channel_order: str = 'rgb',
    max_pixels: int = DEFAULT_MAX_PIXELS,
    codecs: Collection[str] = DEFAULT_CODECS,
    min_size: MinSize | None = None,
) -> tuple[NDArray[Any], tuple[int, int]]:
    """Decode like :func:`decode_compressed`, a JPEG no larger than ``min_size`` needs.

    Args:
        format: ``CompressedImage.format``.
        data: ``CompressedImage.data``.
        channel_order: ``'rgb'`` or ``'bgr'``.
        max_pixels: reject images with more pixels than this.
        codecs: the codecs accepted (recognised from the bytes).
        min_size: given the encoded (width, height), the (width, height) the caller needs at
            least (the letterboxed size inside the model input); a larger JPEG is decoded at
            1/2, 1/4 or 1/8 scale by libjpeg itself, never below it. ``None``: full size.

    Returns:
        The image and the (width, height) of the image as encoded, which boxes refer to.

    Raises:
        ImageDecodeError: see :func:`decode_compressed`.
    """
    _check_order(channel_order)
    _check_format(format)
    buf = _byte_buffer(data)
    if buf.size == 0:
        msg = f'CompressedImage field data is empty (format {shown(format)}).'
        raise ImageDecodeError(msg)
    codec = _accepted_codec(format, buf, codecs)
    width, height = declared_size(codec, buf)
    _check_size(height, width, max_pixels)
    factor = _jpeg_reduction((width, height), min_size) if codec == 'jpeg' else 1
    msg = (f'CompressedImage data of {buf.size!r} bytes (format {shown(format)}) cannot be '
           'decoded.')
    try:
        image = cv2.imdecode(buf, _REDUCED_FLAGS.get(factor, cv2.IMREAD_UNCHANGED))
    except cv2.error as err:
        raise ImageDecodeError(msg) from err
    if image is None or image.size == 0:
        raise ImageDecodeError(msg)
    _check_size(image.shape[0], image.shape[1], max_pixels)
    source = (image.shape[1], image.shape[0]) if factor == 1 else (width, height)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype not in (np.uint8, np.uint16) or channels not in (1, 3, 4):
        msg = (
            f'CompressedImage decoded to {channels!r} channels of {image.dtype.name!r}; only '
            'uint8 or uint16 grey, BGR or BGRA images are supported.'
        )
        raise ImageDecodeError(msg)
    codes = {
        1: (cv2.COLOR_GRAY2RGB, cv2.COLOR_GRAY2BGR),
        3: (cv2.COLOR_BGR2RGB, None),
        4: (cv2.COLOR_BGRA2RGB, cv2.COLOR_BGRA2BGR),
    }[channels]
    code = codes[0] if channel_order == 'rgb' else codes[1]
    if code is not None:
        image = cv2.cvtColor(image, code)
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=_SCALE_16_TO_8)
    return image, source
